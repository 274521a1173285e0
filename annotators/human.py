"""Human labels: export steps to a labeling sheet (CSV or JSONL, with context) and import it back as verdicts.

Sheet columns: ``trajectory``, ``step``, ``label`` (to fill: correct / incorrect / neutral / unknown, or
empty to skip), ``score`` (optional, 0..1), ``rationale`` (optional), then context for the labeler:
``task``, ``previous_action``, ``step_text``, ``observation`` (each cut to a few thousand characters).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from srft_format.errors import Problem, SrftError
from srft_format.jsonl import open_input, open_output
from srft_format.models import Annotator, AnnotatorKind, Label, Trajectory
from srft_format.records import json_type

from .base import Critic, Emit, make_verdict
from .context import approx_tokens, cut_middle, message_text, task_text

SHEET_COLUMNS = ("trajectory", "step", "label", "score", "rationale", "task", "previous_action", "step_text",
                 "observation")
CONTEXT_TOKENS = 1000
"""Each context column is cut in the middle to about this many tokens (4000 characters)."""


def _cut(text: str) -> str:
    return cut_middle(text, CONTEXT_TOKENS, approx_tokens)


def sheet_rows(trajectories: Iterable[Trajectory]) -> Iterator[dict[str, Any]]:
    """One row per trainable step (steps flagged ``exclude`` are left out), label columns empty."""
    for traj in trajectories:
        task = _cut(task_text(traj))
        previous = ""
        for step in traj.steps:
            text = message_text(traj.messages[step.output])
            if not step.exclude:
                yield {"trajectory": traj.id, "step": step.index, "label": "", "score": "", "rationale": "",
                       "task": task, "previous_action": _cut(previous), "step_text": _cut(text),
                       "observation": _cut("\n".join(message_text(traj.messages[i]) for i in step.observations))}
            previous = text


def _is_csv(path: str | os.PathLike) -> bool:
    return ".csv" in Path(path).suffixes


def write_sheet(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write the sheet atomically, as CSV when the name ends in .csv (plain or compressed), else JSONL."""
    count = 0
    with open_output(path) as out:
        if _is_csv(path):
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            writer = csv.DictWriter(text, SHEET_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                count += 1
            text.flush()
            text.detach()
        else:
            for row in rows:
                out.write(orjson.dumps(row) + b"\n")
                count += 1
    return count


def _read_rows(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` pairs; CSV lines count the header as line 1."""
    with open_input(path) as raw:
        if _is_csv(path):
            reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            for row in reader:
                yield reader.line_num, row
        else:
            for line, data in enumerate(raw, 1):
                if data.strip():
                    try:
                        row = orjson.loads(data)
                    except orjson.JSONDecodeError as exc:
                        raise SrftError(Problem(f"not valid JSON ({exc})", file=str(path), line=line)) from None
                    if not isinstance(row, dict):
                        raise SrftError(Problem(f"expected a JSON object (one sheet row), got {json_type(row)}",
                                                file=str(path), line=line))
                    yield line, row


def read_labels(path: str | os.PathLike) -> dict[tuple[str, int], tuple[Label, float | None, str | None]]:
    """The filled-in rows of a sheet: ``{(trajectory, step): (label, score, rationale)}``."""
    labels: dict[tuple[str, int], tuple[Label, float | None, str | None]] = {}
    for line, row in _read_rows(path):
        def fail(message: str, field: str) -> SrftError:
            return SrftError(Problem(message, field, file=str(path), line=line))

        raw_label = str(row.get("label") or "").strip().lower()
        if not raw_label:
            continue
        if raw_label not in Label.__members__:
            raise fail(f"label must be one of {', '.join(Label.__members__)}, not {raw_label!r}", "label")
        try:
            key = (str(row["trajectory"]), int(row["step"]))
        except (KeyError, TypeError, ValueError):
            raise fail("each labeled row needs a trajectory id and an integer step", "step") from None
        score_text = str(row.get("score") or "").strip()
        try:
            score = float(score_text) if score_text else None
        except ValueError:
            raise fail(f"score must be a number from 0 to 1, not {score_text!r}", "score") from None
        if score is not None and not 0 <= score <= 1:
            raise fail(f"score must be from 0 to 1, not {score}", "score")
        if key in labels:
            raise fail(f"trajectory {key[0]!r} step {key[1]} is labeled twice", "step")
        labels[key] = (Label(raw_label), score, str(row.get("rationale") or "").strip() or None)
    return labels


class HumanSheetCritic(Critic):
    """Turns a filled-in labeling sheet into verdicts of a ``human`` annotator."""

    def __init__(self, annotator_id: str, sheet: str | os.PathLike, description: str | None = None):
        self.labels = read_labels(sheet)
        self.sheet = str(sheet)
        self.annotator = Annotator(id=annotator_id, kind=AnnotatorKind.human,
                                   description=description or "human labels imported from a labeling sheet")

    def check_steps(self, step_counts: dict[str, int]) -> None:
        """Refuse a sheet with labeled rows that name no step of the dataset (``{trajectory id: steps}``)."""
        strays = [key for key in self.labels if not 0 <= key[1] < step_counts.get(key[0], 0)]
        if strays:
            traj_id, step = strays[0]
            raise SrftError(Problem(f"{len(strays)} labeled row(s) name no step of the dataset, e.g. trajectory "
                                    f"{traj_id!r} step {step}", file=self.sheet))

    async def label(self, traj: Trajectory, steps: Sequence[int], emit: Emit) -> None:
        for step in steps:
            found = self.labels.get((traj.id, step))
            if found:
                emit(make_verdict(self.id, step, found[0], found[1], found[2], sheet=Path(self.sheet).name))
