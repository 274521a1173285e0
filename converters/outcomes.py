"""Join ``resolved`` from SWE-bench evaluation output onto trajectories (``srft convert --eval PATH``).

Readable evaluation files (detected from their content, not their names):

* per-instance ``report.json`` of the SWE-bench harness (``logs/run_evaluation/<run>/<model>/<id>/``):
  ``{instance_id: {resolved, tests_status: {FAIL_TO_PASS: {success, failure}, PASS_TO_PASS: ...}}}``;
* per-instance reports as SWE-smith's harness (``swesmith/harness/eval.py``) writes them: *bare*
  ``{resolved, tests_status, ...}`` at ``<run>/<instance_id>/report.json`` (the directory names the instance),
  and ``{"timed_out": true, "timeout": N}`` for an instance that timed out (not resolved);
* run summaries ``<model>.<run_id>.json`` (harness) and OpenHands ``report.json``: ``resolved_ids``,
  ``unresolved_ids``, ``empty_patch_ids``, ``error_ids`` (the last two count as not resolved); SWE-smith's
  ``report.json``: ``ids_resolved`` / ``ids_unresolved``;
* OpenHands ``output.swebench_eval.jsonl`` (``test_result.report.resolved``) and ``output.jsonl`` rows that
  ``update_output_with_eval.py`` gave a top-level ``report``.

A directory is searched recursively for ``*.json`` / ``*.jsonl`` (also ``.gz`` / ``.zst``); files there
that are no evaluation output are skipped and listed (``Outcomes.skipped``, said in the run's summary), while a
file named directly must be one. An instance that no evaluation mentions keeps ``resolved = null``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from srft_format.errors import Problem, SrftError, json_error
from srft_format.jsonl import iter_lines, read_input
from srft_format.models import Evaluation, Trajectory

from .reader import base_name

EVAL_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".json.zst", ".jsonl.zst")
EVALUATION_REFUSAL = ("this is SWE-bench evaluation output (resolved per instance), not a trajectory: "
                      "give it to --eval")
TRAJECTORY_KEYS = frozenset({"history", "messages", "trajectory"})
SUMMARY_LISTS = {"resolved_ids": True, "unresolved_ids": False, "empty_patch_ids": False, "error_ids": False,
                 "ids_resolved": True, "ids_unresolved": False}
"""Run-summary id lists and the ``resolved`` they imply (the harness counts empty/errored as unresolved);
``ids_*``: SWE-smith's names."""
BARE_REPORT_KEYS = frozenset({"tests_status", "patch_is_None", "patch_exists", "patch_successfully_applied"})
"""Keys of a per-instance report besides ``resolved``: a bare one (SWE-smith) has some of them at the top."""


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation says about one instance."""

    resolved: bool
    source: str
    """The evaluation file (and which list or field of it)."""
    fail_to_pass: list[str] | None = None
    pass_to_pass: list[str] | None = None
    tests_failed: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Outcomes(dict[str, EvalResult]):
    """Instance id -> its evaluation; a later file overrides an earlier one for the same instance.

    ``skipped``: the files of a searched directory that hold no evaluation, with why."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.skipped: list[tuple[str, str]] = []


class NotEvaluation(Exception):
    """A document that is no evaluation output (skipped when found while searching a directory)."""


def load_outcomes(paths: Iterable[str | os.PathLike]) -> Outcomes:
    """Every instance result in the evaluation files or directories ``paths``, in order."""
    outcomes = Outcomes()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted((p for p in path.rglob("*") if p.is_file() and p.name.endswith(EVAL_SUFFIXES)),
                           key=lambda p: (len(p.parts), p))  # a run's summary before its per-instance reports
            if not found:
                raise SrftError(Problem("no evaluation files (.json, .jsonl) in this directory", file=str(path)))
            for file in found:
                try:
                    outcomes.update(read_eval_file(file))
                except NotEvaluation as exc:
                    outcomes.skipped.append((str(file), f"not evaluation output: {exc}"))
        else:
            try:
                outcomes.update(read_eval_file(path))
            except NotEvaluation as exc:
                raise SrftError(Problem(f"not a SWE-bench evaluation file: {exc}", file=str(path))) from None
    return outcomes


def read_eval_file(path: Path) -> Outcomes:
    """The results in one file; :class:`NotEvaluation` when it holds none."""
    name = str(path)
    if base_name(path.name).endswith(".jsonl"):
        results = Outcomes()
        for line, raw in iter_lines(path):
            results.update(_eval_row(_loads(raw, name, line), f"{name}:{line}", name, line))
        if not results:
            raise NotEvaluation("no line has an instance_id with a report")
        return results
    return _document(_loads(read_input(path), name, None), name, path.resolve().parent.name)


def _loads(raw: bytes, file: str, line: int | None) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SrftError(Problem(json_error(raw), file=file, line=line)) from None


def _document(data: Any, source: str, folder: str = "") -> Outcomes:
    """The results of one JSON document; ``folder`` (the name of the file's directory) names the instance of a
    bare report."""
    if isinstance(data, dict) and any(key in data for key in SUMMARY_LISTS):
        return _summary(data, source)
    if is_timed_out(data):
        return Outcomes({folder: EvalResult(resolved=False, source=f"{source} (timed out)", extra=dict(data))})
    if is_bare_report(data):
        return Outcomes({folder: _instance_report(data, source)})
    if isinstance(data, dict) and data and all(_is_instance_report(v) for v in data.values()):
        return Outcomes({iid: _instance_report(report, source) for iid, report in data.items()})
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        results = Outcomes()
        for i, row in enumerate(data):
            results.update(_eval_row(row, f"{source}[{i}]", source, None))
        if results:
            return results
    raise NotEvaluation("expected a report.json ({instance_id: {resolved, tests_status}}, or bare "
                        "{resolved, tests_status} in <instance_id>/report.json), a run summary (resolved_ids / "
                        "ids_resolved ...) or OpenHands eval rows (instance_id + report)")


def is_bare_report(data: Any) -> bool:
    """SWE-smith's per-instance report: ``{resolved, tests_status, patch_...}`` without the instance id."""
    return _is_instance_report(data) and not BARE_REPORT_KEYS.isdisjoint(data) and "instance_id" not in data


def is_timed_out(data: Any) -> bool:
    """SWE-smith's report of an instance whose evaluation timed out: ``{"timed_out": true, "timeout": N}``."""
    return isinstance(data, dict) and data.get("timed_out") is True and set(data) <= {"timed_out", "timeout"}


def evaluation_refusal(data: Any) -> str | None:
    """Why a record of evaluation output is not converted (for ``srft convert``); None for anything else."""
    rows = data if isinstance(data, list) else [data]
    if any(isinstance(row, dict) and not TRAJECTORY_KEYS.isdisjoint(row) for row in rows):
        return None
    try:
        found = _eval_row(data, "", "", None) if isinstance(data, dict) and "instance_id" in data \
            else _document(data, "")
    except (NotEvaluation, SrftError):
        return None
    return EVALUATION_REFUSAL if found else None


def _summary(data: Mapping[str, Any], source: str) -> Outcomes:
    results = Outcomes()
    for key, resolved in SUMMARY_LISTS.items():
        ids = data.get(key) or []
        if not isinstance(ids, list):
            raise SrftError(Problem(f"expected a list of instance ids, got {type(ids).__name__}", key,
                                    source))
        for iid in ids:
            results[str(iid)] = EvalResult(resolved=resolved, source=f"{source} ({key})")
    return results


def _is_instance_report(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("resolved"), bool)


def _instance_report(report: Mapping[str, Any], source: str) -> EvalResult:
    status = report.get("tests_status") or {}
    f2p, p2p = status.get("FAIL_TO_PASS") or {}, status.get("PASS_TO_PASS") or {}
    extra = {k: v for k, v in report.items() if k not in ("resolved", "tests_status")}
    other = {k: v for k, v in status.items() if k not in ("FAIL_TO_PASS", "PASS_TO_PASS")}
    if other:
        extra["tests_status"] = other
    return EvalResult(
        resolved=report["resolved"], source=source,
        fail_to_pass=_tests(f2p) if status else None, pass_to_pass=_tests(p2p) if status else None,
        tests_failed=[*f2p.get("failure", []), *p2p.get("failure", [])] if status else None, extra=extra)


def _tests(group: Mapping[str, Any]) -> list[str]:
    return [*group.get("success", []), *group.get("failure", [])]


def _eval_row(row: Any, where: str, file: str, line: int | None) -> Outcomes:
    """An OpenHands eval row: ``test_result.report`` (eval_infer) or a top-level ``report``."""
    if not isinstance(row, dict) or "instance_id" not in row:
        return Outcomes()
    test_result = row.get("test_result") if isinstance(row.get("test_result"), dict) else {}
    report = row.get("report") if isinstance(row.get("report"), dict) else test_result.get("report")
    if not isinstance(report, dict) or "resolved" not in report:
        return Outcomes()
    if not isinstance(report["resolved"], (bool, int)):
        raise SrftError(Problem(f"expected true/false, got {report['resolved']!r}", "report.resolved",
                                file, line))
    extra = {k: v for k, v in report.items() if k != "resolved"}
    return Outcomes({str(row["instance_id"]): EvalResult(resolved=bool(report["resolved"]), source=where,
                                                         extra=extra)})


def apply_outcomes(traj: Trajectory, outcomes: Mapping[str, EvalResult]) -> Trajectory:
    """Set ``outcome.resolved`` and ``outcome.evaluation`` of ``traj`` (in place) from its instance's result.

    A trajectory whose instance no evaluation mentions is returned unchanged (``resolved`` stays what the
    source said, usually null). A value the source itself recorded and the evaluation contradicts is kept
    in ``evaluation.extra.source_resolved``.
    """
    result = outcomes.get(traj.task.instance_id or "")
    if result is None:
        return traj
    extra = dict(result.extra)
    previous = traj.outcome.evaluation
    if previous is not None and previous.source == result.source:  # joined before: what the source said stays
        extra.update((k, v) for k, v in previous.extra.items() if k in ("source_resolved", "source_evaluation"))
    else:
        if traj.outcome.resolved is not None and traj.outcome.resolved != result.resolved:
            extra["source_resolved"] = traj.outcome.resolved
        if previous is not None:
            extra["source_evaluation"] = previous.model_dump(exclude_defaults=True)
    traj.outcome.resolved = result.resolved
    traj.outcome.evaluation = Evaluation(source=result.source, fail_to_pass=result.fail_to_pass,
                                         pass_to_pass=result.pass_to_pass, tests_failed=result.tests_failed,
                                         extra=extra)
    return traj



@dataclass
class Joined:
    """What joining evaluations into a dataset did (``srft outcomes``)."""

    matched: int = 0
    """Trajectories an evaluation mentions."""
    changed: int = 0
    """Of those, the ones whose outcome changed (a second join of the same files changes none)."""
    set_from_unknown: int = 0
    """Of those, the ones whose ``resolved`` was null before."""
    unmatched: list[str] = field(default_factory=list)
    """Evaluated instances no trajectory of the dataset belongs to."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Files of a searched directory that hold no evaluation, with why."""

    def lines(self) -> list[str]:
        out = [f"skipped {name}: {reason}" for name, reason in self.skipped]
        if self.unmatched:
            shown = ", ".join(self.unmatched[:5]) + (", ..." if len(self.unmatched) > 5 else "")
            out.append(f"{len(self.unmatched)} evaluated instance(s) match no trajectory: {shown}")
        out.append(f"{self.matched} trajectories evaluated: {self.changed} changed ({self.set_from_unknown} "
                   f"resolved set where it was unknown), {self.matched - self.changed} already so")
        return out


def join_into_dataset(path: str | os.PathLike, eval_paths: Iterable[str | os.PathLike]) -> Joined:
    """Set ``resolved`` and ``evaluation`` of the dataset's trajectories from evaluation output, in place.

    Atomic (the dataset is rewritten beside itself and swapped in) and idempotent (nothing is written when no
    outcome changes)."""
    from srft_format.dataset import Dataset, DatasetWriter, to_verdict

    outcomes = load_outcomes(eval_paths)
    joined = Joined(skipped=list(outcomes.skipped))
    source = Dataset.open(path)
    seen: set[str] = set()
    for traj in source.trajectories():
        instance = traj.task.instance_id or ""
        if instance in outcomes:
            seen.add(instance)
            before = traj.outcome.model_dump()
            apply_outcomes(traj, outcomes)
            joined.matched += 1
            if traj.outcome.model_dump() != before:
                joined.changed += 1
                joined.set_from_unknown += before["resolved"] is None
    joined.unmatched = sorted(set(outcomes) - seen)
    if not joined.changed:
        return joined
    with DatasetWriter.like(source, path) as out:
        for traj in source.trajectories():
            out.add(apply_outcomes(traj, outcomes))
        for record in source.verdicts():
            out.add_verdict(record.trajectory, to_verdict(record))
    return joined
