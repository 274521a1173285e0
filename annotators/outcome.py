"""The outcome annotator: every step of a resolved trajectory is ``correct`` (RFT expressed as verdicts).

Unresolved and unevaluated trajectories get no verdicts: the outcome says nothing about their single steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from srft_format.models import Annotator, AnnotatorKind, Evidence, Label, Trajectory

from .base import Critic, Emit, make_verdict


class OutcomeCritic(Critic):
    EVIDENCE = (Evidence.outcome,)

    def __init__(self, annotator_id: str = "outcome"):
        self.annotator = Annotator(id=annotator_id, kind=AnnotatorKind.outcome, evidence=list(self.EVIDENCE),
                                   description="every step of a resolved trajectory is correct")

    async def label(self, traj: Trajectory, steps: Sequence[int], emit: Emit) -> None:
        if traj.outcome.resolved is True:
            for step in steps:
                emit(make_verdict(self.id, step, Label.correct, 1.0, "the trajectory resolved its task"))
