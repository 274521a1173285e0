"""Merge datasets from several teams: one union of trajectories, verdicts, annotators and sources.

The same trajectory (same id, equal record) in several inputs is kept once; two *different* records with one
id are an error naming both inputs (inline verdicts are part of the record: teams add labels as sidecars).
Verdicts are keyed by (trajectory, step, annotator) the same way.
Annotator ids must mean the same thing everywhere: one id with two definitions is refused, naming both inputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .dataset import Dataset, DatasetWriter, to_verdict
from .errors import Problem, SrftError
from .ids import sha256_hex
from .models import Annotator, Manifest, Model
from .records import dump_record
from .redact import MARKER, combine_markers


@dataclass
class MergeResult:
    manifest: Manifest
    duplicates: int = 0
    """Records (trajectories and verdicts) found, equal, in more than one input and kept once."""
    warnings: list[str] = field(default_factory=list)


class _Registry:
    """Which input first brought each key, and a digest of what it brought, to tell repeats from conflicts."""

    def __init__(self, what: str):
        self.what = what
        self.seen: dict[Any, tuple[str, str]] = {}

    def is_new(self, key: Any, record: Model, origin: str) -> bool:
        """True the first time ``key`` is seen; False for an equal repeat; SrftError for a different record."""
        digest = sha256_hex(dump_record(record))
        first = self.seen.setdefault(key, (origin, digest))
        if first == (origin, digest):
            return True
        if first[1] != digest:
            raise SrftError(Problem(f"{self.what} {_show(key)} differs between {first[0]} and {origin}; "
                                    "merge refuses to choose (give one of them a new id, or drop it)"))
        return False


def _show(key: Any) -> str:
    if isinstance(key, tuple):
        trajectory, step, annotator = key
        return f"(trajectory {trajectory!r}, step {step}, annotator {annotator!r})"
    return repr(key)


def merge_datasets(paths: Sequence[str | os.PathLike], out: str | os.PathLike, *, name: str | None = None,
                   storage: str = "parquet", overwrite: bool = False) -> MergeResult:
    """Write the union of the datasets at ``paths`` to ``out``."""
    if len(paths) < 2:
        raise SrftError("merge needs at least two datasets")
    inputs = [Dataset.open(p) for p in paths]
    warnings: list[str] = []
    license = _merged_license(inputs, warnings)
    annotators, trajectories, verdicts = _Registry("annotator"), _Registry("trajectory"), _Registry("verdict")
    duplicates = 0
    with DatasetWriter(out, name=name, mode="overwrite" if overwrite else "create", storage=storage,
                       license=license) as writer:
        for ds in inputs:
            for annotator in ds.manifest.annotators:
                _declare(writer, annotators, annotator, str(ds.path))
            for src in ds.manifest.sources:
                writer.add_source(src.format, src.version, src.files, src.trajectories)
        for ds in inputs:
            for traj in ds.trajectories():
                for annotator in traj.annotators:
                    _declare(writer, annotators, annotator, str(ds.path))
                if trajectories.is_new(traj.id, traj, str(ds.path)):
                    writer.add(traj)
                else:
                    duplicates += 1
        for ds in inputs:
            for record in ds.verdicts():
                if verdicts.is_new((record.trajectory, record.step, record.annotator), record, str(ds.path)):
                    writer.add_verdict(record.trajectory, to_verdict(record))
                else:
                    duplicates += 1
        writer.manifest.extra = _merged_extra(inputs)
    return MergeResult(writer.manifest, duplicates, warnings)


def _declare(writer: DatasetWriter, registry: _Registry, annotator: Annotator, origin: str) -> None:
    try:
        registry.is_new(annotator.id, annotator, origin)
    except SrftError:
        first = registry.seen[annotator.id][0]
        raise SrftError(Problem(
            f"annotator id {annotator.id!r} means different annotators in {first} and {origin}; "
            "rename one of them (annotator ids must be unique across teams)", "annotators")) from None
    writer.declare_annotator(annotator)


def _merged_license(inputs: list[Dataset], warnings: list[str]) -> str | None:
    """The common licence; when the inputs differ, an SPDX ``AND`` of them all, and a warning."""
    licenses = [ds.manifest.license for ds in inputs]
    distinct = list(dict.fromkeys(licenses))
    if len(distinct) == 1:
        return distinct[0]
    warnings.append("the inputs have different licences ("
                    + ", ".join(f"{ds.path}: {ds.manifest.license or 'none given'}" for ds in inputs)
                    + "); check that they may be combined")
    known = [lic for lic in distinct if lic]
    return " AND ".join(f"({lic})" if " " in lic else lic for lic in known) or None


def _merged_extra(inputs: list[Dataset]) -> dict[str, Any]:
    """``extra`` keys equal in every input, the inputs' names, and a redaction marker only if all were redacted."""
    extras = [ds.manifest.extra for ds in inputs]
    shared = {k: v for k, v in extras[0].items() if k != MARKER and all(e.get(k, object()) == v for e in extras)}
    shared["merged_from"] = [{"name": ds.manifest.name, "version": ds.manifest.version,
                              "license": ds.manifest.license, "trajectories": ds.manifest.counts.trajectories}
                             for ds in inputs]
    marker = combine_markers([e.get(MARKER) for e in extras])
    if marker is not None:
        shared[MARKER] = marker
    return shared
