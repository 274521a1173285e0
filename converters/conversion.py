"""Conversion of one record and one file: choose the converter, convert, check, complete from the run.

For each file: split it into records (:mod:`.reader`), choose a converter for each record (each converter's
``detect``, in registry order, or the one named by ``--from``), convert, check every trajectory, and complete it
with what the run knows (a predictions file's patch, an evaluation's verdict; redaction last). Files of a run
that hold no trajectory (predictions, configurations, exit statuses, evaluation output: :mod:`.run_files`) are
recognised by their first record and refused with a reason. :mod:`.scheduler` runs this over batches of files,
in worker processes; :mod:`.pipeline` hands the results to the dataset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from srft_format.errors import Problem, SrftError, problems_from_validation_error
from srft_format.models import Trajectory
from srft_format.redact import redact_trajectory
from srft_format.validate import check_trajectory

from . import predictions, run_files, unsupported
from .base import Converter, Detection, SourceRecord
from .outcomes import Outcomes, apply_outcomes
from .reader import InputFile, RecordError, is_list_of_objects, iter_records, split_list
from .registry import converters, get_converter


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
    predictions_files: frozenset[str] = frozenset()
    """Input files already read as predictions files (for ``patches``): refused without reading them again."""


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


def unrecognised_files(sources: Iterable[InputFile], forced: Converter | None = None) -> list[str]:
    """The names of the files whose first record no converter reads (a cheap look, no conversion): what a
    fail-fast run that stopped at one such file says of the rest."""
    names = []
    for source in sources:
        try:
            first = next(iter_records(source), None)
            if isinstance(first, RecordError):
                names.append(source.name)
            elif first is not None:
                next(records_with_converters(first, forced))
        except Refused:
            continue
        except SrftError:
            names.append(source.name)
    return names


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


def iter_file(source: InputFile, result: FileResult, context: RunContext = RunContext(),
              fail_fast: bool = True) -> Iterator[Trajectory]:
    """The trajectories of one file as they are converted and checked, completed with the run's patches and
    outcomes (and redacted, with ``context.redact``); ``result`` gathers the rest: errors (the first one ends
    the file when ``fail_fast``), detections, counts, redactions.

    A file whose first record is a run file (predictions, a configuration) is refused whole; such a record
    anywhere else is an error of its own."""
    converter = get_converter(context.source) if context.source else None
    given = False
    if source.name in context.predictions_files and source.lines is None:
        result.refused = predictions.REFUSAL
        return
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


def prediction_patches(files: Iterable[InputFile]) -> tuple[dict[str, str], frozenset[str]]:
    """Patches of the predictions files among the inputs (SWE-agent run directories), by instance id, and the
    names of the files they came from (read once: the conversion refuses them by name)."""
    found: dict[str, str] = {}
    names: set[str] = set()
    for source in files:
        if predictions.is_predictions_file_name(source.name):
            records = [item for item in iter_records(source) if isinstance(item, SourceRecord)]
            if records and all(predictions.is_predictions(item.data) for item in records):
                names.add(source.name)
                for item in records:
                    found.update(predictions.patches(item.data))
    return found, frozenset(names)
