"""Running a critic over a dataset: resume, pre-filter, batched commits, progress.

Verdicts are committed in batches (every ``batch_steps`` verdicts or ``batch_seconds`` seconds): each batch is
one atomic append to the dataset, so a run killed at any moment loses at most the batch in flight, and a
re-run skips every step that already has a verdict from this annotator (so nothing is labeled twice), except
``unknown`` verdicts left by requests the endpoint rejected: those are removed and asked again (unless
``keep_failed``). Each commit checks new verdicts against an index of this annotator's keys: O(batch).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from srft_format.dataset import Dataset, DatasetWriter, drop_verdicts
from srft_format.errors import Problem, SrftError
from srft_format.models import Label, Trajectory, Verdict
from srft_format.runtime import fewer_gc_pauses

from .base import Critic, PlannedCall, StopRun


@dataclass
class RunStats:
    total_steps: int = 0
    labels: Counter = field(default_factory=Counter)
    already_done: int = 0
    excluded: int = 0
    prefiltered: int = 0
    committed: int = 0
    batches: int = 0
    passed: int = 0
    """Steps the critic examined and left without a verdict (e.g. no rule fired)."""
    retried: int = 0
    """``unknown`` verdicts of failed requests from an earlier run, asked again."""
    stopped: str | None = None

    @property
    def labeled(self) -> int:
        return sum(self.labels.values())

    @property
    def seen(self) -> int:
        """Steps accounted for so far (labeled, skipped, or passed over by the critic)."""
        return self.labeled + self.already_done + self.excluded + self.prefiltered + self.passed


Progress = Callable[[RunStats], None]


@dataclass
class Work:
    """One trajectory and the steps of it a critic still has to look at."""

    traj: Trajectory
    steps: list[int]


class AnnotationRun:
    """Which steps of a dataset a critic still has to label."""

    def __init__(self, path: str | os.PathLike, critic: Critic, *, prefilter: str | None = None,
                 limit: int | None = None, keep_failed: bool = False):
        self.path = Path(path)
        self.dataset = Dataset.open(self.path)
        self.critic = critic
        self.limit = limit
        declared = self.dataset.annotators.get(critic.id)
        if declared is not None and not declared.evidence and \
                declared == critic.annotator.model_copy(update={"evidence": []}):
            critic.annotator = declared  # declared before format 1.1 recorded evidence: the same critic resumes
        if declared is not None and declared != critic.annotator:
            raise SrftError(Problem(
                f"annotator {critic.id!r} is already declared with a different definition "
                f"(kind={declared.kind.value}, model={declared.model!r}, prompt={declared.prompt!r}); "
                "choose another --annotator-id", "annotators", file=str(self.path / "manifest.json")))
        if prefilter is not None and prefilter not in self.dataset.annotators:
            raise SrftError(Problem(f"--prefilter {prefilter!r} is not a declared annotator",
                                    file=str(self.path / "manifest.json")))
        self.done: set[tuple[str, int]] = set()
        self.flagged: set[tuple[str, int]] = set()
        self.failed: set[tuple[str, int, str]] = set()
        """This annotator's ``unknown`` verdicts of rejected requests, to ask again."""
        for rec in self.dataset.verdicts():
            if rec.annotator == critic.id:
                if not keep_failed and rec.label is Label.unknown and "rejected" in rec.extra:
                    self.failed.add((rec.trajectory, rec.step, rec.annotator))
                    continue
                self.done.add((rec.trajectory, rec.step))
            elif rec.annotator == prefilter and rec.label is Label.incorrect:
                self.flagged.add((rec.trajectory, rec.step))
        self.stats = RunStats(total_steps=self.dataset.manifest.counts.steps, retried=len(self.failed))
        self.verdict_keys = {(t, s, critic.id) for t, s in self.done}
        """Every key this run's verdicts may collide with, kept up to date by each commit."""
        self.step_counts: dict[str, int] = {}
        """Steps per trajectory read so far: lets each batch commit skip re-reading the trajectories."""

    def work(self) -> Iterator[Work]:
        """Trajectories with at least one step left to label (counting what is skipped, and why)."""
        for n, traj in enumerate(self.dataset.trajectories()):
            if self.limit is not None and n >= self.limit:
                return
            self.step_counts[traj.id] = len(traj.steps)
            todo = []
            for step in traj.steps:
                key = (traj.id, step.index)
                if step.exclude:
                    self.stats.excluded += 1
                elif key in self.done:
                    self.stats.already_done += 1
                elif key in self.flagged:
                    self.stats.prefiltered += 1
                else:
                    todo.append(step.index)
            if todo:
                yield Work(traj, todo)

    def plan(self) -> list[PlannedCall]:
        return [call for item in self.work() for call in self.critic.plan(item.traj, item.steps)]


class VerdictSink:
    """Collects verdicts and appends them to the dataset in atomic batches, one write at a time."""

    def __init__(self, run: AnnotationRun, batch_steps: int, batch_seconds: float):
        self.run = run
        self.batch_steps = batch_steps
        self.batch_seconds = batch_seconds
        self.pending: list[tuple[str, Verdict]] = []
        self.last_flush = time.monotonic()
        self.writes: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()

    def add(self, traj_id: str, verdict: Verdict) -> None:
        key = (traj_id, verdict.step)
        if key in self.run.done:  # a critic emitting twice for one step must not duplicate it
            return
        self.run.done.add(key)
        self.pending.append((traj_id, verdict))
        self.run.stats.labels[verdict.label.value] += 1
        if len(self.pending) >= self.batch_steps or time.monotonic() - self.last_flush >= self.batch_seconds:
            self.flush()

    def flush(self) -> None:
        """Start committing what is pending (in a thread; commits run one after another)."""
        batch, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        if batch:  # the step counts are copied here, on the loop thread that keeps adding to them
            task = asyncio.get_running_loop().create_task(self._write(batch, dict(self.run.step_counts)))
            self.writes.add(task)
            task.add_done_callback(self.writes.discard)

    async def close(self) -> None:
        self.flush()
        while self.writes:
            await asyncio.gather(*self.writes)
        if self.run.critic.id not in self.run.dataset.annotators and not self.run.stats.committed:
            # declared even with 0 verdicts, so `srft agree` can compare against it (0 labels, not "unknown id")
            await self._write([], dict(self.run.step_counts))

    async def _write(self, batch: list[tuple[str, Verdict]], step_counts: dict[str, int]) -> None:
        async with self._lock:
            await asyncio.to_thread(self._commit, batch, step_counts)

    def _commit(self, batch: list[tuple[str, Verdict]], step_counts: dict[str, int]) -> None:
        with DatasetWriter(self.run.path, mode="append", known_steps=step_counts,
                           verdict_keys=self.run.verdict_keys) as out:
            out.declare_annotator(self.run.critic.annotator)
            for traj_id, verdict in batch:
                out.add_verdict(traj_id, verdict)
        self.run.stats.committed += len(batch)
        self.run.stats.batches += bool(batch)


async def annotate(run: AnnotationRun, *, concurrency: int = 8, batch_steps: int = 500,
                   batch_seconds: float = 5.0, progress: Progress | None = None) -> RunStats:
    """Label every step left in ``run``; commits in batches; stops early (keeping its work) on :class:`StopRun`.

    ``concurrency`` bounds the trajectories in flight; a critic bounds its own model calls.
    """
    if run.failed:
        drop_verdicts(run.path, run.failed)
    sink = VerdictSink(run, batch_steps, batch_seconds)
    stats = run.stats
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task] = set()

    async def one(item: Work) -> None:
        emitted = 0

        def emit(verdict: Verdict) -> None:
            nonlocal emitted
            emitted += 1
            sink.add(item.traj.id, verdict)
            if progress:
                progress(stats)

        try:
            await run.critic.label(item.traj, item.steps, emit)
            stats.passed += len(item.steps) - emitted
        except StopRun as exc:
            stats.stopped = stats.stopped or str(exc)
        finally:
            slots.release()
            if progress:
                progress(stats)

    try:
        with fewer_gc_pauses():
            for item in run.work():
                await slots.acquire()
                if stats.stopped:
                    slots.release()
                    break
                task = asyncio.create_task(one(item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await sink.close()
        await run.critic.aclose()
    return stats
