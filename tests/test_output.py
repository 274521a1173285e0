"""The one output path (cli/output.py): every format from dict rows, files written whole, commands that use it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from factories import make_trajectory

from srft_format.cli.output import write_document, write_rows
from srft_format.dataset import write_dataset

ROWS = [{"trajectory": "t-0", "step": 0, "label": "correct", "score": 0.9, "tags": ["a", "b"]},
        {"trajectory": "t-0", "step": 1, "label": "incorrect", "score": None, "tags": []}]
COLUMNS = ["trajectory", "step", "label", "score", "tags"]


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet", "table"])
def test_every_format_round_trips_the_rows(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"rows.{fmt}"
    write_rows(ROWS, fmt, out, columns=COLUMNS)
    if fmt == "parquet":
        assert pq.read_table(out).to_pylist() == ROWS
    elif fmt == "json":
        assert json.loads(out.read_text()) == ROWS
    elif fmt == "jsonl":
        assert [json.loads(line) for line in out.read_text().splitlines()] == ROWS
    elif fmt == "csv":
        rows = list(csv.DictReader(out.open()))
        assert [r["label"] for r in rows] == ["correct", "incorrect"] and rows[0]["tags"] == '["a","b"]'
        assert rows[1]["score"] == ""
    else:
        text = out.read_text()
        assert "incorrect" in text and "NULL" in text and "\x1b[" not in text  # no colour codes in a file
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left beside it


def test_no_rows_still_have_their_columns(tmp_path: Path) -> None:
    write_rows([], "csv", tmp_path / "empty.csv", columns=COLUMNS)
    assert (tmp_path / "empty.csv").read_text().strip() == ",".join(COLUMNS)


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "doc.json"
    with pytest.raises(TypeError):
        write_document({"bad": object.__new__(type("NotJson", (), {"__str__": None}))}, out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_commands_share_the_writer(srft, tmp_path: Path) -> None:
    """verdicts (parquet), stats (json) and agree (table) write -o files through the same path."""
    dataset = tmp_path / "ds"
    write_dataset(dataset, [make_trajectory("t-0", 4, labels=["correct", "incorrect", "correct", "incorrect"])])
    run = srft("verdicts", dataset, "--format", "parquet", "-o", tmp_path / "v.parquet")
    assert run.code == 0, run.stderr
    rows = pq.read_table(tmp_path / "v.parquet").to_pylist()
    assert [r["label"] for r in rows] == ["correct", "incorrect", "correct", "incorrect"]
    run = srft("stats", dataset, "--format", "json", "-o", tmp_path / "s.json")
    assert run.code == 0 and run.stdout == "", run.stderr
    assert json.loads((tmp_path / "s.json").read_text())["training_signal"]
    annotator = rows[0]["annotators"]
    run = srft("agree", dataset, "--a", annotator, "--b", annotator, "-o", tmp_path / "agree.txt")
    assert run.code == 0, run.stderr
    assert "Cohen's kappa 1.000" in (tmp_path / "agree.txt").read_text()
