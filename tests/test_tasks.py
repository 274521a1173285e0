"""`srft tasks --from`: task evidence joined by instance id from real task-instance rows, JSONL and Parquet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from srft_format.dataset import Dataset

MULTI_SWE_BENCH = "openhands/All-Hands-AI__OpenHands__evaluation__benchmarks__multi_swe_bench__examples__output.jsonl"


@pytest.fixture(scope="module")
def instance_rows(corpus) -> list[dict]:
    """The SWE-bench-style task rows OpenHands recorded (`instance`: FAIL_TO_PASS as JSON strings), each given
    a patch so the gold-patch column is exercised too."""
    rows = [json.loads(line)["instance"] for line in (corpus / MULTI_SWE_BENCH).read_text().splitlines()]
    assert all(isinstance(r["FAIL_TO_PASS"], str) for r in rows)
    return [{**r, "patch": f"diff --git a/{r['instance_id']}\n", "FAIL_TO_PASS": json.dumps([f"t::{r['instance_id']}"])}
            for r in rows]


@pytest.fixture
def data(tmp_path, corpus_dataset) -> Path:
    path = tmp_path / "data"
    shutil.copytree(corpus_dataset, path)
    return path


def evidence(path: Path) -> dict[str, tuple]:
    return {t.id: (t.task.instance_id, t.task.gold_patch, t.task.fail_to_pass, t.task.pass_to_pass)
            for t in Dataset.open(path).trajectories()}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".json"])
def test_rows_join_by_instance_id_and_the_counts_are_said(data, tmp_path, instance_rows, srft, suffix):
    before = evidence(data)
    rows = tmp_path / f"tasks{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist([*instance_rows, {"instance_id": "nobody__nothing-1", "patch": "x"}]),
                       rows)
    elif suffix == ".jsonl":
        rows.write_text("".join(json.dumps(r) + "\n" for r in [*instance_rows, {"instance_id": "nobody__nothing-1"}]))
    else:
        rows.write_text(json.dumps([*instance_rows, {"instance_id": "nobody__nothing-1"}]))
    run = srft("tasks", data, "--from", rows, "--json")
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    by_id = {r["instance_id"]: r for r in instance_rows}
    matched = {t: v for t, v in before.items() if v[0] in by_id}
    assert report["matched"] == len(matched) == 3 and report["unused_rows"] == 1 and report["rows"] == 4
    assert report["matched"] + report["unmatched"] + report["without_instance_id"] == report["trajectories"]
    after = evidence(data)
    for traj_id, (instance, *_) in before.items():
        if traj_id in matched:
            row = by_id[instance]
            assert after[traj_id] == (instance, row["patch"], json.loads(row["FAIL_TO_PASS"]),
                                      json.loads(row["PASS_TO_PASS"]))
        else:
            assert after[traj_id] == before[traj_id]
    assert srft("validate", data).code == 0  # rewritten whole: files, counts and hashes agree
    text = srft("tasks", data, "--from", rows)
    assert "3 of" in text.stdout and "matched a task row" in text.stdout and "1 matched no trajectory" in text.stdout


def test_a_bad_row_names_file_line_and_field_and_changes_nothing(data, tmp_path, instance_rows, srft):
    manifest = (data / "manifest.json").read_bytes()
    rows = tmp_path / "tasks.jsonl"
    rows.write_text(json.dumps(instance_rows[0]) + "\n" + json.dumps({**instance_rows[1], "PASS_TO_PASS": "[1, 2"}) + "\n")
    run = srft("tasks", data, "--from", rows)
    assert run.code == 1 and run.stderr.count("\n") == 1
    assert f"{rows}:2: PASS_TO_PASS: expected a list of test ids" in run.stderr
    assert (data / "manifest.json").read_bytes() == manifest
