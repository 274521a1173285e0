"""Datasets for the sharing tests (merge, split, verify, card, redact): trajectories plus sidecar verdicts."""

from __future__ import annotations

from pathlib import Path

from factories import make_trajectory

from srft_format.dataset import Dataset, DatasetWriter
from srft_format.models import Annotator, Trajectory, Verdict

LABELS = ("correct", "incorrect", "neutral")


def attempts(n_tasks: int, per_task: int = 2, repos: tuple[str, ...] = ("octo/utils",)) -> list[Trajectory]:
    """``per_task`` attempts at each of ``n_tasks`` task instances, alternating resolved and step counts."""
    out = []
    for task in range(n_tasks):
        for attempt in range(per_task):
            traj = make_trajectory(f"t{task:03d}-{attempt}", n_steps=2 + (task + attempt) % 4,
                                   resolved=(task + attempt) % 3 == 0)
            traj.task.instance_id = f"task-{task:03d}"
            traj.task.repo = repos[task % len(repos)]
            out.append(traj)
    return out


def critic(annotator_id: str, model: str = "critic-1") -> Annotator:
    return Annotator(id=annotator_id, kind="llm", model=model, prompt="step-critic")


def verdicts_by(annotator_id: str, traj: Trajectory, offset: int = 0) -> list[Verdict]:
    """One verdict per step, labels cycling with ``offset`` (so two annotators disagree somewhere)."""
    return [Verdict(step=s.index, annotator=annotator_id, label=LABELS[(s.index + offset) % 3],
                    rationale=f"{annotator_id} on step {s.index}") for s in traj.steps]


def labelled(path: Path, trajectories: list[Trajectory], annotators: list[tuple[Annotator, int]], *,
             storage: str = "parquet", license: str | None = None) -> Path:
    """Write a dataset whose sidecars hold a verdict on every step by each (annotator, label offset)."""
    with DatasetWriter(path, storage=storage, license=license) as out:
        for annotator, _ in annotators:
            out.declare_annotator(annotator)
        for traj in trajectories:
            out.add(traj)
        for traj in trajectories:
            for annotator, offset in annotators:
                for verdict in verdicts_by(annotator.id, traj, offset):
                    out.add_verdict(traj.id, verdict)
    return path


def contents(path: Path) -> tuple[dict[str, Trajectory], dict[str, list[Verdict]], dict[str, Annotator]]:
    """A dataset's records in order-free form: trajectories and sorted sidecar verdicts by id, annotators."""
    ds = Dataset.open(path)
    verdicts = {tid: sorted(vs, key=lambda v: (v.step, v.annotator))
                for tid, vs in ds.verdicts_by_trajectory().items()}
    return {t.id: t for t in ds.trajectories()}, verdicts, ds.annotators
