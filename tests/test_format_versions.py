"""Format 1.1 is a minor version: 1.0 files read unchanged, and the published 1.0 reader reads 1.1 files without
the new fields (the spec's versioning rules)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from srft_format.inputs import step_input
from srft_format.io import read_records, write_records
from srft_format.models import (Annotator, InputItem, Message, Provenance, Step, Task, Trajectory, Usage,
                                VerdictRecord)

ROOT = Path(__file__).resolve().parent.parent
LAST_1_0_COMMIT = "f1fba3a"
"""The last commit whose library wrote format 1.0: its reader is the published 1.0 reader."""

V1_0 = {"format_version": "1.0", "id": "t-1", "task": {"instance_id": "octo__utils-12"},
        "messages": [{"role": "user", "content": "fix it"}, {"role": "assistant", "content": "done"}],
        "steps": [{"index": 0, "output": 1}],
        "annotators": [{"id": "rules", "kind": "rule"}],
        "verdicts": [{"step": 0, "annotator": "rules", "label": "correct"}]}


def rich_1_1() -> Trajectory:
    messages = [Message(role="system", content="s"), Message(role="user", content="task"),
                Message(role="assistant", content="bad format"), Message(role="user", content="format error"),
                Message(role="assistant", content="ls"), Message(role="user", content="a.py"),
                Message(role="assistant", content="submit")]
    return Trajectory(
        format_version="1.1", id="t-2",
        task=Task(instance_id="octo__utils-12", gold_patch="diff --git a/x b/x", test_patch="diff --git a/t b/t",
                  fail_to_pass=["tests/test_x.py::test_a"], pass_to_pass=["tests/test_x.py::test_b"]),
        messages=messages,
        steps=[Step(index=0, output=2, exclude=["requery"]), Step(index=1, output=4, observations=[5]),
               Step(index=2, output=6, input=[InputItem(start=0, stop=2), InputItem(start=4, stop=5),
                                               InputItem(message=Message(role="user", content="(output elided)"))])],
        annotators=[Annotator(id="critic", kind="llm", evidence=["prefix", "future", "outcome"])],
        provenance=Provenance(source_format="swe-agent", converter="c", converter_version="1", api_calls=4),
        usage=Usage(cost=0.25, prompt_tokens=1000))


def test_1_0_file_reads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(V1_0) + "\n")
    (traj,) = read_records(path, Trajectory)
    assert traj.format_version == "1.0" and traj.task.gold_patch is None and traj.steps[0].input is None
    assert traj.annotators[0].evidence == [] and traj.usage is None


def test_step_input_rebuilds_the_recorded_input() -> None:
    traj = rich_1_1()
    sent = step_input(traj.messages, traj.steps[2])
    assert [m.content for m in sent] == ["s", "task", "ls", "(output elided)"]
    assert step_input(traj.messages, traj.steps[1]) == traj.messages[:4]


@pytest.mark.parametrize("items, message", [
    ([{"start": 3, "stop": 3}], "range [3, 3) must be non-empty"),
    ([{"start": 0, "stop": 9}], "end at or before the step's output 6"),
    ([{"start": 0}], "needs both start and stop"),
    ([{"start": 0, "stop": 1, "message": {"role": "user", "content": "x"}}], "not both"),
])
def test_bad_input_items_are_located(tmp_path: Path, items: list, message: str) -> None:
    obj = json.loads(rich_1_1().model_dump_json())
    obj["steps"][2]["input"] = items
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    with pytest.raises(Exception, match=r"steps\[2\]\.input\[0\]") as error:
        list(read_records(path, Trajectory))
    assert message in str(error.value)


@pytest.mark.slow
def test_the_1_0_reader_reads_1_1_files_without_the_new_fields(tmp_path: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", LAST_1_0_COMMIT, "srft_format", "spec"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tmp_path / "reader", filter="data")
    new = rich_1_1()
    write_records(tmp_path / "new.jsonl", [new], Trajectory)
    verdict = VerdictRecord(format_version="1.1", trajectory="t-2", step=1, annotator="critic", label="correct")
    write_records(tmp_path / "verdicts.jsonl", [verdict], VerdictRecord)
    script = f"""
import json, sys
sys.path.insert(0, {str(tmp_path / 'reader')!r})
from srft_format.io import read_records, read_objects
from srft_format.models import FORMAT_VERSION, Trajectory, VerdictRecord
assert FORMAT_VERSION == "1.0", FORMAT_VERSION
(t,) = read_records({str(tmp_path / 'new.jsonl')!r}, Trajectory)
(o,) = read_objects({str(tmp_path / 'new.jsonl')!r}, Trajectory)
(v,) = read_records({str(tmp_path / 'verdicts.jsonl')!r}, VerdictRecord)
print(json.dumps({{"model": json.loads(t.model_dump_json(exclude_defaults=True)), "object": o,
                   "verdict": v.label.value}}))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    read = json.loads(run.stdout)
    for record in (read["model"], read["object"]):
        assert "gold_patch" not in record["task"] and "usage" not in record
        assert all("input" not in step for step in record["steps"])
        assert "api_calls" not in record["provenance"] and "evidence" not in record["annotators"][0]
        assert [m["content"] for m in record["messages"]] == [m.content for m in new.messages]
        assert record["task"]["instance_id"] == "octo__utils-12"
    assert read["verdict"] == "correct"
