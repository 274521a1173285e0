"""The parallel scheduler of ``srft convert --jobs N``: batches of files converted into part files, in order.

Consecutive files are grouped into batches (a big JSON Lines file is split into pieces of whole lines);
``N - 1`` worker processes and this one convert them, each batch into a part file of the dataset
(:func:`run_batch`). :func:`converted_batches` yields the batches in input order whatever ``N``; the caller
(:mod:`.pipeline`) adopts their parts into the dataset and accounts for their files.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path

from srft_format.errors import SrftError
from srft_format.io import write_records
from srft_format.models import Trajectory
from srft_format.runtime import GC_THRESHOLDS

from . import run_files
from .base import SourceRecord
from .conversion import FileResult, RunContext, iter_file, source_of
from .reader import InputFile, input_size, is_splittable, iter_records, split_json_lines
from .registry import CONVERTERS

BATCH_BYTES = 32 * 2**20
"""Input bytes converted into one part file of the dataset."""
BATCHES_PER_JOB = 8
"""Fewest batches per converting process (``jobs > 1``): the smaller the batches, the less the others wait on the
last."""
Run = tuple[RunContext, bool]
"""The run's context and ``fail_fast``."""


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
    adopted: bool = False
    """Set by the caller once the dataset took over ``part`` (a part not adopted is removed)."""


_WORKER_RUN: Run = (RunContext(), True)
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
    """In a worker: :func:`run_batch` with the run's context, timed."""
    started = time.process_time()
    run_batch(batch, *_WORKER_RUN)
    batch.cpu_seconds = time.process_time() - started
    return batch


def run_batch(batch: Batch, context: RunContext, fail_fast: bool) -> Batch:
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


def plan_batches(files: list[InputFile], jobs: int) -> list[list[InputFile]]:
    """Consecutive files grouped into batches of at most :data:`BATCH_BYTES` of input; with ``jobs > 1`` at least
    :data:`BATCHES_PER_JOB` batches per process so that they finish together, and a JSON Lines file bigger than a
    batch split into batch-sized pieces of whole lines."""
    sizes = [input_size(f) for f in files]
    if jobs == 1:
        return _groups(files, sizes, BATCH_BYTES)
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


def _groups(files: list[InputFile], sizes: list[int], target: int) -> list[list[InputFile]]:
    """Consecutive whole files, about ``target`` bytes a group."""
    groups: list[list[InputFile]] = []
    filled = target
    for source, size in zip(files, sizes):
        if filled >= target:
            groups.append([])
            filled = 0
        groups[-1].append(source)
        filled += size
    return groups


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


class _Schedule:
    """Batches handed out from both ends: to the worker processes from the front, the next one as soon as a
    worker finishes one, and to this process from the back. The ends meet, so every batch this process
    converts comes after every batch a worker converts.

    The workers start in a thread, right away (starting them waits for the fork server to import the
    converters), so this process converts meanwhile; :meth:`close` stops them."""

    def __init__(self, batches: list[Batch], workers: int, run: Run) -> None:
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

    def _start(self, workers: int, run: Run) -> None:
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


def converted_batches(files: list[InputFile], run: Run, jobs: int, new_part: Callable[[], Path]) -> Iterator[Batch]:
    """The input's batches converted, each into a part file at ``new_part()``, in input order: by ``jobs - 1``
    worker processes and this one (see :class:`_Schedule`), or by this one alone. Parts the caller did not adopt
    (``Batch.adopted``) are removed at the end, as when the caller stops early."""
    batches = [Batch(group, new_part()) for group in plan_batches(files, jobs)]
    given: list[Batch] = []  # what the caller got (a worker's batch comes back as a copy)
    try:
        for batch in _converted(batches, run, jobs):
            given.append(batch)
            yield batch
    finally:
        adopted = {batch.part for batch in given if batch.adopted}
        for batch in batches:
            if batch.part not in adopted:
                batch.part.unlink(missing_ok=True)


def _converted(batches: list[Batch], run: Run, jobs: int) -> Iterator[Batch]:
    if jobs == 1 or len(batches) == 1:
        for batch in batches:
            yield run_batch(batch, *run)
        return
    here: list[Batch] = []
    schedule = _Schedule(batches, min(jobs - 1, len(batches)), run)
    try:
        while (batch := schedule.take_back()) is not None:
            here.append(run_batch(batch, *run))
            yield from schedule.ready_from_workers()
        yield from schedule.converted_by_workers()
        yield from reversed(here)
    finally:
        schedule.close()
