"""How good a critic is against gold (human) step labels, with bootstrap intervals resampled by trajectory.

Steps within one run are not independent, so every interval resamples whole trajectories: each resample draws
the gold-labeled trajectories with replacement and recomputes the metric from the summed confusion matrices.
The positive class is ``incorrect`` (what SRFT rejects). Metrics:

- precision / recall / F1 of ``incorrect``, Cohen's kappa, accuracy, on the steps both labeled;
- first-error localisation: the share of trajectories whose critic's first ``incorrect`` is the gold's first
  (exactly, and within +-k steps), as Who&When scores step-level accuracy;
- calibration when the critic gives scores (``score`` = P(correct)): reliability bins and expected calibration
  error against the gold's correct/incorrect;
- where it errs: the same figures by action kind, position decile and repo, and the worst disagreements.

Two critics are compared on the same resamples, so the difference's interval accounts for their pairing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from srft_format.models import Trajectory, Verdict

from .agreement import LABEL_ORDER, POSITIVE

LABELS = LABEL_ORDER
_IDX = {label: i for i, label in enumerate(LABELS)}
_POS = _IDX[POSITIVE]
METRICS = ("precision", "recall", "f1", "kappa", "accuracy")
WORST = 10


@dataclass(frozen=True)
class Pair:
    """One step both sides labeled."""

    trajectory: str
    step: int
    critic: str
    gold: str
    score: float | None
    critic_rationale: str | None
    gold_rationale: str | None
    kind: str
    decile: int
    repo: str


@dataclass
class TrajectoryLabels:
    """One trajectory's compared steps and the first ``incorrect`` of each side (over all its labels)."""

    id: str
    pairs: list[Pair] = field(default_factory=list)
    critic_first: int | None = None
    gold_first: int | None = None
    only_critic: int = 0
    only_gold: int = 0
    judged: bool = False
    """The critic labeled every trainable step up to the gold's first error (or ``missing`` stands in), so
    whether its first error is the gold's is known: the trajectory counts for localisation."""


def metrics_from_matrices(m: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics of confusion matrices ``m`` (shape ``(..., 4, 4)``, rows critic, columns gold); NaN where
    undefined (no critic ``incorrect`` for precision, no gold ``incorrect`` for recall, chance agreement 1)."""
    m = np.asarray(m, dtype=float)
    n = m.sum(axis=(-2, -1))
    tp = m[..., _POS, _POS]
    called = m[..., _POS, :].sum(-1)
    actual = m[..., :, _POS].sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(called > 0, tp / called, np.nan)
        recall = np.where(actual > 0, tp / actual, np.nan)
        f1 = np.where((called > 0) & (actual > 0), 2 * tp / (called + actual), np.nan)
        observed = np.trace(m, axis1=-2, axis2=-1) / n
        expected = (m.sum(-1) * m.sum(-2)).sum(-1) / (n * n)
        kappa = np.where(np.isclose(expected, 1), np.nan, (observed - expected) / (1 - expected))
    return {"precision": precision, "recall": recall, "f1": f1, "kappa": kappa, "accuracy": observed}


def matrix(pairs: Iterable[Pair]) -> np.ndarray:
    m = np.zeros((len(LABELS), len(LABELS)))
    for p in pairs:
        m[_IDX[p.critic], _IDX[p.gold]] += 1
    return m


def collect(trajectories: Iterable[Trajectory], sidecar: dict[str, list[Verdict]], critic: str, gold: str, *,
            missing: str | None = None) -> list[TrajectoryLabels]:
    """Per trajectory the gold labeled at all: the steps both labeled; with ``missing``, a step the gold labeled
    and the critic did not counts as that critic label (e.g. ``correct`` for a rule critic)."""
    out = []
    for traj in trajectories:
        c: dict[int, Verdict] = {}
        g: dict[int, Verdict] = {}
        for v in [*traj.verdicts, *sidecar.get(traj.id, ())]:
            if v.annotator == critic:
                c[v.step] = v
            if v.annotator == gold:
                g[v.step] = v
        if not g:
            continue
        labels = TrajectoryLabels(traj.id, gold_first=_first_incorrect(g), critic_first=_first_incorrect(c))
        labels.only_critic = len(c.keys() - g.keys())
        gold_first = labels.gold_first
        labels.judged = gold_first is not None and (missing is not None or all(
            s in c for s in range(gold_first + 1) if s < len(traj.steps) and not traj.steps[s].exclude))
        n = max(len(traj.steps), 1)
        for step, gv in sorted(g.items()):
            cv = c.get(step)
            if cv is None and missing is None:
                labels.only_gold += 1
                continue
            st = traj.steps[step] if step < len(traj.steps) else None
            kind = st.actions[0].kind.value if st is not None and st.actions else "none"
            labels.pairs.append(Pair(
                traj.id, step, cv.label.value if cv else missing, gv.label.value, cv.score if cv else None,
                cv.rationale if cv else None, gv.rationale, kind, min(9, step * 10 // n),
                traj.task.repo or traj.task.dataset or "(unknown)"))
        out.append(labels)
    return out


def _first_incorrect(verdicts: dict[int, Verdict]) -> int | None:
    return min((s for s, v in verdicts.items() if v.label.value == POSITIVE), default=None)


@dataclass
class Evaluation:
    critic: str
    trajectories: list[TrajectoryLabels]
    k: int = 1

    @property
    def pairs(self) -> list[Pair]:
        return [p for t in self.trajectories for p in t.pairs]

    def matrices(self) -> np.ndarray:
        """``(trajectories, 4, 4)``: each trajectory's confusion matrix."""
        return np.stack([matrix(t.pairs) for t in self.trajectories]) if self.trajectories else \
            np.zeros((0, len(LABELS), len(LABELS)))

    def localisation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per trajectory: has a gold first error, critic first == gold first, within +-k."""
        has = np.array([t.judged and t.gold_first is not None for t in self.trajectories], dtype=float)
        exact = has * [t.critic_first == t.gold_first for t in self.trajectories]
        near = has * [t.critic_first is not None and t.gold_first is not None
                      and abs(t.critic_first - t.gold_first) <= self.k for t in self.trajectories]
        return has, exact, near


def resample_weights(n_trajectories: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, trajectories)``: how often each trajectory is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    if n_trajectories == 0:
        return np.zeros((resamples, 0))
    return rng.multinomial(n_trajectories, np.full(n_trajectories, 1 / n_trajectories), size=resamples)


def bootstrap(ev: Evaluation, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every headline metric on each resample (``weights`` from :func:`resample_weights`, same trajectories)."""
    mats = ev.matrices().reshape(len(ev.trajectories), -1)
    values = metrics_from_matrices((weights @ mats).reshape(-1, len(LABELS), len(LABELS)))
    has, exact, near = ev.localisation()
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = weights @ has
        values["first_error_exact"] = np.where(denominator > 0, (weights @ exact) / denominator, np.nan)
        values["first_error_within_k"] = np.where(denominator > 0, (weights @ near) / denominator, np.nan)
    return values


def point(ev: Evaluation) -> dict[str, float]:
    return {name: float(v[0]) for name, v in bootstrap(ev, np.ones((1, len(ev.trajectories)))).items()}


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    """The percentile interval of the resamples where the metric is defined."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None, None
    low, high = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def calibration(pairs: Sequence[Pair], bins: int = 10) -> dict[str, Any] | None:
    """Reliability bins of the critic's P(correct) against gold correct/incorrect; None without scores."""
    scored = [(p.score, p.gold == "correct") for p in pairs if p.score is not None and p.gold in ("correct",
                                                                                                 POSITIVE)]
    if not scored:
        return None
    scores = np.array([s for s, _ in scored])
    truth = np.array([t for _, t in scored], dtype=float)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            mean, observed = float(scores[sel].mean()), float(truth[sel].mean())
            ece += sel.sum() / len(scores) * abs(mean - observed)
            rows.append({"bin": [b / bins, (b + 1) / bins], "steps": int(sel.sum()), "mean_score": _num(mean),
                         "observed_correct": _num(observed)})
    return {"steps": len(scored), "bins": rows, "ece": _num(ece)}


def breakdown(pairs: Sequence[Pair], key: str) -> list[dict[str, Any]]:
    """The figures per value of ``key`` (``kind``, ``decile``, ``repo``)."""
    groups: dict[Any, list[Pair]] = defaultdict(list)
    for p in pairs:
        groups[getattr(p, key)].append(p)
    rows = []
    for value, group in sorted(groups.items(), key=lambda kv: (-len(kv[1]), str(kv[0])) if key == "repo"
                               else str(kv[0]).zfill(3)):
        m = matrix(group)
        figures = {name: _num(v) for name, v in metrics_from_matrices(m).items()}
        rows.append({key: value, "steps": len(group), "critic_incorrect": int(m[_POS].sum()),
                     "gold_incorrect": int(m[:, _POS].sum()), **figures})
    return rows


def worst(pairs: Sequence[Pair], n: int = WORST) -> list[dict[str, Any]]:
    """The ``n`` disagreements the critic was surest of: missed gold errors first, then false alarms."""
    def badness(p: Pair) -> tuple[float, int]:
        sure = 0.5 if p.score is None else (p.score if p.gold == POSITIVE else 1 - p.score)
        return -sure, 0 if p.gold == POSITIVE else 1 if p.critic == POSITIVE else 2

    wrong = sorted((p for p in pairs if p.critic != p.gold), key=lambda p: (*badness(p), p.trajectory, p.step))
    return [{"trajectory": p.trajectory, "step": p.step, "critic": p.critic, "score": p.score,
             "critic_rationale": p.critic_rationale, "gold": p.gold, "gold_rationale": p.gold_rationale}
            for p in wrong[:n]]


def evaluate(evaluations: Sequence[Evaluation], *, resamples: int = 1000, seed: int = 0,
             level: float = 0.95) -> dict[str, Any]:
    """Every figure for each critic, and (for two or more) each later critic minus the first, with intervals.

    All critics must cover the same trajectories in the same order (see :func:`collect`)."""
    n = len(evaluations[0].trajectories)
    weights = resample_weights(n, resamples, seed)
    boots = [bootstrap(ev, weights) for ev in evaluations]
    critics = []
    for ev, boot in zip(evaluations, boots):
        pairs = ev.pairs
        has, exact, near = ev.localisation()
        est = point(ev)
        first = [t for t in ev.trajectories if t.judged and t.gold_first is not None]

        def figure(name: str) -> dict[str, Any]:
            low, high = interval(boot[name], level)
            return {"value": _num(est[name]), "low": _num(low), "high": _num(high)}

        m = matrix(pairs)
        critics.append({
            "critic": ev.critic, "trajectories": sum(1 for t in ev.trajectories if t.pairs), "steps": len(pairs),
            "only_critic": sum(t.only_critic for t in ev.trajectories),
            "only_gold": sum(t.only_gold for t in ev.trajectories),
            "matrix": {a: {g: int(m[_IDX[a], _IDX[g]]) for g in LABELS} for a in LABELS},
            "metrics": {name: figure(name) for name in METRICS},
            "first_error": {"trajectories": int(has.sum()), "k": ev.k,
                            "not_covered": sum(t.gold_first is not None and not t.judged for t in ev.trajectories),
                            "exact": figure("first_error_exact"),
                            "within_k": figure("first_error_within_k"),
                            "earlier": sum(t.critic_first is not None and t.critic_first < t.gold_first
                                           for t in first),
                            "later": sum(t.critic_first is not None and t.critic_first > t.gold_first
                                         for t in first),
                            "never": sum(t.critic_first is None for t in first)},
            "calibration": calibration(pairs),
            "by_kind": breakdown(pairs, "kind"), "by_position_decile": breakdown(pairs, "decile"),
            "by_repo": breakdown(pairs, "repo"), "worst": worst(pairs)})
    differences = []
    for ev, boot in zip(evaluations[1:], boots[1:]):
        est_a, est_b = point(evaluations[0]), point(ev)
        diff = {}
        for name in (*METRICS, "first_error_exact", "first_error_within_k"):
            low, high = interval(boot[name] - boots[0][name], level)
            diff[name] = {"value": _num(est_b[name] - est_a[name]), "low": _num(low), "high": _num(high)}
        differences.append({"critic": ev.critic, "minus": evaluations[0].critic, "metrics": diff})
    return {"bootstrap": {"resamples": resamples, "seed": seed, "level": level, "unit": "trajectory"},
            "critics": critics, "differences": differences}
