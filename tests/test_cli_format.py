"""The format's own commands, run as a user runs them: validate, schema, info, show, copy."""

from __future__ import annotations

import json
import re

import pytest

from conftest import REPO
from factories import make_trajectory
from srft_format.dataset import DatasetWriter
from srft_format.models import Annotator, Step, Verdict


@pytest.fixture
def dataset(tmp_path):
    with DatasetWriter(tmp_path / "ds", name="demo", license="MIT") as out:
        out.declare_annotator(Annotator(id="critic", kind="llm", model="critic-1"))
        for i in range(2):
            out.add(make_trajectory(f"t{i}", n_steps=3, resolved=bool(i)))
        out.add_verdict("t0", Verdict(step=1, annotator="critic", label="incorrect", score=0.1,
                                      rationale="greps the wrong file"))
    return tmp_path / "ds"


def test_validate_a_dataset_and_files(dataset, tmp_path, srft):
    run = srft("validate", dataset)
    assert run.code == 0 and "valid (srft 1.1): 4 record(s) in 3 file(s)" in run.stderr  # manifest + 2 + 1
    good = tmp_path / "good.jsonl"
    good.write_text(make_trajectory("x").model_dump_json() + "\n")
    assert srft("validate", good, "--schema-only").code == 0
    assert srft("validate", "-", input=good.read_text()).code == 0


def test_validate_reports_every_problem_located_and_exits_1(tmp_path, srft):
    bad = tmp_path / "bad.jsonl"
    ok = make_trajectory("a").model_dump_json()
    bad.write_text(ok + "\n" + ok.replace('"output":2', '"output":30') + "\n{oops\n")
    run = srft("validate", bad)
    assert run.code == 1
    assert run.stdout.splitlines() == [
        f"{bad}:2: steps[0].output: points at message 30, but there are 8 messages",
        f"{bad}:2: id: duplicate trajectory id 'a'",
        f"{bad}:3: not valid JSON (unexpected character, expected a string key at column 2)"]
    report = json.loads(srft("validate", bad, "--json").stdout)
    assert report["valid"] is False and report["records"] == 3 and len(report["problems"]) == 3
    assert report["problems"][0] == {"file": str(bad), "line": 2, "path": "steps[0].output",
                                     "message": "points at message 30, but there are 8 messages"}


def test_schema_prints_the_shipped_schema(srft):
    run = srft("schema", "verdict")
    assert run.code == 0 and json.loads(run.stdout)["$id"].endswith("/v1.1/verdict.schema.json")
    assert srft("schema", "--version", "9.0").code == 2


def test_info(dataset, srft):
    run = srft("info", dataset)
    assert run.code == 0
    assert "2 trajectories, 6 steps, 16 messages, 1 verdicts" in run.stdout and "critic" in run.stdout
    assert json.loads(srft("info", dataset, "--json").stdout)["counts"]["verdicts"] == 1


def test_show_lists_then_shows_steps_with_verdicts(dataset, srft):
    listing = srft("show", dataset)
    assert listing.code == 0 and re.search(r"t0\W+t0-task\W+policy-7b\W+3\W+no\W+1", listing.stdout)
    one = srft("show", dataset, "-t", "t0", "-s", "1")
    assert one.code == 0
    assert "step 1 · bash" in one.stdout and "✗ critic: incorrect (0.10) — greps the wrong file" in one.stdout
    assert "step 0" not in one.stdout
    bad = srft("show", dataset, "-t", "t0", "-s", "9")
    assert bad.code == 1 and bad.stderr.strip() == "error: trajectory 't0' has steps 0..2, not 9"


def test_copy_changes_storage(dataset, tmp_path, srft):
    run = srft("copy", dataset, tmp_path / "j", "--storage", "jsonl", "--compression", "zst")
    assert run.code == 0 and (tmp_path / "j" / "trajectories").is_dir()
    assert next((tmp_path / "j" / "trajectories").iterdir()).name.endswith(".jsonl.zst")
    assert srft("validate", tmp_path / "j").code == 0
    again = srft("copy", dataset, tmp_path / "j")
    assert again.code == 1 and "a dataset already exists here (use append or overwrite)" in again.stderr


def test_errors_are_one_line_without_traceback(tmp_path, srft):
    run = srft("info", tmp_path)
    assert run.code == 1 and run.stderr == f"error: {tmp_path}: is not an srft dataset (no manifest.json)\n"


def test_every_command_has_help_with_examples(srft):
    from srft_format.cli.main import COMMANDS

    for name in COMMANDS:
        run = srft(name, "--help")
        assert run.code == 0 and "Usage: " in run.stdout, name
        assert "Example" in run.stdout, f"`srft {name} --help` should show examples"


def test_spec_worked_examples_are_valid(tmp_path, srft):
    """The JSON examples in spec/README.md are real records."""
    blocks = re.findall(r"```json\n(.*?)```", (REPO / "spec" / "README.md").read_text(), re.S)
    step, trajectory, verdict = (json.loads(b) for b in blocks)
    Step.model_validate(step)  # the recorded-input example
    (tmp_path / "t.jsonl").write_text(json.dumps(trajectory) + "\n")
    (tmp_path / "v.jsonl").write_text(json.dumps(verdict) + "\n")
    assert srft("validate", tmp_path / "t.jsonl").code == 0
    assert srft("validate", tmp_path / "t.jsonl", "--schema-only").code == 0
    assert srft("validate", tmp_path / "v.jsonl", "--schema-only").code == 0
