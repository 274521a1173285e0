"""``srft convert``: detection, predictions files, --from, --jobs, --on-error, appending, bad input."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pytest
import yaml
import zstandard

from srft_format.converters import conversion, scheduler
from srft_format.converters.base import SourceRecord
from srft_format.converters.pipeline import ERROR_REPORT, convert_paths
from srft_format.converters.reader import InputFile, iter_records, split_json_lines
from srft_format.dataset import Dataset
from srft_format.errors import SrftError
from srft_format.check import find_problems
from srft_format.models import Manifest

from convert_helpers import corpus_file

FIXTURES = Path(__file__).parent / "fixtures"
PANDAS_RUN = "pandas.95280573.pr_53856.traj"


def ids(dataset: Path) -> list[str]:
    return [t.id for t in Dataset.open(dataset).trajectories()]


def assert_valid(dataset: Path) -> None:
    """What ``srft validate DATASET`` checks: schema, references, ids, manifest."""
    assert find_problems(dataset) == []


def test_whole_corpus_converts_and_validates(corpus_dataset: Path, corpus: Path) -> None:
    assert_valid(corpus_dataset)
    manifest = Dataset.open(corpus_dataset).manifest
    formats = {s.format for s in manifest.sources}
    assert {"swe-agent", "swe-smith", "mini-swe-agent"} <= formats
    # every trajectory file of the corpus gave at least one trajectory (a folder of OpenHands completion logs
    # one); predictions files and evaluation outputs none
    sources = {t.provenance.source_file for t in Dataset.open(corpus_dataset).trajectories()}
    suffixes = (".traj", ".json", ".jsonl", ".yaml")
    files = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.suffix in suffixes}
    logs = {f for f in files if "/v0.15-llm_completions/astropy__astropy-13033/" in f}
    assert len(logs) == 11 and "openhands/v0.15-llm_completions/astropy__astropy-13033" in sources
    unconverted = sorted(files - logs - sources)
    assert len(unconverted) == 5
    assert unconverted[0].startswith("openhands/") and unconverted[0].endswith("example_model_output.json")
    assert unconverted[1].startswith("swe-agent/") and unconverted[1].endswith("all_preds.jsonl")
    assert all(name.startswith("swe-smith/run_evaluation/") for name in unconverted[2:])


def test_the_summary_says_what_was_chosen_and_why(corpus: Path, tmp_path: Path, srft) -> None:
    run = srft("convert", str(corpus / "swe-agent"), "-o", str(tmp_path / "ds"), "-v")
    assert run.code == 0, run.stderr
    assert "swe-agent 0.x: 2 file(s), 2 trajectories (steps carry 'state' as a JSON string" in run.stderr
    assert "swe-agent demonstration: 2 file(s)" in run.stderr
    assert "all_preds.jsonl: skipped (this is a predictions file" in run.stderr
    assert "use it with --eval" in run.stderr
    assert "10 file(s), 9 trajectories, 76 steps added" in run.stderr


def test_a_predictions_file_alone_is_explained(corpus: Path, tmp_path: Path, srft) -> None:
    preds = corpus_file(corpus, "swe-agent", "all_preds.jsonl")
    run = srft("convert", str(preds), "-o", str(tmp_path / "ds"))
    assert run.code == 1
    assert "nothing converted" in run.stderr and not (tmp_path / "ds").exists()
    assert "all_preds.jsonl: this is a predictions file" in run.stderr
    summary = run.stderr.splitlines()
    assert len(summary) == 1 and summary[0].startswith("error:")


def test_a_run_directory_converts_trajectories_and_explains_the_rest(corpus: Path, tmp_path: Path) -> None:
    """The layout ``sweagent run-batch`` writes; this trajectory records no patch, its .pred file has one."""
    run, instance = tmp_path / "run", "simpy__simpy-1"
    (run / instance).mkdir(parents=True)
    shutil.copy(corpus_file(corpus, "swe-agent", "97af1e.traj"), run / instance / f"{instance}.traj")
    prediction = {"model_name_or_path": "run", "instance_id": instance, "model_patch": "diff --git a/x b/x\n"}
    write(run / instance / f"{instance}.pred", orjson.dumps(prediction))
    write(run / "preds.json", orjson.dumps({instance: prediction}))
    config = {"agent": {"model": {"name": "gpt-4o"}}, "problem_statement": {"id": instance}}
    (run / instance / f"{instance}.config.yaml").write_text(yaml.safe_dump(config))
    statuses = {"instances_by_exit_status": {"submitted": [instance]}}
    (run / "run_batch_exit_statuses.yaml").write_text(yaml.safe_dump(statuses))
    summary = convert_paths([str(run)], tmp_path / "ds")
    (traj,) = Dataset.open(tmp_path / "ds").trajectories()
    assert traj.task.instance_id == instance
    assert traj.outcome.patch == "diff --git a/x b/x\n"
    assert traj.outcome.extra["patch_from"] == "predictions file"
    reasons = dict(summary.refused)
    assert set(reasons) == {"preds.json", f"{instance}/{instance}.pred", f"{instance}/{instance}.config.yaml",
                            "run_batch_exit_statuses.yaml"}
    assert reasons["preds.json"].startswith("this is a predictions file")
    assert reasons[f"{instance}/{instance}.config.yaml"].startswith("this is a run configuration")
    assert reasons["run_batch_exit_statuses.yaml"].startswith("this is a batch run's exit-status summary")


def test_eval_joins_resolved(corpus: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    instance = "pandas-dev__pandas.95280573.pr_53856"
    report.write_bytes(orjson.dumps({instance: {"resolved": True, "patch_exists": True, "tests_status": {
        "FAIL_TO_PASS": {"success": ["test_sql_date"], "failure": []}}}}))
    run = corpus_file(corpus, "swe-smith", PANDAS_RUN)
    convert_paths([str(run)], tmp_path / "ds", eval_paths=[str(report)])
    (traj,) = Dataset.open(tmp_path / "ds").trajectories()
    assert traj.outcome.resolved is True
    assert traj.outcome.evaluation.fail_to_pass == ["test_sql_date"]


def test_from_overrides_detection(corpus: Path, tmp_path: Path, srft) -> None:
    traj = corpus_file(corpus, "swe-agent", "networking_1.traj")
    run = srft("convert", str(traj), "--from", "mini-swe-agent", "-o", str(tmp_path / "ds"))
    assert run.code == 1
    assert "networking_1.traj" in run.stderr and "not a mini-swe-agent record" in run.stderr
    assert srft("convert", str(traj), "--from", "swe_agent", "-o", str(tmp_path / "ok")).code == 0
    bad = srft("convert", str(traj), "--from", "nope", "-o", str(tmp_path / "x"))
    assert bad.code == 1 and "unknown source format 'nope'" in bad.stderr


def test_list_shows_formats_and_versions(srft) -> None:
    run = srft("convert", "--list")
    assert run.code == 0
    for name in ("swe-agent", "mini-swe-agent", "swe-smith", "nebius-swe-agent", "openhands", "swe-gym"):
        assert name in run.stdout
    assert "1.1+" in run.stdout


def test_jobs_keep_the_input_order_and_ids_are_stable(corpus: Path, tmp_path: Path) -> None:
    inputs = [str(corpus / "swe-agent"), str(corpus / "swe-smith"), str(corpus / "mini-swe-agent")]
    convert_paths(inputs, tmp_path / "one")
    convert_paths(inputs, tmp_path / "two", jobs=2)
    assert ids(tmp_path / "one") == ids(tmp_path / "two")
    assert len(ids(tmp_path / "one")) == 18


def test_workers_write_parts_in_input_order_and_dedup_across_them(corpus: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "BATCH_BYTES", 1)  # a part file per input file, and per line of JSON Lines
    inputs = tmp_path / "in"
    shutil.copytree(corpus / "swe-smith", inputs)
    shutil.copy(corpus_file(corpus, "swe-smith", PANDAS_RUN), inputs / "zz-same-run-again.traj")
    serial = convert_paths([str(inputs)], tmp_path / "one")
    parallel = convert_paths([str(inputs)], tmp_path / "two", jobs=2)
    assert ids(tmp_path / "one") == ids(tmp_path / "two")
    assert (parallel.trajectories, parallel.duplicates) == (serial.trajectories, serial.duplicates) == (8, 1)
    assert len(Dataset.open(tmp_path / "two").files("trajectories")) == 8  # the duplicate's part is dropped
    assert_valid(tmp_path / "two")
    again = convert_paths([str(inputs), str(corpus / "mini-swe-agent")], tmp_path / "two", jobs=2)
    assert (again.trajectories, again.duplicates) == (1, 9)
    assert len(ids(tmp_path / "two")) == 9 == Dataset.open(tmp_path / "two").manifest.counts.trajectories
    assert_valid(tmp_path / "two")
    before = (tmp_path / "two" / "manifest.json").read_bytes()
    truncated, _ = bad_inputs(corpus, tmp_path)["truncated"]
    with pytest.raises(SrftError, match="truncated JSON"):
        convert_paths([str(corpus / "swe-agent"), str(truncated)], tmp_path / "two", jobs=2)
    assert (tmp_path / "two" / "manifest.json").read_bytes() == before
    listed = {f.name for f in Dataset.open(tmp_path / "two").files("trajectories")}
    assert {p.name for p in (tmp_path / "two" / "trajectories").iterdir()} == listed


def test_append_dedups_by_trajectory_id(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    first = convert_paths([str(corpus / "swe-smith")], out)
    assert (first.trajectories, first.duplicates) == (8, 0)
    sources = {(s.format, s.version): (s.files, s.trajectories) for s in Dataset.open(out).manifest.sources}
    again = convert_paths([str(corpus / "swe-smith"), str(corpus / "mini-swe-agent")], out)
    assert (again.trajectories, again.duplicates) == (1, 8)
    assert len(ids(out)) == 9 and Dataset.open(out).manifest.counts.trajectories == 9
    # the manifest's sources count what was added: the re-read SWE-smith files add nothing
    after = {(s.format, s.version): (s.files, s.trajectories) for s in Dataset.open(out).manifest.sources}
    assert after == {**sources, ("mini-swe-agent", "2.x"): (1, 1)}
    assert sum(t for _, t in after.values()) == 9


def test_jobs_count_sources_as_added(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    convert_paths([str(corpus / "swe-smith")], out, jobs=2)
    convert_paths([str(corpus / "swe-smith"), str(corpus / "mini-swe-agent")], out, jobs=2)
    manifest = Dataset.open(out).manifest
    assert sum(s.trajectories for s in manifest.sources) == manifest.counts.trajectories == 9


def test_compressed_stdin_and_glob_inputs_give_the_same_ids(corpus: Path, tmp_path: Path, srft) -> None:
    source = corpus_file(corpus, "swe-smith", PANDAS_RUN)
    (tmp_path / "run.traj.gz").write_bytes(gzip.compress(source.read_bytes()))
    (tmp_path / "run.traj.zst").write_bytes(zstandard.ZstdCompressor().compress(source.read_bytes()))
    convert_paths([str(source)], tmp_path / "plain")
    convert_paths([str(tmp_path / "run.traj.gz")], tmp_path / "gz")
    convert_paths([str(tmp_path / "*.zst")], tmp_path / "zst")
    run = srft("convert", "-", "-o", str(tmp_path / "stdin"), input=source.read_text())
    assert run.code == 0, run.stderr
    assert ids(tmp_path / "plain") == ids(tmp_path / "gz") == ids(tmp_path / "zst") == ids(tmp_path / "stdin")


# ----------------------------------------------------------------------------------------- bad input


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def bad_inputs(corpus: Path, root: Path) -> dict[str, tuple[Path, str]]:
    """Bad files next to what the error must say about them."""
    run = corpus_file(corpus, "swe-agent", "networking_1.traj").read_bytes()
    no_trajectory = {k: v for k, v in orjson.loads(run).items() if k != "trajectory"}
    wrong_type = {**orjson.loads(run), "trajectory": "ls -F"}
    sft_line = corpus_file(corpus, "swe-smith", "ft_xml_example.jsonl").read_bytes().splitlines()[2]
    return {
        "truncated": (write(root / "truncated.traj", run[: len(run) // 2]), "truncated JSON"),
        "other format": (write(root / "notes.json", b'{"title": "meeting notes", "items": [1, 2]}'),
                         "not a recognised trajectory format (an object with keys items, title)"),
        "no trajectory": (write(root / "broken.traj", orjson.dumps(no_trajectory)),
                          "trajectory: required field is missing"),
        "wrong type": (write(root / "wrong.traj", orjson.dumps(wrong_type)),
                       "trajectory: expected a list, got str"),
        "bad utf-8": (write(root / "bad.jsonl", sft_line + b"\n" + sft_line.replace(b"pydantic", b"pyd\xff")),
                      "bad.jsonl:2: not valid UTF-8"),
    }


@pytest.mark.parametrize("case", ["truncated", "other format", "no trajectory", "wrong type", "bad utf-8"])
def test_bad_input_is_one_clear_line(corpus: Path, tmp_path: Path, srft, case: str) -> None:
    path, expected = bad_inputs(corpus, tmp_path)[case]
    run = srft("convert", str(path), "-o", str(tmp_path / "ds"))
    assert run.code == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"error: {path.name}") and expected in lines[0], lines[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "ds").exists()  # no partial dataset


def test_on_error_skip_reports_and_converts_the_rest(corpus: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    cases = bad_inputs(corpus, inputs)
    shutil.copy(corpus_file(corpus, "swe-agent", "networking_1.traj"), inputs / "good.traj")
    summary = convert_paths([str(inputs)], tmp_path / "ds", on_error="skip")
    assert summary.trajectories == 2  # good.traj and the good line of bad.jsonl
    report = [orjson.loads(line) for line in (tmp_path / "ds" / ERROR_REPORT).read_bytes().splitlines()]
    assert sorted(r["file"] for r in report) == sorted(p.name for p, _ in cases.values())
    assert next(r for r in report if r["file"] == "bad.jsonl")["line"] == 2
    assert_valid(tmp_path / "ds")


def test_a_failure_leaves_an_existing_dataset_untouched(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    convert_paths([str(corpus / "mini-swe-agent")], out)
    before = (out / "manifest.json").read_bytes()
    truncated, _ = bad_inputs(corpus, tmp_path)["truncated"]
    with pytest.raises(SrftError, match="truncated JSON"):
        convert_paths([str(corpus / "swe-smith"), str(truncated)], out)
    assert (out / "manifest.json").read_bytes() == before
    assert len(ids(out)) == 1
    assert Manifest.model_validate_json(before).counts.trajectories == 1


@pytest.mark.slow
def test_a_100_mb_observation_converts(tmp_path: Path) -> None:
    run = orjson.loads((FIXTURES / "swe_agent" / "example__lines-1.traj").read_bytes())
    huge = "0123456789abcdef\n" * (100 * 2**20 // 17)
    run["trajectory"][0]["observation"] = huge
    run["history"][3]["content"] = [{"type": "text", "text": "OBSERVATION:\n" + huge}]
    source = write(tmp_path / "huge.traj", orjson.dumps(run))
    del run, huge
    summary = convert_paths([str(source)], tmp_path / "ds", storage="jsonl")
    assert summary.trajectories == 1
    (traj,) = Dataset.open(tmp_path / "ds").trajectories()
    assert len(traj.messages[3].content[0].text) > 100 * 10**6


def test_the_bundled_examples_convert(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parent.parent / "examples" / "sources"
    convert_paths([str(examples)], tmp_path / "ds")
    assert_valid(tmp_path / "ds")
    formats = {s.format for s in Dataset.open(tmp_path / "ds").manifest.sources}
    assert {"swe-agent", "mini-swe-agent", "swe-smith", "nebius-swe-agent"} <= formats


@pytest.mark.parametrize("spec, expected", [("missing.traj", "no such file or directory"),
                                            ("*.nothing", "the pattern matches no files"),
                                            ("empty", "no source files")])
def test_inputs_that_name_nothing_are_refused(tmp_path: Path, spec: str, expected: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a source file")
    with pytest.raises(SrftError, match=expected):
        convert_paths([str(tmp_path / spec)], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_a_json_list_of_records_is_split_and_located(corpus: Path, tmp_path: Path) -> None:
    lines = corpus_file(corpus, "swe-smith", "run_evaluation.xml.jsonl").read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines[:2]]
    listing = write(tmp_path / "records.json", orjson.dumps([records[0], {"not": "a record"}, records[1]]))
    with pytest.raises(SrftError, match=r"records.json: \[1\]: not a recognised trajectory format"):
        convert_paths([str(listing)], tmp_path / "ds")
    write(listing, orjson.dumps(records))
    convert_paths([str(listing)], tmp_path / "ds")
    assert [t.provenance.record_offset for t in Dataset.open(tmp_path / "ds").trajectories()] == [0, 1]


@pytest.mark.parametrize("data, reason", [
    ({"agent_class": "CodeActAgent", "llm_config": {"model": "gpt-4o"}}, "run configuration"),
    ({"resolved_ids": ["a__b-1"], "unresolved_ids": [], "schema_version": 2}, "evaluation output"),
    ({"a__b-1": {"resolved": True, "tests_status": {}}}, "evaluation output"),
    ({"instances_by_exit_status": {"Submitted": ["a__b-1"]}}, "exit-status summary"),
])
def test_other_run_files_are_explained(data: dict, reason: str) -> None:
    record = SourceRecord(raw=orjson.dumps(data), data=data, file="x.json", offset=0)
    with pytest.raises(conversion.Refused, match=reason):
        conversion.choose_converter(record)


def _smith_lines(corpus: Path) -> list[bytes]:
    data = corpus_file(corpus, "swe-smith", "ft_xml_example.jsonl").read_bytes()
    return [line for line in data.splitlines() if line.strip()]


@pytest.mark.parametrize("jobs", [1, 2])
def test_json_lines_are_streamed_with_their_exact_bytes(corpus: Path, tmp_path: Path, jobs: int) -> None:
    """BOM, CRLF and blank lines do not change a record's bytes, so its id, record number and line stay."""
    lines = _smith_lines(corpus)
    plain = write(tmp_path / "in" / "plain.jsonl", b"\n".join(lines) + b"\n")
    messy = write(tmp_path / "in2" / "messy.jsonl",
                  b"\xef\xbb\xbf" + lines[0] + b"\r\n \t\r\n\n" + lines[1] + b"\r\n" + lines[2])
    other = write(tmp_path / "in2" / "other.traj", corpus_file(corpus, "swe-agent", "networking_1.traj").read_bytes())
    convert_paths([str(plain)], tmp_path / "a", storage="jsonl")
    convert_paths([str(messy), str(other)], tmp_path / "b", storage="jsonl", jobs=jobs)
    a = list(Dataset.open(tmp_path / "a").trajectories())
    b = [t for t in Dataset.open(tmp_path / "b").trajectories() if t.provenance.source_file == "messy.jsonl"]
    assert [t.id for t in a] == [t.id for t in b]
    assert [t.provenance.record_offset for t in b] == [0, 1, 2]
    assert [t.provenance.record_sha256 for t in a] == [t.provenance.record_sha256 for t in b]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_record_after_trajectories_is_an_error_of_its_own(corpus: Path, tmp_path: Path, jobs: int) -> None:
    """A file is refused whole only when its first record is a run file; later, trajectories already
    converted stay and the run record is reported where it is."""
    prediction = orjson.dumps({"instance_id": "x__y-1", "model_patch": "diff", "model_name_or_path": "m"})
    lines = _smith_lines(corpus)
    mixed = write(tmp_path / "in" / "mixed.jsonl", b"\n".join([lines[0], prediction, lines[1]]) + b"\n")
    other = write(tmp_path / "in" / "other.traj", corpus_file(corpus, "swe-agent", "networking_1.traj").read_bytes())
    summary = convert_paths([str(mixed), str(other)], tmp_path / "ds", on_error="skip", jobs=jobs)
    assert summary.trajectories == 3 and summary.refused == []
    (error,) = summary.errors
    assert (error.file, error.line) == ("mixed.jsonl", 2) and "predictions" in error.message
    with pytest.raises(SrftError, match="mixed.jsonl:2: not a trajectory record"):
        convert_paths([str(mixed)], tmp_path / "ds2")
    assert not (tmp_path / "ds2").exists()


def _messy_big_file(corpus: Path, root: Path) -> Path:
    """A JSON Lines file with a BOM, CRLF and blank lines, a line that is not JSON and a run record inside."""
    smith = _smith_lines(corpus)
    lines = [smith[i % len(smith)] + b" " * i for i in range(6)]  # trailing spaces: six different ids
    prediction = orjson.dumps({"instance_id": "x__y-1", "model_patch": "diff", "model_name_or_path": "m"})
    body = [b"\xef\xbb\xbf" + lines[0], b"", lines[1] + b"\r", b"  ", lines[2], b'{"truncated": ', lines[3],
            prediction, lines[4] + b"\r", b"", lines[5]]
    return write(root / "big.jsonl", b"\n".join(body) + b"\n\n")


def test_split_json_lines_gives_pieces_of_whole_lines_that_know_where_they_start(corpus: Path,
                                                                                 tmp_path: Path) -> None:
    path = _messy_big_file(corpus, tmp_path)
    whole = InputFile(str(path), path.name)
    pieces = split_json_lines(whole, 1)
    data = path.read_bytes()
    assert b"".join(data[p.lines.start:p.lines.stop] for p in pieces) == data
    assert [p.lines.last for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert len(pieces) == data.count(b"\n")  # a piece per line
    records = list(iter_records(whole))
    in_pieces = [r for p in pieces for r in iter_records(p)]
    located = [(r.line, r.offset, r.raw) if isinstance(r, SourceRecord) else (r.problem.line,) for r in records]
    assert located == [(r.line, r.offset, r.raw) if isinstance(r, SourceRecord) else (r.problem.line,)
                       for r in in_pieces]
    assert [r.offset for r in records if isinstance(r, SourceRecord)] == [0, 1, 2, 4, 5, 6, 7]
    assert [p.lines.first_line for p in split_json_lines(whole, len(data))] == [1]


@pytest.mark.parametrize("on_error", ["skip", "fail"])
def test_jobs_split_a_big_json_lines_file_and_give_what_one_process_gives(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_error: str) -> None:
    monkeypatch.setattr(scheduler, "BATCH_BYTES", 1)  # a piece per line, a part file per piece
    path = _messy_big_file(corpus, tmp_path / "in")
    if on_error == "fail":
        for jobs in (1, 2):
            with pytest.raises(SrftError, match=r"big.jsonl:6: truncated JSON"):
                convert_paths([str(path)], tmp_path / f"out{jobs}", jobs=jobs)
            assert not (tmp_path / f"out{jobs}").exists()
        return
    one = convert_paths([str(path)], tmp_path / "one", on_error="skip")
    two = convert_paths([str(path)], tmp_path / "two", on_error="skip", jobs=2)
    assert len(Dataset.open(tmp_path / "two").files("trajectories")) == 6
    for summary in (one, two):
        assert (summary.files, summary.converted_files, summary.trajectories) == (1, 1, 6)
        assert [(e.file, e.line) for e in summary.errors] == [("big.jsonl", 6), ("big.jsonl", 8)]
        assert list(summary.formats.values()) == [[1, 6, "only 'messages' and 'instance_id'"]]
    assert [e.message for e in one.errors] == [e.message for e in two.errors]
    trajectories = [list(Dataset.open(tmp_path / name).trajectories()) for name in ("one", "two")]
    assert [(t.id, t.provenance.record_offset) for t in trajectories[0]] == \
        [(t.id, t.provenance.record_offset) for t in trajectories[1]]
    assert [t.provenance.record_offset for t in trajectories[1]] == [0, 1, 2, 4, 6, 7]
    assert_valid(tmp_path / "two")


def test_a_big_predictions_file_is_refused_whole_with_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "BATCH_BYTES", 1)
    lines = [orjson.dumps({"instance_id": f"x__y-{i}", "model_patch": "diff", "model_name_or_path": "m"})
             for i in range(4)]
    path = write(tmp_path / "all_preds.jsonl", b"\n".join(lines) + b"\n")
    with pytest.raises(SrftError, match="nothing converted.*predictions"):
        convert_paths([str(path), str(path)], tmp_path / "ds", jobs=2)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("run_instance.log", b"2025-01-01 INFO Patch applied\n", "a log file (SWE-bench's harness writes run_instance.log"),
    ("README.md", b"# Evaluation\n| resolved | 3 |\n", "a Markdown file"),
    ("trajectory.json", b'{"name": "AgenticLoop", "transition_rules": {}, "initial_message": "fix it", '
                        b'"workspace": {}, "transitions": [{"id": 0, "state": {"name": "Pending"}}]}',
     "this looks like a Moatless Tools trajectory"),
    ("tree.json", b'{"metadata": {}, "unique_id": 1, "root": {"node_id": 0, "children": []}}',
     "this looks like a Moatless Tools search tree"),
])
def test_unsupported_formats_are_named(tmp_path: Path, srft, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    run = srft("convert", path, "-o", tmp_path / "ds")
    assert run.code == 1 and expected in run.stderr and "not supported" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_mixed_folder_that_fails_names_the_files_and_suggests_skip(corpus: Path, tmp_path: Path, srft) -> None:
    shutil.copy(corpus_file(corpus, "swe-agent", "networking_1.traj"), tmp_path / "a.traj")
    (tmp_path / "b.json").write_bytes(b'{"name": "x", "initial_message": "fix", "transitions": []}')
    (tmp_path / "c.jsonl").write_bytes(b'{"foo": 1}\n')
    (tmp_path / "d.json").write_bytes(b"[1, 2")
    shutil.copy(corpus_file(corpus, "swe-agent", "all_preds.jsonl"), tmp_path / "e.jsonl")  # refused, not failing
    run = srft("convert", tmp_path, "-o", tmp_path / "ds")
    assert run.code == 1 and "b.json: this looks like a Moatless Tools trajectory" in run.stderr
    assert "stopped at this file; 2 other file(s) no converter reads: c.jsonl, d.json; --on-error skip" \
        in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "ds").exists()


def test_inputs_are_read_once(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A predictions file gives its patches and is refused from that one read; every other file is read once."""
    reads: list[str] = []
    real = conversion.iter_records

    def counted(source):
        reads.append(source.name)
        return real(source)

    monkeypatch.setattr(conversion, "iter_records", counted)
    summary = convert_paths([str(corpus / "swe-agent")], tmp_path / "ds")
    assert sorted(reads) == sorted(set(reads)) and len(reads) == summary.files == 10
    assert any(name.endswith("all_preds.jsonl") for name, _ in summary.refused)
