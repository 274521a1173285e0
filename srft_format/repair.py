"""``srft repair``: rebuild a dataset's manifest from the data files present, after any crash.

Every part file under ``trajectories/`` and ``verdicts/`` is read whole. A file that cannot be read, or whose
records all repeat earlier ones (or point at missing trajectories, steps or annotators), is moved to
``repair-rejected/`` (kept, and reported by ``srft verify``); a file with only some such records is rewritten
without them. The name, licence, sources and annotators come from the old manifest when it can be read.
Nothing is deleted: every record left out is counted.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .dataset import KIND_DIRS, MANIFEST, MODELS, STORAGES, _now, _PartWriter, file_sha256, write_manifest
from .errors import Problem, SrftError
from .io import read_records, storage_of
from .lock import write_lock
from .models import FORMAT_VERSION, Counts, DataFile, Manifest, Model, Trajectory, VerdictRecord
from .paths import refuse_link
from .records import parse_record

REJECTED = "repair-rejected"


@dataclass
class RepairReport:
    files: int = 0
    rewritten: int = 0
    rejected: list[str] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    """Records left out, by reason."""
    manifest: Manifest | None = None


def repair_dataset(path: str | os.PathLike) -> RepairReport:
    root = Path(path)
    if not root.is_dir():
        raise SrftError(Problem("is not a directory", file=str(root)))
    if not (root / MANIFEST).exists() and not (root / KIND_DIRS["trajectories"]).is_dir():
        raise SrftError(Problem(f"is not an srft dataset (no {MANIFEST} and no trajectories/); nothing to repair",
                                file=str(root)))
    with write_lock(root):
        for folder in (*KIND_DIRS.values(), REJECTED):
            refuse_link(root / folder)
        old = _old_manifest(root)
        report = RepairReport()
        annotators = {a.id: a for a in old.annotators} if old else {}
        steps: dict[str, int] = {}
        counts = Counts()
        files: list[DataFile] = []
        verdict_keys: set[tuple[str, int, str]] = set()

        def keep_trajectory(traj: Trajectory) -> str | None:
            if traj.id in steps:
                return "trajectory id repeated"
            steps[traj.id] = len(traj.steps)
            for ann in traj.annotators:
                annotators.setdefault(ann.id, ann)
            counts.trajectories += 1
            counts.steps += len(traj.steps)
            counts.messages += len(traj.messages)
            counts.verdicts += len(traj.verdicts)
            return None

        def keep_verdict(rec: VerdictRecord) -> str | None:
            key = (rec.trajectory, rec.step, rec.annotator)
            if rec.trajectory not in steps or rec.step >= steps[rec.trajectory]:
                return "verdict for a missing trajectory or step"
            if rec.annotator not in annotators:
                return "verdict by an undeclared annotator"
            if key in verdict_keys:
                return "verdict repeated"
            verdict_keys.add(key)
            counts.verdicts += 1
            return None

        for kind, keep in (("trajectories", keep_trajectory), ("verdicts", keep_verdict)):
            for file in _part_files(root / KIND_DIRS[kind]):
                files += _repair_file(root, file, kind, keep, report)
        name = old.name if old else root.resolve().name
        manifest = Manifest(format_version=FORMAT_VERSION, name=name, version=old.version if old else "0.1.0",
                            description=old.description if old else None, license=old.license if old else None,
                            created_at=old.created_at if old else _now(), updated_at=_now(),
                            sources=old.sources if old else [], annotators=list(annotators.values()),
                            counts=counts, files=files, extra=old.extra if old else {})
        write_manifest(root, manifest)
        report.manifest = manifest
        report.files = len(files)
    return report


def _old_manifest(root: Path) -> Manifest | None:
    try:
        return parse_record((root / MANIFEST).read_bytes(), Manifest)
    except (OSError, SrftError):
        return None


def _part_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p.is_file() or p.is_symlink()))


def _repair_file(root: Path, file: Path, kind: str, keep: object, report: RepairReport) -> list[DataFile]:
    """The manifest entries for ``file``: itself, a rewritten copy of the records kept, or none."""
    relative = file.relative_to(root).as_posix()
    if file.is_symlink():
        return _reject(root, file, "a symbolic link", report)
    storage = storage_of(file)
    if storage not in STORAGES:
        return _reject(root, file, "not a data file (.parquet or .jsonl)", report)
    try:
        records: list[Model] = list(read_records(file, MODELS[kind], check=False))
    except SrftError as exc:
        return _reject(root, file, f"unreadable ({exc.problems[0].message})", report)
    kept = []
    for record in records:
        why = keep(record)  # type: ignore[operator]
        if why is None:
            kept.append(record)
        else:
            report.dropped[why] += 1
    if len(kept) == len(records):
        return [DataFile(path=relative, kind=kind, storage=storage, records=len(records),  # type: ignore[arg-type]
                         bytes=file.stat().st_size, sha256=file_sha256(file))]
    _reject(root, file, None, report)
    if not kept:
        return []
    writer = _PartWriter(root, kind, storage, None, len(kept) + 1)
    for record in kept:
        writer.write(record)
    writer.close()
    report.rewritten += 1
    return writer.done


def _reject(root: Path, file: Path, why: str | None, report: RepairReport) -> list[DataFile]:
    target = root / REJECTED / file.relative_to(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(file), target) if not file.is_symlink() else file.unlink()
    report.rejected.append(f"{file.relative_to(root).as_posix()}" + (f": {why}" if why else ""))
    return []

