"""A dataset is a directory: ``manifest.json``, trajectory files and verdict sidecar files.

::

    my-dataset/
      manifest.json                      name, version, licence, annotators, counts, sha256 of every file
      trajectories/part-00000.parquet    (or .jsonl, .jsonl.zst, .jsonl.gz)
      verdicts/part-00000.parquet        one row per (trajectory, step, annotator)

The manifest is the source of truth: readers read only the files it lists, and writers replace it last and
atomically. A crash part way through a write leaves the last good dataset intact (at worst, stray files the
manifest does not list, which the next write removes). One writer at a time holds ``.srft-lock``
(:mod:`.lock`); every path the manifest names stays inside the directory (:mod:`.paths`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from .errors import Problem, SrftError
from .io import ParquetRecordWriter, read_records
from .jsonl import open_output
from .lock import try_lock, write_lock
from .models import (FORMAT_VERSION, Annotator, Counts, DataFile, Manifest, Model, Source, Trajectory,
                     Verdict, VerdictRecord)
from .paths import DATA_DIRS, LOCK_FILE, path_problems, refuse_link
from .records import dump_record, parse_record

MANIFEST = "manifest.json"
STORAGES = ("parquet", "jsonl")
KIND_DIRS = {kind: kind for kind in DATA_DIRS}
MODELS: dict[str, type[Model]] = {"trajectories": Trajectory, "verdicts": VerdictRecord}


def is_dataset(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_manifest_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SrftError(Problem(f"cannot read: {exc.strerror}", file=str(path))) from None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Dataset:
    """A dataset directory opened for reading."""

    def __init__(self, path: Path, manifest: Manifest):
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Dataset":
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            what = "does not exist" if not path.exists() else f"is not an srft dataset (no {MANIFEST})"
            raise SrftError(Problem(what, file=str(path)))
        try:
            manifest = parse_record(read_manifest_bytes(manifest_path), Manifest)
        except SrftError as exc:
            raise SrftError([p.located(str(manifest_path)) for p in exc.problems]) from None
        problems = path_problems(path, [f.path for f in manifest.files], str(manifest_path))
        if problems:
            raise SrftError(problems)
        return cls(path, manifest)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def annotators(self) -> dict[str, Annotator]:
        return {a.id: a for a in self.manifest.annotators}

    @property
    def storage(self) -> str:
        """The storage of its trajectory files (parquet for an empty dataset, or one that mixes both)."""
        storages = {f.storage for f in self.manifest.files if f.kind == "trajectories"}
        return storages.pop() if len(storages) == 1 else "parquet"

    def files(self, kind: str) -> list[Path]:
        return [self.path / f.path for f in self.manifest.files if f.kind == kind]

    def trajectories(self, check: bool = True) -> Iterator[Trajectory]:
        """Every trajectory, validated (and cross-checked against the annotator registry)."""
        for file in self.files("trajectories"):
            yield from read_records(file, Trajectory, annotators=self.annotators, check=check)

    def verdicts(self) -> Iterator[VerdictRecord]:
        """Every sidecar verdict (inline verdicts stay on their trajectories)."""
        for file in self.files("verdicts"):
            yield from read_records(file, VerdictRecord)

    def verdicts_by_trajectory(self) -> dict[str, list[Verdict]]:
        """Sidecar verdicts grouped by trajectory id, as plain :class:`Verdict` objects."""
        grouped: dict[str, list[Verdict]] = {}
        for rec in self.verdicts():
            grouped.setdefault(rec.trajectory, []).append(to_verdict(rec))
        return grouped

    def trajectory(self, trajectory_id: str) -> Trajectory:
        for traj in self.trajectories():
            if traj.id == trajectory_id:
                return traj
        raise SrftError(Problem(f"no trajectory with id {trajectory_id!r}", file=str(self.path)))


def to_verdict(record: VerdictRecord) -> Verdict:
    return Verdict.model_validate(record.model_dump(exclude={"format_version", "trajectory"}))


def to_record(trajectory_id: str, verdict: Verdict) -> VerdictRecord:
    return VerdictRecord(format_version=FORMAT_VERSION, trajectory=trajectory_id, **verdict.model_dump())


class _PartWriter:
    """Writes one kind of record into numbered part files, rotating every ``per_file`` records."""

    def __init__(self, root: Path, kind: str, storage: str, compression: str | None, per_file: int):
        self.root, self.kind, self.storage, self.per_file = root, kind, storage, per_file
        self.suffix = ".parquet" if storage == "parquet" else ".jsonl" + {None: "", "zst": ".zst", "gz": ".gz"}[
            compression]
        self.tag = uuid.uuid4().hex[:8]
        self.done: list[DataFile] = []
        self._writer: Any = None
        self._path: Path | None = None
        self._records = 0

    def write(self, record: Model) -> None:
        if self._writer is None:
            self._open()
        if self.storage == "parquet":
            self._writer.write(record)
        else:
            self._writer.write(dump_record(record) + b"\n")
        self._records += 1
        if self._records >= self.per_file:
            self.close()

    def _open(self) -> None:
        (self.root / KIND_DIRS[self.kind]).mkdir(parents=True, exist_ok=True)
        self._path = self.root / KIND_DIRS[self.kind] / f"part-{self.tag}-{len(self.done):05d}{self.suffix}"
        if self.storage == "parquet":
            self._writer = ParquetRecordWriter(self._path, MODELS[self.kind])
        else:
            self._context = open_output(self._path)
            self._writer = self._context.__enter__()
        self._records = 0

    def close(self) -> None:
        if self._writer is None:
            return
        if self.storage == "parquet":
            self._writer.close()
        else:
            self._context.__exit__(None, None, None)
        assert self._path is not None
        self.done.append(DataFile(path=self._path.relative_to(self.root).as_posix(), kind=self.kind,  # type: ignore[arg-type]
                                  storage=self.storage, records=self._records,  # type: ignore[arg-type]
                                  bytes=self._path.stat().st_size, sha256=file_sha256(self._path)))
        self._writer = None

    def abort(self) -> None:
        if self._writer is None:
            return
        if self.storage == "parquet":
            self._writer.abort()
        else:
            try:
                self._context.__exit__(RuntimeError, RuntimeError("aborted"), None)
            except RuntimeError:
                pass
        self._writer = None


class DatasetWriter:
    """Create a dataset, or add to one, atomically.

    >>> with DatasetWriter("out", name="demo") as w:   # doctest: +SKIP
    ...     w.add(trajectory)
    ...     w.add_verdict(trajectory.id, verdict)

    ``mode``: ``create`` (the path must not hold a dataset), ``append`` (add to an existing dataset; trajectories
    whose id it already has are skipped and counted in ``duplicates``), ``overwrite`` (replace it whole).
    Nothing is visible until the ``with`` block ends without an exception.
    """

    def __init__(self, path: str | os.PathLike, *, name: str | None = None, mode: str = "create",
                 storage: str | None = None, compression: str | None = None,
                 trajectories_per_file: int = 10_000, verdicts_per_file: int = 1_000_000,
                 description: str | None = None, license: str | None = None,
                 known_steps: dict[str, int] | None = None,
                 verdict_keys: set[tuple[str, int, str]] | None = None):
        """``storage``: of the files written (default: an appended dataset's own, else parquet).
        ``known_steps``: append mode, the step count of each trajectory the caller knows the dataset holds
        (saves re-reading every trajectory to check verdicts, e.g. on each batch of a long labeling run).
        ``verdict_keys``: append mode, every (trajectory, step, annotator) key the verdicts added may collide
        with, kept up to date by the caller across writers (a commit then costs O(batch), not O(dataset))."""
        if storage not in (None, *STORAGES):
            raise SrftError(f"storage must be one of {', '.join(STORAGES)}, not {storage!r}")
        self.final = Path(path)
        self.mode = mode
        self.base: Dataset | None = None
        self._locks = ExitStack()
        try:
            self._open_target(mode)
        except BaseException:
            self._locks.close()
            raise
        old = self.base.manifest if self.base else None
        self.manifest = Manifest(
            format_version=FORMAT_VERSION, name=name or (old.name if old else self.final.name),
            version=old.version if old else "0.1.0", description=description or (old.description if old else None),
            license=license or (old.license if old else None), created_at=old.created_at if old else _now(),
            sources=list(old.sources) if old else [], annotators=list(old.annotators) if old else [],
            counts=old.counts.model_copy() if old else Counts(), files=list(old.files) if old else [],
            extra=dict(old.extra) if old else {})
        storage = storage or (self.base.storage if self.base else "parquet")
        self._traj = _PartWriter(self.root, "trajectories", storage, compression, trajectories_per_file)
        self._verd = _PartWriter(self.root, "verdicts", storage, compression, verdicts_per_file)
        self._steps: dict[str, int] | None = dict(known_steps) if known_steps is not None and self.base else None
        self._verdict_keys: set[tuple[str, int, str]] | None = verdict_keys if self.base else None
        self.added = 0
        self.duplicates = 0
        self.verdicts_added = 0

    @classmethod
    def like(cls, source: Dataset, path: str | os.PathLike, *, mode: str = "overwrite", storage: str | None = None,
             compression: str | None = None) -> DatasetWriter:
        """A writer of ``path`` whose manifest starts as ``source``'s (name, version, description, licence,
        creation time, sources, extra, annotators): the caller adds the records, changed or not."""
        m = source.manifest
        out = cls(path, name=m.name, mode=mode, storage=storage or source.storage, compression=compression,
                  description=m.description, license=m.license)
        out.manifest.version, out.manifest.created_at = m.version, m.created_at
        out.manifest.sources = [s.model_copy() for s in m.sources]
        out.manifest.extra = dict(m.extra)
        for annotator in m.annotators:
            out.declare_annotator(annotator)
        return out

    def _open_target(self, mode: str) -> None:
        """Lock the target, check it may be written, and choose where the files go."""
        for name in (KIND_DIRS.values()):
            refuse_link(self.final / name)
        if is_dataset(self.final):
            if mode == "create":
                raise SrftError(Problem("a dataset already exists here (use append or overwrite)",
                                        file=str(self.final)))
            self._locks.enter_context(write_lock(self.final))
            if mode == "append":
                self.base = Dataset.open(self.final)
        elif self.final.exists() and not self.final.is_dir():
            raise SrftError(Problem("exists and is not a directory; refusing to write there", file=str(self.final)))
        elif self.final.exists() and any(self.final.iterdir()):
            raise SrftError(Problem("exists and is not an srft dataset; refusing to write into it",
                                    file=str(self.final)))
        remove_stale_temporaries(self.final)
        # New datasets and overwrites are built beside the target and renamed into place at the end; the
        # temporary directory is locked too, so that only a dead writer's leftovers count as stale.
        self.root = self.final if self.base else self.final.with_name(f".{self.final.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SrftError(Problem(f"cannot create the dataset directory: {exc.strerror}",
                                    file=str(self.final))) from None
        if self.root != self.final:
            self._locks.enter_context(write_lock(self.root, wait=False))

    # -- what goes in

    def _known_steps(self) -> dict[str, int]:
        if self._steps is None:
            self._steps = {t.id: len(t.steps) for t in self.base.trajectories(check=False)} if self.base else {}
        return self._steps

    def __contains__(self, trajectory_id: str) -> bool:
        return trajectory_id in self._known_steps()

    def add(self, traj: Trajectory) -> bool:
        """Add a trajectory; False (and counted as a duplicate) when the dataset already has its id."""
        steps = self._known_steps()
        if traj.id in steps:
            self.duplicates += 1
            return False
        for ann in traj.annotators:
            self.declare_annotator(ann)
        steps[traj.id] = len(traj.steps)
        self._traj.write(traj)
        counts = self.manifest.counts
        counts.trajectories += 1
        counts.steps += len(traj.steps)
        counts.messages += len(traj.messages)
        counts.verdicts += len(traj.verdicts)
        self.added += 1
        return True

    def new_part_path(self) -> Path:
        """Where another process may write a trajectory file for :meth:`adopt_part` (parallel conversion)."""
        folder = self.root / KIND_DIRS["trajectories"]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"part-{uuid.uuid4().hex[:8]}-00000{self._traj.suffix}"

    def adopt_part(self, path: Path, trajectories: Iterable[tuple[str, int, int]]) -> None:
        """Take over a trajectory file that another process wrote at :meth:`new_part_path`.

        ``trajectories``: the (id, steps, messages) of its records, none already in the dataset (check with
        ``in`` first). They count as added; an aborted write removes the file again.
        """
        known = self._known_steps()
        records = list(trajectories)
        counts = self.manifest.counts
        for traj_id, steps, messages in records:
            if traj_id in known:
                raise SrftError(Problem(f"trajectory {traj_id!r} is already in the dataset", file=str(path)))
            known[traj_id] = steps
            counts.steps += steps
            counts.messages += messages
        counts.trajectories += len(records)
        self.added += len(records)
        self._traj.done.append(DataFile(path=path.relative_to(self.root).as_posix(), kind="trajectories",
                                        storage=self._traj.storage, records=len(records),  # type: ignore[arg-type]
                                        bytes=path.stat().st_size, sha256=file_sha256(path)))

    def declare_annotator(self, annotator: Annotator) -> None:
        """Register an annotator; the same id with a different definition is refused."""
        for existing in self.manifest.annotators:
            if existing.id == annotator.id:
                if existing != annotator:
                    raise SrftError(Problem(
                        f"annotator {annotator.id!r} is already declared with a different definition "
                        f"(kind={existing.kind.value}, model={existing.model!r}); choose another id",
                        "annotators", file=str(self.final / MANIFEST)))
                return
        self.manifest.annotators.append(annotator)

    def _existing_verdict_keys(self) -> set[tuple[str, int, str]]:
        if self._verdict_keys is None:
            self._verdict_keys = {(v.trajectory, v.step, v.annotator) for v in self.base.verdicts()} \
                if self.base else set()
        return self._verdict_keys

    def has_verdict(self, trajectory_id: str, step: int, annotator: str) -> bool:
        return (trajectory_id, step, annotator) in self._existing_verdict_keys()

    def add_verdict(self, trajectory_id: str, verdict: Verdict) -> None:
        """Add a sidecar verdict; its step and annotator must exist, and its key must be new."""
        from .validate import check_verdict

        n_steps = self._known_steps().get(trajectory_id)
        if n_steps is None:
            raise SrftError(Problem(f"verdict for unknown trajectory {trajectory_id!r}", "trajectory"))
        problems = check_verdict(verdict.step, verdict.annotator, n_steps, [a.id for a in self.manifest.annotators])
        if problems:
            raise SrftError([Problem(f"{p.message} (trajectory {trajectory_id!r})", p.path) for p in problems])
        key = (trajectory_id, verdict.step, verdict.annotator)
        keys = self._existing_verdict_keys()
        if key in keys:
            raise SrftError(Problem(f"trajectory {trajectory_id!r} step {verdict.step} already has a verdict "
                                    f"by {verdict.annotator!r}"))
        keys.add(key)
        self._verd.write(to_record(trajectory_id, verdict))
        self.manifest.counts.verdicts += 1
        self.verdicts_added += 1

    def add_source(self, format: str, version: str | None, files: int = 1, trajectories: int = 0) -> None:
        for src in self.manifest.sources:
            if src.format == format and src.version == version:
                src.files += files
                src.trajectories += trajectories
                return
        self.manifest.sources.append(Source(format=format, version=version, files=files, trajectories=trajectories))

    # -- commit or abort

    def commit(self) -> Manifest:
        self._traj.close()
        self._verd.close()
        self.manifest.files = [*self.manifest.files, *self._traj.done, *self._verd.done]
        self.manifest.updated_at = _now()
        from .redact import is_redacted, redact_manifest

        if is_redacted(self.manifest):  # a redacted dataset is redacted throughout, its manifest too
            redact_manifest(self.manifest)
        if self.mode == "create" and is_dataset(self.final):
            self.abort()
            raise SrftError(Problem("another command created a dataset here while this one was writing; "
                                    "nothing was replaced (run again to append)", file=str(self.final)))
        with self._locks:
            write_manifest(self.root, self.manifest)
            if self.root != self.final:
                _swap_into_place(self.root, self.final)
            else:
                remove_unlisted(self.final, self.manifest)
        return self.manifest

    def abort(self) -> None:
        with self._locks:
            self._traj.abort()
            self._verd.abort()
            if self.root != self.final:
                shutil.rmtree(self.root, ignore_errors=True)
            else:
                for data_file in [*self._traj.done, *self._verd.done]:
                    (self.root / data_file.path).unlink(missing_ok=True)

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.abort() if exc_type else self.commit()


def write_manifest(root: Path, manifest: Manifest) -> None:
    data = orjson.dumps(manifest.model_dump(mode="json", exclude_none=True), option=orjson.OPT_INDENT_2)
    with open_output(root / MANIFEST) as out:
        out.write(data + b"\n")


def _swap_into_place(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def remove_unlisted(root: Path, manifest: Manifest) -> None:
    """Delete data files a crashed write left behind (anything in the data folders the manifest omits)."""
    listed = {f.path for f in manifest.files}
    for folder in KIND_DIRS.values():
        refuse_link(root / folder)
        for path in (root / folder).glob("*") if (root / folder).is_dir() else []:
            if path.relative_to(root).as_posix() not in listed and (path.is_file() or path.is_symlink()):
                path.unlink()


def remove_stale_temporaries(final: Path) -> None:
    """Remove the ``.NAME.tmp-*`` and ``.NAME.old-*`` directories that killed writers left beside ``final``
    (a directory whose lock a live writer holds is left alone)."""
    parent = final.parent
    if not parent.is_dir():
        return
    for pattern in (f".{final.name}.tmp-*", f".{final.name}.old-*"):
        for stale in parent.glob(pattern):
            if stale.is_symlink() or not stale.is_dir():
                continue
            fd = try_lock(stale / LOCK_FILE) if (stale / LOCK_FILE).exists() else None
            if (stale / LOCK_FILE).exists() and fd is None:
                continue  # a live writer's
            shutil.rmtree(stale, ignore_errors=True)
            if fd is not None:
                os.close(fd)


def drop_verdicts(path: str | os.PathLike, keys: set[tuple[str, int, str]]) -> int:
    """Remove the sidecar verdicts with these (trajectory, step, annotator) keys, rewriting the part files that
    hold them; returns how many were removed."""
    with write_lock(path):
        dataset = Dataset.open(path)
        files, dropped = [], 0
        for entry in dataset.manifest.files:
            if entry.kind != "verdicts":
                files.append(entry)
                continue
            records = list(read_records(dataset.path / entry.path, VerdictRecord))
            kept = [r for r in records if (r.trajectory, r.step, r.annotator) not in keys]
            if len(kept) == len(records):
                files.append(entry)
                continue
            dropped += len(records) - len(kept)
            part = _PartWriter(dataset.path, "verdicts", entry.storage, None, len(kept) + 1)
            for record in kept:
                part.write(record)
            part.close()
            files += part.done
        if dropped:
            manifest = dataset.manifest
            manifest.counts.verdicts -= dropped
            manifest.files, manifest.updated_at = files, _now()
            write_manifest(dataset.path, manifest)
            remove_unlisted(dataset.path, manifest)
    return dropped


def copy_dataset(src: str | os.PathLike, dst: str | os.PathLike, *, storage: str = "parquet",
                 compression: str | None = None, overwrite: bool = False) -> Manifest:
    """Copy a dataset, changing its storage; records come out equal."""
    source = Dataset.open(src)
    with DatasetWriter.like(source, dst, mode="overwrite" if overwrite else "create", storage=storage,
                            compression=compression) as out:
        for traj in source.trajectories():
            out.add(traj)
        for rec in source.verdicts():
            out.add_verdict(rec.trajectory, to_verdict(rec))
    return out.manifest


def write_dataset(path: str | os.PathLike, trajectories: Iterable[Trajectory], *, name: str | None = None,
                  storage: str = "parquet", annotators: Iterable[Annotator] = (),
                  verdicts: Iterable[VerdictRecord] = (), overwrite: bool = False) -> Manifest:
    """Write a whole dataset in one call (tests, examples, small tools)."""
    with DatasetWriter(path, name=name, mode="overwrite" if overwrite else "create", storage=storage) as out:
        for ann in annotators:
            out.declare_annotator(ann)
        for traj in trajectories:
            out.add(traj)
        for rec in verdicts:
            out.add_verdict(rec.trajectory, to_verdict(rec))
    return out.manifest
