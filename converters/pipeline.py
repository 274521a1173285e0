"""``srft convert``: source files in, one srft dataset out (the dataset hand-off).

:mod:`.conversion` converts one file, :mod:`.scheduler` converts batches of files into part files (in worker
processes with ``jobs > 1``); here the parts are adopted by the dataset in input order, each file accounted for
(formats, refusals, errors, redactions, evaluations), and the summary written. Every trajectory reaches the
dataset by that one route: streamed into a part file, adopted (appending dedups by trajectory id). JSON Lines
files of any size convert in constant memory, and the output order is the input order whatever ``jobs``.

``on_error="fail"`` stops at the first bad record and leaves no dataset (or the old one untouched);
``"skip"`` converts the rest and writes every problem to ``conversion-errors.jsonl`` in the dataset.
Progress is the caller's: ``progress(files done, files)`` after each file.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from srft_format.dataset import DatasetWriter, is_dataset
from srft_format.errors import Problem, SrftError
from srft_format.io import read_records, write_records
from srft_format.jsonl import open_output
from srft_format.models import Trajectory
from srft_format.redact import MARKER, is_redacted, redaction_marker
from srft_format.runtime import fewer_gc_pauses

from .conversion import FileResult, RunContext, prediction_patches, unrecognised_files
from .outcomes import Outcomes, load_outcomes
from .reader import InputFile, expand_inputs
from .registry import get_converter
from .scheduler import Batch, converted_batches

ERROR_REPORT = "conversion-errors.jsonl"
ON_ERROR = ("fail", "skip")
Progress = Callable[[int, int], None]
"""Called after each file with (files done, files)."""


@dataclass
class Summary:
    """The outcome of one ``srft convert`` run."""

    output: str
    files: int = 0
    converted_files: int = 0
    trajectories: int = 0
    duplicates: int = 0
    steps: int = 0
    seconds: float = 0.0
    formats: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    """``(format, version) -> [files, trajectories, reason]``."""
    refused: list[tuple[str, str]] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    error_report: str | None = None
    redactions: Counter[str] = field(default_factory=Counter)
    per_file: list[str] = field(default_factory=list)
    worker_cpu_seconds: float = 0.0
    """CPU time the worker processes spent converting (``jobs > 1``)."""
    evaluated: set[str] = field(default_factory=set)
    eval_skipped: list[tuple[str, str]] = field(default_factory=list)
    """``--eval`` files of a searched directory that hold no evaluation, with why."""
    eval_unmatched: list[str] = field(default_factory=list)
    """Evaluated instances that no converted trajectory belongs to."""
    sources_added: dict[tuple[str, str], tuple[int, set[str]]] = field(default_factory=dict)
    """``(format, version) -> (trajectories added, their source files)``: what the manifest's sources gain
    (trajectories the dataset already had add nothing)."""

    def added(self, source: tuple[str, str, str]) -> None:
        count, files = self.sources_added.get(source[:2], (0, set()))
        files.add(source[2])
        self.sources_added[source[:2]] = (count + 1, files)

    def lines(self, verbose: bool = False) -> list[str]:
        out = list(self.per_file) if verbose else []
        out += [f"--eval: skipped {name}: {reason}" for name, reason in self.eval_skipped]
        if self.eval_unmatched:
            shown = ", ".join(self.eval_unmatched[:5]) + (", ..." if len(self.eval_unmatched) > 5 else "")
            out.append(f"--eval: {len(self.eval_unmatched)} evaluated instance(s) match no trajectory converted "
                       f"here: {shown}")
        if self.evaluated and self.duplicates:
            out.append("--eval: trajectories already in the dataset keep their outcome; join evaluations into "
                       "them with: srft outcomes DATASET --eval PATH")
        for (fmt, version), (files, trajs, reason) in sorted(self.formats.items()):
            out.append(f"{fmt} {version}: {files} file(s), {trajs} trajectories ({reason})")
        for name, reason in self.refused:
            out.append(f"skipped {name}: {reason}")
        if self.errors:
            out.append(f"{len(self.errors)} record(s) failed; first: {self.errors[0]}")
            if self.error_report:
                out.append(f"error report: {self.error_report}")
        if self.redactions:
            found = ", ".join(f"{n} {kind}" for kind, n in sorted(self.redactions.items()))
            out.append(f"redacted {sum(self.redactions.values())} secret(s): {found}")
        dup = f", {self.duplicates} duplicate(s) already in the dataset" if self.duplicates else ""
        out.append(f"{self.files} file(s), {self.trajectories} trajectories, {self.steps} steps added to "
                   f"{self.output}{dup}; {len(self.refused)} file(s) skipped, {len(self.errors)} error(s), "
                   f"{self.seconds:.1f}s")
        return out


def convert_paths(inputs: Iterable[str], output: str | os.PathLike, *, source: str | None = None,
                  eval_paths: Iterable[str] = (), jobs: int = 1, on_error: str = "fail",
                  storage: str = "parquet", progress: Progress | None = None, redact: bool = False) -> Summary:
    """Convert source files into the dataset at ``output`` (created, or appended to when it exists)."""
    if on_error not in ON_ERROR:
        raise SrftError(f"--on-error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
    started = time.perf_counter()
    source = None if source in (None, "auto") else get_converter(source).name  # unknown names fail here
    files = expand_inputs(inputs)
    eval_paths = list(eval_paths)
    patches, predictions_files = prediction_patches(files)
    context = RunContext(source, patches, load_outcomes(eval_paths) if eval_paths else Outcomes(), redact,
                         predictions_files)
    fail_fast = on_error == "fail"
    summary = Summary(output=str(output), files=len(files))
    mode = "append" if is_dataset(output) else "create"
    storage_of_new = storage if mode == "create" else None  # an append keeps the dataset's own storage
    with fewer_gc_pauses(), DatasetWriter(output, mode=mode, storage=storage_of_new) as writer:
        try:
            _Handoff(writer, summary, fail_fast, progress).take_all(
                converted_batches(files, (context, fail_fast), jobs, writer.new_part_path))
        except _Stopped as stop:
            raise _stopped_in_many(stop, files, source) if len(files) > 1 else stop from None
        if not writer.added and not summary.duplicates and mode == "create":
            raise SrftError(Problem(f"nothing converted ({_why_nothing(summary)})", file=str(output)))
        for (fmt, version), (trajectories, source_files) in summary.sources_added.items():
            writer.add_source(fmt, version, files=len(source_files), trajectories=trajectories)
        _mark_redaction(writer, summary.redactions if redact else None)
    summary.eval_skipped = context.outcomes.skipped if eval_paths else []
    summary.eval_unmatched = sorted(set(context.outcomes) - summary.evaluated)
    summary.error_report = _write_error_report(Path(output), summary.errors)
    summary.seconds = time.perf_counter() - started
    return summary


class _Handoff:
    """Takes converted batches in input order: accounts for their files (a file split into pieces once its
    last piece comes) and has the dataset adopt their parts."""

    def __init__(self, writer: DatasetWriter, summary: Summary, fail_fast: bool, progress: Progress | None):
        self.writer, self.summary, self.fail_fast, self.progress = writer, summary, fail_fast, progress
        self.unfinished: FileResult | None = None
        self.done = 0

    def take_all(self, batches: Iterable[Batch]) -> None:
        for batch in batches:
            self.take(batch)

    def take(self, batch: Batch) -> None:
        for result in batch.results:
            if self.unfinished is not None:
                self.unfinished.absorb(result)
                result, self.unfinished = self.unfinished, None
            if result.continues and not (result.errors and self.fail_fast):
                self.unfinished = result
                continue
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.summary.files)
            _record_file(self.summary, result, self.fail_fast)
        self.summary.duplicates += batch.duplicates
        self.summary.worker_cpu_seconds += batch.cpu_seconds
        if batch.written:
            _adopt(self.writer, batch, self.summary)
            batch.adopted = True


def _adopt(writer: DatasetWriter, batch: Batch, summary: Summary) -> None:
    """Take over a worker's part file, rewritten without the trajectories the dataset already has."""
    fresh = [entry for entry in batch.written if entry[0] not in writer]
    if len(fresh) < len(batch.written):
        keep = {entry[0] for entry in fresh}
        trajectories = [t for t in read_records(batch.part, Trajectory, check=False) if t.id in keep]
        batch.part.unlink()
        if fresh:
            write_records(batch.part, trajectories, Trajectory)
    summary.duplicates += len(batch.written) - len(fresh)
    if fresh:
        writer.adopt_part(batch.part, fresh)
        for traj_id, _, _ in fresh:
            summary.added(batch.sources[traj_id])
        summary.trajectories += len(fresh)
        summary.steps += sum(steps for _, steps, _ in fresh)


def _mark_redaction(writer: DatasetWriter, found: Counter[str] | None) -> None:
    """Mark the dataset redacted only when every trajectory in it went through a full pass."""
    marker = writer.manifest.extra.pop(MARKER, None)
    whole = writer.base is None or (marker is not None and is_redacted(writer.base.manifest))
    if found is not None and whole:
        writer.manifest.extra[MARKER] = redaction_marker(found + Counter((marker or {}).get("counts", {})))


def _why_nothing(summary: Summary) -> str:
    if summary.errors:
        return f"first error: {summary.errors[0]}"
    if summary.refused:
        name, reason = summary.refused[0]
        return f"{name}: {reason}"
    return "no trajectories in the input"


class _Stopped(SrftError):
    """A fail-fast run stopped at its first bad record."""


def _stopped_in_many(stop: _Stopped, files: list[InputFile], source: str | None) -> SrftError:
    """The first error of a mixed input, with the other files no converter reads and how to convert the rest."""
    first = stop.problems[0]
    others = unrecognised_files([f for f in files if f.name != first.file], get_converter(source) if source else None)
    listed = f"; {len(others)} other file(s) no converter reads: {', '.join(others[:10])}" \
        f"{', ...' if len(others) > 10 else ''}" if others else ""
    return SrftError(replace(first, message=f"{first.message} (stopped at this file{listed}; --on-error skip "
                                            "converts the other files and lists each one that fails)"))


def _record_file(summary: Summary, result: FileResult, fail_fast: bool) -> None:
    """Account for one file: its errors (the first one ends a fail-fast run), refusal, formats, redactions."""
    summary.redactions.update(result.redactions)
    summary.evaluated |= result.evaluated
    if result.errors and fail_fast:
        raise _Stopped(result.errors[0])
    summary.errors += result.errors
    if result.refused:
        summary.refused.append((result.name, result.refused))
        summary.per_file.append(f"{result.name}: skipped ({result.refused})")
        return
    if result.counts:
        summary.converted_files += 1
    for key, reason in result.detections.items():
        entry = summary.formats.setdefault(key, [0, 0, reason])
        entry[0] += 1
        entry[1] += result.counts.get(key, 0)
        summary.per_file.append(f"{result.name}: {key[0]} {key[1]} ({reason}), "
                                f"{result.counts.get(key, 0)} trajectories")


def _write_error_report(dataset: Path, errors: list[Problem]) -> str | None:
    """``conversion-errors.jsonl`` in the dataset: one line per problem (removed when there are none)."""
    report = dataset / ERROR_REPORT
    if not errors:
        report.unlink(missing_ok=True)
        return None
    with open_output(report) as out:
        for problem in errors:
            out.write(orjson.dumps(problem.to_dict()) + b"\n")
    return str(report)
