"""``srft convert``: source files in, one srft dataset out.

For each file: split it into records (:mod:`.reader`), choose a converter for each record (each converter's
``detect``, in registry order, or the one named by ``--from``), convert, check every trajectory, and add
it to the dataset (appending dedups by trajectory id), streaming: JSON Lines files of any size convert in
constant memory. Files of a run that hold no trajectory (predictions, configurations, exit statuses:
:mod:`.run_files`) are recognised by their first record and skipped with a reason; the patches of
predictions files fill in trajectories that record none. With ``jobs > 1``, ``jobs - 1`` worker processes
and this one convert batches of files (a big JSON Lines file is split into pieces of whole lines) and
write each batch as a part file of the dataset, which adopts the parts in input order: the output order
is always the input order, whatever ``jobs``.

``on_error="fail"`` stops at the first bad record and leaves no dataset (or the old one untouched);
``"skip"`` converts the rest and writes every problem to ``conversion-errors.jsonl`` in the dataset.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from srft_format.dataset import DatasetWriter, is_dataset
from srft_format.errors import Problem, SrftError, problems_from_validation_error
from srft_format.io import read_records, write_records
from srft_format.jsonl import open_output
from srft_format.models import Trajectory
from srft_format.redact import MARKER, is_redacted, redact_trajectory, redaction_marker
from srft_format.runtime import GC_THRESHOLDS, fewer_gc_pauses
from srft_format.validate import check_trajectory

from . import predictions, run_files, unsupported
from .base import Converter, Detection, SourceRecord
from .outcomes import Outcomes, apply_outcomes, load_outcomes
from .reader import (InputFile, RecordError, expand_inputs, input_size, is_list_of_objects, is_splittable, iter_records,
                     split_json_lines, split_list)
from .registry import CONVERTERS, converters, get_converter

ERROR_REPORT = "conversion-errors.jsonl"
BATCH_BYTES = 32 * 2**20
"""Input bytes a worker converts into one part file of the dataset (with ``jobs > 1``)."""
BATCHES_PER_JOB = 8
"""Fewest batches per converting process: the smaller the batches, the less the others wait on the last."""
ON_ERROR = ("fail", "skip")
@dataclass
class FileResult:
    """What converting one file gave: its trajectories, how each record was recognised, what went wrong."""

    name: str
    trajectories: list[Trajectory] = field(default_factory=list)
    detections: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(format, version) -> reason`` for every kind of record in the file."""
    refused: str | None = None
    errors: list[Problem] = field(default_factory=list)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    """``(format, version) -> trajectories`` converted."""
    redactions: Counter[str] = field(default_factory=Counter)
    """Secrets replaced, by type (``--redact``)."""
    evaluated: set[str] = field(default_factory=set)
    """Instances of its trajectories that an ``--eval`` result was joined to."""
    continues: bool = False
    """Whether this is the result of a piece of the file that more pieces follow (see :meth:`absorb`)."""

    def absorb(self, piece: FileResult) -> None:
        """Add the result of the file's next piece."""
        self.trajectories += piece.trajectories
        for key, reason in piece.detections.items():
            self.detections.setdefault(key, reason)
        self.errors += piece.errors
        for key, count in piece.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        self.redactions.update(piece.redactions)
        self.evaluated |= piece.evaluated
        self.continues = piece.continues


@dataclass(frozen=True)
class RunContext:
    """What converting any file of a run needs to know (picklable: worker processes get it)."""

    source: str | None = None
    """The ``--from`` format, or None to detect."""
    patches: dict[str, str] = field(default_factory=dict)
    """Patches of predictions files beside the trajectories, by instance id."""
    outcomes: Outcomes = field(default_factory=Outcomes)
    """``--eval`` results, by instance id."""
    redact: bool = False
    """Replace secrets with typed placeholders (``--redact``)."""


@dataclass
class Batch:
    """Files a worker process converts and writes into one part file of the dataset."""

    files: list[InputFile]
    part: Path
    results: list[FileResult] = field(default_factory=list)
    written: list[tuple[str, int, int]] = field(default_factory=list)
    """(id, steps, messages) of the trajectories in ``part``, in order."""
    sources: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """id -> (format, version, source file) of each trajectory in ``part``."""
    duplicates: int = 0
    cpu_seconds: float = 0.0


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


# --------------------------------------------------------------------------------------- one record


class Refused(Exception):
    """A record srft recognises but does not convert (a predictions file, a run configuration)."""


def choose_converter(record: SourceRecord, forced: Converter | None = None) -> tuple[Converter, Detection]:
    """The converter for a record and why; :class:`Refused` for known run files that hold no trajectory
    (predictions, configurations), :class:`SrftError` for anything unknown."""
    reason = run_files.explain(record.data)
    if reason is not None:
        raise Refused(reason)
    for converter in (forced,) if forced else converters():
        detection = converter.detect(record)
        if detection is not None:
            return converter, detection
    raise SrftError(Problem(_unrecognised(record.data, forced)))


def _unrecognised(data: Any, forced: Converter | None) -> str:
    known_unsupported = unsupported.describe_record(data)
    if known_unsupported is not None and not forced:
        return known_unsupported
    if isinstance(data, dict):
        shape = f"an object with keys {', '.join(sorted(data)[:8])}" + (", ..." if len(data) > 8 else "")
    elif isinstance(data, list):
        shape = f"a list of {len(data)} item(s)"
    else:
        shape = f"a {type(data).__name__}"
    if forced:
        return f"not a {forced.name} record ({shape})"
    known = ", ".join(c.name for c in converters())
    return f"not a recognised trajectory format ({shape}); formats read: {known} (see srft convert --list)"


def records_with_converters(record: SourceRecord, forced: Converter | None = None
                            ) -> Iterator[tuple[SourceRecord, Converter, Detection]]:
    """The record with its converter, or, for an unclaimed JSON list, each element with its own."""
    try:
        yield (record, *choose_converter(record, forced))
    except SrftError:
        if record.line is not None or not is_list_of_objects(record.data):
            raise
        for element in split_list(record):
            try:
                chosen = choose_converter(element, forced)
            except SrftError as exc:
                raise SrftError([Problem(p.message, f"[{element.offset}]") for p in exc.problems]) from None
            yield (element, *chosen)


def _locate(problems: Iterable[Problem], record: SourceRecord, whole: bool) -> list[Problem]:
    """Problems located at the record: its line in a JSONL file, or its position in a JSON list."""
    prefix = "" if whole or record.line is not None else f"[{record.offset}]"
    return [Problem(p.message, f"{prefix}{'.' if prefix and p.path and p.path[0] != '[' else ''}{p.path}",
                    record.file, record.line) for p in problems]


def convert_record(record: SourceRecord, converter: Converter, detection: Detection) -> list[Trajectory]:
    """The checked trajectories of one record; any failure is a located :class:`SrftError`."""
    try:
        trajectories = list(converter.convert(record, detection))
    except SrftError as exc:
        raise SrftError([Problem(f"{p.message} ({converter.name} {detection.version})", p.path)
                         for p in exc.problems]) from None
    except ValidationError as exc:  # a source value of the wrong type reached a model field
        raise SrftError([Problem(f"{converter.name} {detection.version}: a source value does not fit the "
                                 f"format's {p.path or 'record'}: {p.message}")
                         for p in problems_from_validation_error(exc)]) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise SrftError(Problem(f"{converter.name} {detection.version}: unexpected data "
                                f"({type(exc).__name__}: {exc})")) from None
    for traj in trajectories:
        problems = check_trajectory(traj)
        if problems:
            raise SrftError([Problem(f"converted trajectory is invalid: {p.message}", p.path)
                             for p in problems])
    return trajectories


# ----------------------------------------------------------------------------------------- one file


def iter_file(source: InputFile, result: FileResult, context: RunContext = RunContext(),
              fail_fast: bool = True) -> Iterator[Trajectory]:
    """The trajectories of one file as they are converted and checked, completed with the run's patches and
    outcomes (and redacted, with ``context.redact``); ``result`` gathers the rest: errors (the first one ends
    the file when ``fail_fast``), detections, counts, redactions.

    A file whose first record is a run file (predictions, a configuration) is refused whole; such a record
    anywhere else is an error of its own."""
    converter = get_converter(context.source) if context.source else None
    given = False
    not_read = unsupported.describe_file(source.name)
    if not_read is not None:
        result.errors.append(Problem(not_read, file=source.name))
        return
    try:
        for item in iter_records(source):
            if isinstance(item, RecordError):
                result.errors.append(item.problem)
            else:
                for traj in _converted(result, item, converter):
                    given = True
                    yield _finished(traj, context, result)
                if result.refused and (given or item.offset > 0):
                    result.errors.append(Problem(f"not a trajectory record: {result.refused}", file=source.name,
                                                 line=item.line))
                    result.refused = None
            if result.refused or (fail_fast and result.errors):
                break
    except SrftError as exc:
        result.errors.extend(p.located(source.name) for p in exc.problems)
    if result.refused:
        result.errors = []


def convert_file(source: InputFile, context: RunContext = RunContext(), fail_fast: bool = True) -> FileResult:
    """:func:`iter_file` with the trajectories kept in the result (for one file at a time)."""
    result = FileResult(source.name)
    result.trajectories = list(iter_file(source, result, context, fail_fast))
    return result


def _finished(traj: Trajectory, context: RunContext, result: FileResult) -> Trajectory:
    """The trajectory completed from the run, counted, and redacted last (patches and outcomes joined from the
    run are redacted too)."""
    _complete(traj, context)
    if traj.task.instance_id in context.outcomes:
        result.evaluated.add(traj.task.instance_id)
    assert traj.provenance is not None
    key = (traj.provenance.source_format, traj.provenance.source_version or "")
    result.counts[key] = result.counts.get(key, 0) + 1
    return _redacted(traj, result.redactions) if context.redact else traj


def source_of(traj: Trajectory) -> tuple[str, str, str]:
    """(format, version, source file) of a converted trajectory, for the manifest's sources."""
    assert traj.provenance is not None
    return traj.provenance.source_format, traj.provenance.source_version or "", traj.provenance.source_file or ""


def _redacted(traj: Trajectory, counts: Counter[str]) -> Trajectory:
    clean, found = redact_trajectory(traj)
    counts.update(found)
    return clean


def _complete(traj: Trajectory, context: RunContext) -> None:
    """Fill in what the record lacks from the run: a predictions file's patch, an evaluation's verdict."""
    if traj.outcome.patch is None and traj.task.instance_id in context.patches:
        traj.outcome.patch = context.patches[traj.task.instance_id]
        traj.outcome.extra["patch_from"] = "predictions file"
    if context.outcomes:
        apply_outcomes(traj, context.outcomes)


def _converted(result: FileResult, record: SourceRecord, forced: Converter | None) -> Iterator[Trajectory]:
    """The trajectories of one record; its problems, detections and refusal go to ``result``."""
    whole = record.line is None
    try:
        for element, converter, detection in records_with_converters(record, forced):
            try:
                trajectories = convert_record(element, converter, detection)
            except SrftError as exc:
                result.errors += _locate(exc.problems, element, whole and element is record)
                continue
            result.detections.setdefault((converter.name, detection.version), detection.reason)
            yield from trajectories
    except Refused as exc:
        result.refused = str(exc)
    except SrftError as exc:
        result.errors += _locate(exc.problems, record, whole)


# ------------------------------------------------------------------------------------------ workers


_WORKER_RUN: tuple[RunContext, bool] = (RunContext(), True)
"""The run's context and ``fail_fast``, set in each worker process by :func:`_start_worker`."""


def _start_worker(context: RunContext, fail_fast: bool) -> None:
    """Pool initializer: the run's context, and the GC thresholds of :func:`fewer_gc_pauses`."""
    global _WORKER_RUN
    _WORKER_RUN = (context, fail_fast)
    gc.set_threshold(*GC_THRESHOLDS)


def _worker_processes() -> multiprocessing.context.BaseContext:
    """Workers forked from a server that imported everything they use once (spawn where fork is unavailable).

    The server preloads the converters and pandas, which pyarrow imports when it first builds a table."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "pandas", *(f"{__package__}.{name}" for name in CONVERTERS)])
    return context


def _convert_batch(batch: Batch) -> Batch:
    """In a worker: :func:`_run_batch` with the run's context, timed."""
    started = time.process_time()
    _run_batch(batch, *_WORKER_RUN)
    batch.cpu_seconds = time.process_time() - started
    return batch


def _run_batch(batch: Batch, context: RunContext, fail_fast: bool) -> Batch:
    """Convert the batch's files and stream their trajectories (each id once) into its part."""
    seen: set[str] = set()

    def trajectories() -> Iterator[Trajectory]:
        for source in batch.files:
            result = FileResult(source.name, continues=source.lines is not None and not source.lines.last)
            batch.results.append(result)
            for traj in iter_file(source, result, context, fail_fast):
                if traj.id in seen:
                    batch.duplicates += 1
                    continue
                seen.add(traj.id)
                batch.written.append((traj.id, len(traj.steps), len(traj.messages)))
                batch.sources[traj.id] = source_of(traj)
                yield traj
            if result.errors and fail_fast:
                return

    write_records(batch.part, trajectories(), Trajectory)
    return batch


def _batches(files: list[InputFile], jobs: int) -> list[list[InputFile]]:
    """Consecutive files grouped into batches of at most :data:`BATCH_BYTES` of input, and at least
    :data:`BATCHES_PER_JOB` batches per process so that they finish together; a JSON Lines file bigger than a
    batch is split into batch-sized pieces of whole lines."""
    sizes = [input_size(f) for f in files]
    target = max(1, min(BATCH_BYTES, sum(sizes) // (BATCHES_PER_JOB * jobs)))
    batches: list[list[InputFile]] = []
    filled = target
    for source, size in zip(files, sizes):
        for piece in _pieces(source, size, target):
            if filled >= target:
                batches.append([])
                filled = 0
            batches[-1].append(piece)
            filled += piece.lines.stop - piece.lines.start if piece.lines else size
    return batches


def _pieces(source: InputFile, size: int, target: int) -> list[InputFile]:
    """The file, split into pieces of about ``target`` bytes when it is JSON Lines bigger than that; not when its
    first record is a run file's (which refuses the whole file), nor when it cannot be read (one process
    reports that, as for any file)."""
    if size <= target or not is_splittable(source):
        return [source]
    try:
        first = next(iter_records(source), None)
        if isinstance(first, SourceRecord) and run_files.explain(first.data) is not None:
            return [source]
        return split_json_lines(source, target)
    except (SrftError, OSError):
        return [source]


def prediction_patches(files: Iterable[InputFile]) -> dict[str, str]:
    """Patches of the predictions files among the inputs (SWE-agent run directories), by instance id."""
    found: dict[str, str] = {}
    for source in files:
        if predictions.is_predictions_file_name(source.name):
            for item in iter_records(source):
                if isinstance(item, SourceRecord):
                    found.update(predictions.patches(item.data))
    return found


def convert_paths(inputs: Iterable[str], output: str | os.PathLike, *, source: str | None = None,
                  eval_paths: Iterable[str] = (), jobs: int = 1, on_error: str = "fail",
                  storage: str = "parquet", progress: bool = False, redact: bool = False) -> Summary:
    """Convert source files into the dataset at ``output`` (created, or appended to when it exists)."""
    if on_error not in ON_ERROR:
        raise SrftError(f"--on-error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
    started = time.perf_counter()
    source = None if source in (None, "auto") else get_converter(source).name  # unknown names fail here
    files = expand_inputs(inputs)
    eval_paths = list(eval_paths)
    context = RunContext(source, prediction_patches(files), load_outcomes(eval_paths) if eval_paths else Outcomes(),
                         redact)
    fail_fast = on_error == "fail"
    summary = Summary(output=str(output), files=len(files))
    mode = "append" if is_dataset(output) else "create"
    storage_of_new = storage if mode == "create" else None  # an append keeps the dataset's own storage
    with fewer_gc_pauses(), DatasetWriter(output, mode=mode, storage=storage_of_new) as writer, \
            _progress(len(files), progress) as advance:
        batches = _batches(files, jobs) if jobs > 1 else []
        if len(batches) > 1:
            _convert_in_workers(batches, (context, fail_fast), jobs, writer, summary, advance)
        else:
            for source_file in files:  # streamed: a file's trajectories go to the writer as they come
                result = FileResult(source_file.name)
                for traj in iter_file(source_file, result, context, fail_fast):
                    if writer.add(traj):
                        summary.added(source_of(traj))
                        summary.trajectories += 1
                        summary.steps += len(traj.steps)
                    else:
                        summary.duplicates += 1
                advance()
                _record_file(summary, writer, result, fail_fast)
        if not writer.added and not writer.duplicates and mode == "create":
            raise SrftError(Problem(f"nothing converted ({_why_nothing(summary)})", file=str(output)))
        for (fmt, version), (trajectories, source_files) in summary.sources_added.items():
            writer.add_source(fmt, version, files=len(source_files), trajectories=trajectories)
        _mark_redaction(writer, summary.redactions if redact else None)
    summary.eval_skipped = context.outcomes.skipped if eval_paths else []
    summary.eval_unmatched = sorted(set(context.outcomes) - summary.evaluated)
    summary.error_report = _write_error_report(Path(output), summary.errors)
    summary.seconds = time.perf_counter() - started
    return summary


class _Schedule:
    """Batches handed out from both ends: to the worker processes from the front, the next one as soon as a
    worker finishes one, and to this process from the back. The ends meet, so every batch this process
    converts comes after every batch a worker converts.

    The workers start in a thread, right away (starting them waits for the fork server to import the
    converters), so this process converts meanwhile; :meth:`close` stops them."""

    def __init__(self, batches: list[Batch], workers: int, run: tuple[RunContext, bool]) -> None:
        self.todo = deque(batches)
        self.at_workers: deque[AsyncResult[Batch]] = deque()
        """What the workers convert, in input order."""
        self.lock = threading.Lock()
        self.pool: Pool | None = None
        self.error: BaseException | None = None
        self.closed = False
        self.starting = threading.Thread(target=self._start, args=(workers, run), daemon=True)
        self.starting.start()

    def close(self) -> None:
        self.starting.join()
        with self.lock:
            self.closed = True  # no more batches for the workers, even if some are left
        if self.pool is not None:
            self.pool.terminate()

    def _start(self, workers: int, run: tuple[RunContext, bool]) -> None:
        try:
            self.pool = _worker_processes().Pool(workers, initializer=_start_worker, initargs=run)
        except Exception as exc:  # noqa: BLE001 (raised again by converted_by_workers, in the main thread)
            self.error = exc
            return
        for _ in range(workers):
            self._feed_worker()

    def _feed_worker(self, _: object = None) -> None:
        """Queue the front batch for the workers; the pool calls this again whenever one is converted."""
        assert self.pool is not None
        with self.lock:
            if self.todo and not self.closed:
                self.at_workers.append(self.pool.apply_async(_convert_batch, (self.todo.popleft(),),
                                                             callback=self._feed_worker))

    def take_back(self) -> Batch | None:
        with self.lock:
            return self.todo.pop() if self.todo else None

    def converted_by_workers(self) -> Iterator[Batch]:
        """The workers' batches in order, waiting for each: when this process has no batch left to take."""
        self.starting.join()
        if self.error is not None:
            raise self.error
        while self.at_workers:
            yield self.at_workers.popleft().get()

    def ready_from_workers(self) -> Iterator[Batch]:
        """The workers' batches that are converted, in order, up to the first one that is not."""
        while self.at_workers and self.at_workers[0].ready():
            yield self.at_workers.popleft().get()


def _convert_in_workers(groups: list[list[InputFile]], run: tuple[RunContext, bool], jobs: int,
                        writer: DatasetWriter, summary: Summary, advance: Callable[[], None]) -> None:
    """``jobs - 1`` worker processes and this one convert batches of files (see :class:`_Schedule`), each into
    a part file; the dataset adopts the parts in input order, the workers' as they come."""
    batches = [Batch(files, writer.new_part_path()) for files in groups]
    here: list[Batch] = []
    adopted: set[Path] = set()
    unfinished: list[FileResult] = []
    """The result so far of a file split into pieces, until its last piece comes."""

    def take(batch: Batch) -> None:
        for result in batch.results:
            if unfinished:
                unfinished[0].absorb(result)
                result = unfinished.pop()
            if result.continues and not (result.errors and run[1]):
                unfinished.append(result)
                continue
            advance()
            _record_file(summary, writer, result, run[1])
        summary.duplicates += batch.duplicates
        summary.worker_cpu_seconds += batch.cpu_seconds
        if batch.written:
            _adopt(writer, batch, summary)
            adopted.add(batch.part)

    schedule = _Schedule(batches, min(jobs - 1, len(batches)), run)
    try:
        while (batch := schedule.take_back()) is not None:
            here.append(_run_batch(batch, *run))
            for converted in schedule.ready_from_workers():
                take(converted)
        for converted in schedule.converted_by_workers():
            take(converted)
        for batch in reversed(here):
            take(batch)
    finally:
        schedule.close()
        for batch in batches:
            if batch.part not in adopted:
                batch.part.unlink(missing_ok=True)


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


def _record_file(summary: Summary, writer: DatasetWriter, result: FileResult, fail_fast: bool) -> None:
    """Account for one file: its errors (the first one ends a fail-fast run), refusal, formats, redactions."""
    summary.redactions.update(result.redactions)
    summary.evaluated |= result.evaluated
    if result.errors and fail_fast:
        first = result.errors[0]
        if summary.files > 1:  # a mixed folder: say how to convert the rest
            first = replace(first, message=f"{first.message} (stopped at this file; --on-error skip converts the "
                                           f"other files and lists each one that fails)")
        raise SrftError(first)
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


class _progress:
    """A rich progress bar over files when asked for (on a terminal); otherwise a no-op."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.bar = total, enabled, None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("converting", total=self.total)
        return lambda: self.bar.advance(task) if self.bar else None

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def on_terminal() -> bool:
    return sys.stderr.isatty()
