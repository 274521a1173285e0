"""srft verify: what a receiver checks after a transfer."""

from __future__ import annotations

import json
import pytest
from sharing import attempts, critic, labelled

from srft_format.dataset import Dataset, file_sha256, write_manifest
from srft_format.io import write_records
from srft_format.models import FORMAT_VERSION, VerdictRecord
from srft_format.verify import verify_dataset

CRITIC = critic("critic")


@pytest.fixture(params=["parquet", "jsonl"])
def dataset(request, tmp_path):
    return labelled(tmp_path / "ds", attempts(3), [(CRITIC, 0)], storage=request.param)


def _listed(path, kind):
    return Dataset.open(path).files(kind)[0]


def test_a_good_dataset_passes(dataset):
    report = verify_dataset(dataset)
    assert report.ok, report.problems
    assert report.files == 3 and report.records == 1 + 6 + sum(len(t.steps) for t in attempts(3))


def test_a_flipped_byte_is_caught(dataset):
    file = _listed(dataset, "trajectories")
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))

    problems = verify_dataset(dataset).problems

    assert any("SHA-256 differs" in p.message and p.file == str(file) for p in problems)


def test_a_deleted_file_is_caught(dataset):
    file = _listed(dataset, "verdicts")
    file.unlink()

    problems = verify_dataset(dataset).problems

    assert [p.message for p in problems if p.file == str(file)] == ["listed in manifest.json but missing"]


def test_a_truncated_file_is_caught_by_its_size(dataset):
    file = _listed(dataset, "trajectories")
    file.write_bytes(file.read_bytes()[:-10])

    assert any("manifest says" in p.message for p in verify_dataset(dataset).problems)


def _replace_verdicts(dataset, records: list[VerdictRecord]) -> None:
    """Rewrite the verdict file with ``records`` and make the manifest agree, as a careless tool would."""
    manifest = Dataset.open(dataset).manifest
    listed = next(f for f in manifest.files if f.kind == "verdicts")
    file = dataset / listed.path
    write_records(file, records, VerdictRecord)
    listed.bytes, listed.sha256, listed.records = file.stat().st_size, file_sha256(file), len(records)
    write_manifest(dataset, manifest)


def test_dangling_verdicts_are_caught(dataset):
    good = list(Dataset.open(dataset).verdicts())
    base = {"format_version": FORMAT_VERSION, "label": "incorrect"}
    dangling = [VerdictRecord(trajectory=good[0].trajectory, step=99, annotator=CRITIC.id, **base),
                VerdictRecord(trajectory="no-such-trajectory", step=0, annotator=CRITIC.id, **base),
                VerdictRecord(trajectory=good[0].trajectory, step=0, annotator="undeclared", **base)]
    _replace_verdicts(dataset, good + dangling)

    report = verify_dataset(dataset)

    messages = [p.message for p in report.problems]
    assert len(messages) == 3, messages
    assert any("step 99" in m for m in messages)
    assert any("unknown trajectory 'no-such-trajectory'" in m for m in messages)
    assert any("'undeclared' is not declared" in m for m in messages)
    assert all(p.line in (len(good) + 1, len(good) + 2, len(good) + 3) for p in report.problems)


def test_stray_files_and_wrong_counts_are_caught(dataset):
    stray = dataset / "trajectories" / "part-extra.jsonl"
    stray.write_text("{}\n")
    (dataset / "README.md").write_text("a dataset card is allowed\n")

    problems = verify_dataset(dataset).problems

    assert [p.file for p in problems] == [str(stray)]

    stray.unlink()
    manifest = Dataset.open(dataset).manifest
    manifest.counts.trajectories += 1
    write_manifest(dataset, manifest)
    assert [p.path for p in verify_dataset(dataset).problems] == ["counts.trajectories"]


def test_not_a_dataset(tmp_path):
    report = verify_dataset(tmp_path)
    assert not report.ok and "not an srft dataset" in report.problems[0].message


def test_cli_exit_status_and_json_report(dataset, srft):
    ok = srft("verify", dataset, "--json")
    assert ok.code == 0 and json.loads(ok.stdout)[0]["ok"] is True

    _listed(dataset, "verdicts").unlink()
    bad = srft("verify", dataset, "--json")
    assert bad.code == 1
    report = json.loads(bad.stdout)[0]
    assert report["ok"] is False and report["problems"][0]["message"] == "listed in manifest.json but missing"
