"""From verdicts to training decisions: the one place where labels become loss weights.

A :class:`VerdictPolicy` resolves the verdicts of several annotators into one effective label per step.
With no ``--annotator`` order, ``priority`` goes by annotator kind, most specific first (:data:`KIND_ORDER`:
human, LLM critics that saw more than the prefix, LLM critics that saw only the prefix, rules, outcome), ids
breaking ties: :meth:`VerdictPolicy.for_annotators` computes that order from the declarations, and
:meth:`VerdictPolicy.describe` states the rule in force (printed by every command, recorded in run.json and exports).
The SQL view ``effective_verdicts`` is the query form of :meth:`VerdictPolicy.resolve` (a test proves them equal).
A :class:`TrainingPolicy` (``sft``, ``rft`` or ``srft``) turns a trajectory and its verdicts into one weight
per step. The trainers, the exports, ``srft verdicts`` and ``srft stats`` all use these objects, so the numbers
they report agree. The mask is never stored as truth: it is derived here, at training or export time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

from .models import Annotator, AnnotatorKind, Evidence, Label, Trajectory, Verdict

DECISIVE = (Label.correct, Label.incorrect)


class Resolution(str, Enum):
    priority = "priority"  # the first annotator (in the policy's order) with a decisive label wins
    majority = "majority"  # the most frequent decisive label; a tie counts as incorrect
    veto = "veto"  # incorrect if any annotator says incorrect
    threshold = "threshold"  # mean score (correct = 1, incorrect = 0 when unscored) below threshold: incorrect


KIND_ORDER = ("human", "llm hindsight", "llm causal", "rule", "outcome")
"""Default priority, most specific first: who judged a step with the most evidence about it."""

HINDSIGHT_EVIDENCE = frozenset({Evidence.future, Evidence.outcome, Evidence.tests, Evidence.gold_patch})


def annotator_class(annotator: Annotator) -> str:
    """The annotator's place in :data:`KIND_ORDER`: an LLM critic is ``hindsight`` when it declared evidence
    beyond the prefix (later steps, the outcome, tests, the gold patch), else ``causal``."""
    if annotator.kind is AnnotatorKind.llm:
        return "llm hindsight" if HINDSIGHT_EVIDENCE & set(annotator.evidence) else "llm causal"
    return annotator.kind.value


def default_order(annotators: Iterable[Annotator]) -> tuple[str, ...]:
    """Annotator ids by :data:`KIND_ORDER`, then id."""
    ranked = {a.id: KIND_ORDER.index(annotator_class(a)) for a in annotators}
    return tuple(sorted(ranked, key=lambda i: (ranked[i], i)))


@dataclass(frozen=True)
class EffectiveVerdict:
    label: Label
    score: float | None
    annotators: tuple[str, ...]


@dataclass(frozen=True)
class VerdictPolicy:
    """Which annotators count, and how their verdicts combine into one label per step."""

    annotators: tuple[str, ...] = ()
    """Annotator ids that count, in priority order; empty: all of them, in ``order``."""
    resolution: Resolution = Resolution.priority
    threshold: float = 0.5
    order: tuple[str, ...] = ()
    """With no ``annotators``: the priority order (:func:`default_order`); ids not in it come after, by id."""

    def for_annotators(self, declared: Iterable[Annotator]) -> "VerdictPolicy":
        """This policy with the default order by kind of ``declared`` (unchanged when ``annotators`` is given)."""
        return self if self.annotators else replace(self, order=default_order(declared))

    def describe(self) -> str:
        """The rule in force, in one line."""
        if self.resolution is Resolution.threshold:
            how = f"threshold: mean score below {self.threshold:g} is incorrect"
        elif self.resolution is Resolution.priority:
            how = "priority: the first decisive verdict wins"
        else:
            how = {Resolution.majority: "majority of decisive verdicts (a tie is incorrect)",
                   Resolution.veto: "veto: any incorrect verdict wins"}[self.resolution]
        if self.annotators:
            return f"{how}; annotators in --annotator order: {' > '.join(self.annotators)}"
        order = f": {' > '.join(self.order)}" if self.order else ""
        return f"{how}; all annotators, by kind ({' > '.join(KIND_ORDER)}; ids break ties){order}"

    def resolve(self, verdicts: Iterable[Verdict]) -> dict[int, EffectiveVerdict]:
        """Effective verdict per step index, for steps with at least one counted verdict."""
        by_step: dict[int, list[Verdict]] = {}
        for verdict in verdicts:
            if not self.annotators or verdict.annotator in self.annotators:
                by_step.setdefault(verdict.step, []).append(verdict)
        return {step: self._combine(vs) for step, vs in by_step.items()}

    def _rank(self, annotator: str) -> tuple[int, str]:
        if self.annotators:
            return self.annotators.index(annotator), ""
        if annotator in self.order:
            return self.order.index(annotator), ""
        return len(self.order), annotator

    def _combine(self, verdicts: list[Verdict]) -> EffectiveVerdict:
        verdicts = sorted(verdicts, key=lambda v: self._rank(v.annotator))
        names = tuple(v.annotator for v in verdicts)
        scores = [_score(v) for v in verdicts if _score(v) is not None]
        mean = sum(scores) / len(scores) if scores else None
        decisive = [v for v in verdicts if v.label in DECISIVE]
        if self.resolution is Resolution.threshold:
            label = Label.unknown if mean is None else (Label.correct if mean >= self.threshold else Label.incorrect)
        elif not decisive:
            label = Label.neutral if any(v.label is Label.neutral for v in verdicts) else Label.unknown
        elif self.resolution is Resolution.priority:
            label = decisive[0].label
        elif self.resolution is Resolution.veto:
            label = Label.incorrect if any(v.label is Label.incorrect for v in decisive) else Label.correct
        else:
            counts = Counter(v.label for v in decisive)
            label = Label.correct if counts[Label.correct] > counts[Label.incorrect] else Label.incorrect
        return EffectiveVerdict(label, mean, names)


def _score(verdict: Verdict) -> float | None:
    if verdict.score is not None:
        return verdict.score
    return {Label.correct: 1.0, Label.incorrect: 0.0}.get(verdict.label)


POLICY_NAMES = ("sft", "rft", "srft")


@dataclass(frozen=True)
class TrainingPolicy:
    """Which assistant steps are trained, and with what weight.

    - ``sft``: every step of every trajectory.
    - ``rft``: every step of resolved trajectories (``resolved`` true); nothing of the others.
    - ``srft``: every step of resolved trajectories; in the others (false or unknown), steps whose effective
      verdict is ``incorrect`` get weight 0 and stay in the context. Steps without a decisive verdict follow
      ``unlabeled`` (default ``mask``: SRFT without a critic is RFT, never silently SFT).

    Steps flagged ``exclude`` (demonstrations, copied context, summaries, re-queries) are never trained.
    With ``soft``, a trained step's weight is its effective score when it has one.
    """

    name: str = "srft"
    verdicts: VerdictPolicy = field(default_factory=VerdictPolicy)
    unlabeled: str = "mask"
    soft: bool = False

    def __post_init__(self) -> None:
        if self.name not in POLICY_NAMES:
            raise ValueError(f"unknown policy {self.name!r}: choose one of {', '.join(POLICY_NAMES)}")
        if self.unlabeled not in ("mask", "train"):
            raise ValueError(f"unlabeled must be 'mask' or 'train', not {self.unlabeled!r}")

    def for_annotators(self, declared: Iterable[Annotator]) -> "TrainingPolicy":
        """This policy with the verdicts' default order by kind of ``declared`` (see :class:`VerdictPolicy`)."""
        return replace(self, verdicts=self.verdicts.for_annotators(declared))

    def decisions(self, traj: Trajectory,
                  verdicts: Iterable[Verdict] = ()) -> list[tuple[EffectiveVerdict | None, float]]:
        """Per step of ``traj``: its effective verdict (None when no counted annotator labeled it) and weight."""
        effective = self.verdicts.resolve([*traj.verdicts, *verdicts])
        return list(zip((effective.get(s.index) for s in traj.steps), self._weights(traj, effective)))

    def step_weights(self, traj: Trajectory, verdicts: Iterable[Verdict] = ()) -> list[float]:
        """One weight in [0, 1] per step of ``traj``; ``verdicts`` adds sidecar verdicts to the inline ones."""
        effective = self.verdicts.resolve([*traj.verdicts, *verdicts]) if self.name == "srft" else {}
        return self._weights(traj, effective)

    def _weights(self, traj: Trajectory, effective: dict[int, EffectiveVerdict]) -> list[float]:
        resolved = traj.outcome.resolved is True
        weights = []
        for step in traj.steps:
            if step.exclude or (self.name == "rft" and not resolved):
                weights.append(0.0)
            elif self.name == "sft" or resolved:
                weights.append(1.0)
            else:
                weights.append(self._srft_weight(effective.get(step.index)))
        return weights

    def _srft_weight(self, verdict: EffectiveVerdict | None) -> float:
        if verdict is None or verdict.label is Label.unknown:
            return 1.0 if self.unlabeled == "train" else 0.0
        if verdict.label is Label.incorrect:
            return 0.0
        return verdict.score if self.soft and verdict.score is not None else 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, recorded with every training run and export."""
        out = asdict(self)
        out["verdicts"]["resolution"] = self.verdicts.resolution.value
        out["verdicts"]["annotators"] = list(self.verdicts.annotators)
        out["verdicts"]["order"] = list(self.verdicts.order)
        out["verdicts"]["rule"] = self.verdicts.describe()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingPolicy:
        """The policy :meth:`to_dict` describes (a resumed run reads it back)."""
        verdicts = data["verdicts"]
        return cls(name=data["name"], unlabeled=data["unlabeled"], soft=data["soft"],
                   verdicts=VerdictPolicy(annotators=tuple(verdicts["annotators"]),
                                          resolution=Resolution(verdicts["resolution"]),
                                          threshold=verdicts["threshold"]))


def trained_steps(weights: Sequence[float]) -> int:
    return sum(1 for w in weights if w > 0)
