"""Task evidence from task-instance files (SWE-bench, SWE-smith, SWE-Gym): gold patch, test patch, test ids.

A task-instance file is JSON (a list of rows), JSON Lines or Parquet, one row per task with ``instance_id`` and
any of ``patch`` (the gold patch), ``test_patch``, ``FAIL_TO_PASS`` and ``PASS_TO_PASS`` (lists of test ids, or
JSON strings holding such lists, as in SWE-bench's Parquet). :func:`join_tasks` copies them into
``task.gold_patch``, ``task.test_patch``, ``task.fail_to_pass`` and ``task.pass_to_pass`` (format 1.1) of every
trajectory with the same ``task.instance_id``, rewriting the dataset atomically, and reports how many matched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import Dataset, DatasetWriter, to_verdict
from .errors import Problem, SrftError

FIELDS = {"patch": "gold_patch", "test_patch": "test_patch", "FAIL_TO_PASS": "fail_to_pass",
          "PASS_TO_PASS": "pass_to_pass"}
"""Task-instance column -> the ``Task`` field it fills."""


@dataclass
class TaskJoin:
    """What :func:`join_tasks` did."""

    rows: int = 0
    rows_without_id: int = 0
    duplicate_rows: int = 0
    trajectories: int = 0
    matched: int = 0
    without_instance_id: int = 0
    unmatched_ids: list[str] = field(default_factory=list)
    """Instance ids of trajectories the file has no row for."""
    unused_rows: int = 0
    """Rows no trajectory matched."""
    fields: dict[str, int] = field(default_factory=dict)
    """Task field -> trajectories that got it."""

    @property
    def unmatched(self) -> int:
        return len(self.unmatched_ids)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "rows_without_id": self.rows_without_id, "duplicate_rows": self.duplicate_rows,
                "trajectories": self.trajectories, "matched": self.matched, "unmatched": self.unmatched,
                "without_instance_id": self.without_instance_id, "unused_rows": self.unused_rows,
                "fields": self.fields, "unmatched_ids": self.unmatched_ids[:20]}


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line or row number, row)`` of a JSON, JSON Lines or Parquet task-instance file."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
            raise SrftError(Problem(f"cannot read it as Parquet: {' '.join(str(exc).split())[:200]}",
                                    file=str(path))) from None
        wanted = [c for c in ("instance_id", *FIELDS) if c in table.column_names]
        for n, row in enumerate(table.select(wanted).to_pylist(), 1):
            yield n, row
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SrftError(Problem(f"cannot read it: {exc}", file=str(path))) from None
    if name.endswith((".jsonl", ".ndjson")):
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SrftError(Problem(f"not JSON: {exc.msg}", file=str(path), line=n)) from None
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SrftError(Problem(f"not JSON: {exc.msg}", file=str(path), line=exc.lineno)) from None
    if not isinstance(data, list):
        raise SrftError(Problem("expected a JSON list of task rows (or a .jsonl / .parquet file)", file=str(path)))
    yield from enumerate(data, 1)


def _test_ids(value: Any, path: Path, n: int, column: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            raise SrftError(Problem("expected a list of test ids or a JSON string of one", column,
                                    file=str(path), line=n)) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SrftError(Problem("expected a list of test ids (strings)", column, file=str(path), line=n))
    return value


def read_task_file(path: str | os.PathLike, report: TaskJoin | None = None) -> dict[str, dict[str, Any]]:
    """``instance_id -> {task field: value}`` from a task-instance file; bad rows name the file, row and field."""
    path = Path(path)
    report = report if report is not None else TaskJoin()
    found: dict[str, dict[str, Any]] = {}
    for n, row in _rows(path):
        report.rows += 1
        if not isinstance(row, dict):
            raise SrftError(Problem("expected an object (one task row)", file=str(path), line=n))
        instance = row.get("instance_id")
        if not isinstance(instance, str) or not instance:
            report.rows_without_id += 1
            continue
        values: dict[str, Any] = {}
        for column, target in FIELDS.items():
            value = row.get(column)
            if column in ("FAIL_TO_PASS", "PASS_TO_PASS"):
                value = _test_ids(value, path, n, column)
            elif value is not None and not isinstance(value, str):
                raise SrftError(Problem("expected a string (a diff)", column, file=str(path), line=n))
            if value is not None and value != "":
                values[target] = value
        if instance in found:
            report.duplicate_rows += 1
        found[instance] = values
    return found


def join_tasks(dataset: str | os.PathLike, task_file: str | os.PathLike) -> TaskJoin:
    """Fill the task evidence of ``dataset``'s trajectories from ``task_file`` by instance id, atomically."""
    report = TaskJoin()
    rows = read_task_file(task_file, report)
    source = Dataset.open(dataset)
    used: set[str] = set()
    with DatasetWriter.like(source, dataset) as out:
        for traj in source.trajectories():
            report.trajectories += 1
            instance = traj.task.instance_id
            values = rows.get(instance) if instance else None
            if not instance:
                report.without_instance_id += 1
            elif values is None:
                report.unmatched_ids.append(instance)
            else:
                report.matched += 1
                used.add(instance)
                for name in values:
                    report.fields[name] = report.fields.get(name, 0) + 1
                traj = traj.model_copy(update={"task": traj.task.model_copy(update=values)})
            out.add(traj)
        for record in source.verdicts():
            out.add_verdict(record.trajectory, to_verdict(record))
    report.unused_rows = len(rows.keys() - used)
    return report
