"""Split a dataset into train/test (or any named parts) by group, so no task leaks across splits.

Each group key (the task's ``instance_id`` for ``--by task``) is hashed with the seed to a number in [0, 1),
and the ratios cut [0, 1) into consecutive intervals, one per split. The assignment of a group depends only on
the seed, the key and the ratios: not on the order of the records, nor on which other groups exist, so it is
the same across runs and machines, and adding trajectories never moves the old ones to another split.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .dataset import Dataset, DatasetWriter
from .errors import SrftError
from .models import Manifest, Trajectory
from .subset import derived_writer, route

GROUP_KEYS: dict[str, Callable[[Trajectory], str]] = {
    "task": lambda t: t.task.instance_id or t.id,
    "repo": lambda t: t.task.repo or t.task.instance_id or t.id,
    "trajectory": lambda t: t.id,
}
"""How trajectories are grouped; a trajectory without the key is a group of its own."""


def unit_interval(seed: int, key: str) -> float:
    """A stable pseudo-random number in [0, 1) for ``key`` under ``seed``."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(key: str, seed: int, ratios: Sequence[float], names: Sequence[str]) -> str:
    """The split that ``key`` falls into."""
    point = unit_interval(seed, key)
    edge = 0.0
    for name, ratio in zip(names, ratios):
        edge += ratio
        if point < edge:
            return name
    return names[-1]  # rounding: the ratios sum to 1 within tolerance


def check_ratios(ratios: Sequence[float], names: Sequence[str]) -> None:
    if len(ratios) != len(names):
        raise SrftError(f"{len(ratios)} ratios but {len(names)} split names ({', '.join(names)})")
    if len(set(names)) != len(names) or any(not n or "/" in n or n.startswith(".") for n in names):
        raise SrftError(f"split names must be distinct plain folder names, got {', '.join(names)}")
    if any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise SrftError(f"ratios must be non-negative and sum to 1, got {', '.join(map(str, ratios))}")


def split_dataset(path: str | os.PathLike, out: str | os.PathLike, *, ratios: Sequence[float],
                  names: Sequence[str] = ("train", "test"), by: str = "task", seed: int = 0,
                  overwrite: bool = False) -> dict[str, Manifest]:
    """Write ``out/<name>/`` for each split; returns their manifests."""
    check_ratios(ratios, names)
    if by not in GROUP_KEYS:
        raise SrftError(f"cannot split by {by!r}: choose one of {', '.join(GROUP_KEYS)}")
    source = Dataset.open(path)
    group_of = GROUP_KEYS[by]
    writers: dict[str, DatasetWriter] = {}
    try:
        for name in names:
            note = {"split": name, "by": by, "seed": seed, "ratios": dict(zip(names, ratios))}
            writers[name] = derived_writer(source, Path(out) / name, name=f"{source.name}-{name}",
                                           overwrite=overwrite, note=note)
        route(source, writers, lambda traj: assign(group_of(traj), seed, ratios, names))
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    return {name: writer.commit() for name, writer in writers.items()}
