"""The one interface every critic implements, and the verdict-building helpers they share.

A :class:`Critic` carries its :class:`~srft_format.models.Annotator` declaration (written into the dataset's
registry) and labels the steps of one trajectory, handing each verdict to ``emit`` as soon as it has it, so
the runner can commit finished work in batches (see :mod:`srft_format.annotators.runner`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from srft_format.errors import SrftError
from srft_format.models import Annotator, Label, Trajectory, Verdict

Emit = Callable[[Verdict], None]


class StopRun(Exception):
    """Stop scheduling work (budget spent, endpoint failing): finished verdicts are kept, the rest resumes later."""


@dataclass(frozen=True)
class PlannedCall:
    """One model call a critic would make (for ``--dry-run``)."""

    prompt_tokens: int
    max_completion_tokens: int
    cached: bool = False


class Critic(ABC):
    """Labels steps; ``annotator`` is its declaration in the dataset registry."""

    annotator: Annotator

    @property
    def id(self) -> str:
        return self.annotator.id

    @abstractmethod
    async def label(self, traj: Trajectory, steps: Sequence[int], emit: Emit) -> None:
        """Label some or all of ``steps`` (indices) of ``traj``; ``emit`` each verdict when it is ready."""

    def plan(self, traj: Trajectory, steps: Sequence[int]) -> list[PlannedCall]:
        """The model calls :meth:`label` would make; none for critics that call no model."""
        return []

    def prompt_for(self, traj: Trajectory, step: int) -> str:
        """The exact prompt that judges ``step`` of ``traj`` (for ``--show-prompt``)."""
        raise SrftError(f"critic {self.id!r} sends no prompt")

    async def aclose(self) -> None:
        """Release connections or models."""


def show_prompt(critic: Critic, dataset: str, which: str) -> str:
    """The prompt ``critic`` would send for ``which`` (``STEP`` of the first trajectory, or ``TRAJECTORY:STEP``)."""
    from srft_format.dataset import Dataset

    traj_id, _, step_text = which.rpartition(":")
    if not step_text.isdigit():
        raise SrftError(f"--show-prompt {which!r}: expected STEP or TRAJECTORY:STEP (a step index)")
    step = int(step_text)
    for traj in Dataset.open(dataset).trajectories():
        if traj_id in ("", traj.id):
            if step >= len(traj.steps):
                raise SrftError(f"--show-prompt {which!r}: trajectory {traj.id!r} has {len(traj.steps)} steps")
            return critic.prompt_for(traj, step)
    raise SrftError(f"--show-prompt {which!r}: no trajectory {traj_id!r} in {dataset}")


def make_verdict(annotator: str, step: int, label: Label, score: float | None = None,
                 rationale: str | None = None, **extra: Any) -> Verdict:
    return Verdict(step=step, annotator=annotator, label=label, score=score, rationale=rationale,
                   created_at=datetime.now(timezone.utc).replace(microsecond=0), extra=extra)
