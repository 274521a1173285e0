"""Datasets derived from one dataset: route each trajectory (and its sidecar verdicts) to zero or one output.

``srft filter`` (one output) and ``srft split`` (one output per split) are both a :func:`route` over
writers opened with :func:`derived_writer`, which carries the source's description, licence, sources,
annotators and ``extra`` into each output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .dataset import Dataset, DatasetWriter, to_verdict
from .models import Trajectory


def derived_writer(source: Dataset, path: str | os.PathLike, *, name: str | None = None, overwrite: bool = False,
                   storage: str | None = None, note: Mapping[str, Any] | None = None,
                   declare_annotators: bool = True) -> DatasetWriter:
    """A writer for a dataset made from ``source``; ``note`` (what was selected, how) goes in ``extra["derived"]``."""
    m = source.manifest
    writer = DatasetWriter(path, name=name or m.name, mode="overwrite" if overwrite else "create",
                           storage=storage or source.storage, description=m.description,
                           license=m.license)
    writer.manifest.version = m.version
    writer.manifest.sources = [s.model_copy() for s in m.sources]
    writer.manifest.extra = {**m.extra, "derived": {"from": m.name, "version": m.version, **(note or {})}}
    if declare_annotators:
        for annotator in m.annotators:
            writer.declare_annotator(annotator)
    return writer


def route(source: Dataset, writers: Mapping[str, DatasetWriter], choose: Callable[[Trajectory], str | None]) -> None:
    """Copy each trajectory to ``writers[choose(traj)]`` (None: drop it), then its sidecar verdicts after it."""
    destination: dict[str, DatasetWriter] = {}
    for traj in source.trajectories():
        key = choose(traj)
        if key is not None:
            writers[key].add(traj)
            destination[traj.id] = writers[key]
    for record in source.verdicts():
        writer = destination.get(record.trajectory)
        if writer is not None:
            writer.add_verdict(record.trajectory, to_verdict(record))
