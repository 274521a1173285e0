"""Drawing steps for humans to label: stratified, reproducible, recorded, optionally double-annotated.

Strata: the trajectory's outcome (unresolved first: resolved runs are trained whole by RFT and SRFT alike, so
their step labels matter least; then outcome unknown; then resolved), and within it the step's position
(quartile of the trajectory) and action kind. Steps flagged ``exclude`` are never drawn. Within the outcome
tier being drawn, each stratum gets steps in proportion to its size (largest remainders), at most
``per_trajectory`` steps from any one trajectory; a stratum short of steps hands its share to the others.

The draw is a pure function of the dataset's steps, the seed and the options: the same inputs draw the same
steps. ``sample.json`` records all of them with the dataset's content hash, so a draw can be checked later.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from srft_format.models import Trajectory

OUTCOME_TIERS = ("unresolved", "unknown", "resolved")
POSITIONS = ("first quarter", "second quarter", "third quarter", "last quarter")


@dataclass(frozen=True)
class Candidate:
    trajectory: str
    step: int
    outcome: str
    position: str
    kind: str

    @property
    def stratum(self) -> str:
        return f"{self.outcome} / {self.position} / {self.kind}"


def outcome_tier(traj: Trajectory) -> str:
    resolved = traj.outcome.resolved
    return "unknown" if resolved is None else "resolved" if resolved else "unresolved"


def candidates(trajectories: Iterable[Trajectory]) -> list[Candidate]:
    """Every trainable step, in dataset order."""
    out = []
    for traj in trajectories:
        n = len(traj.steps)
        for step in traj.steps:
            if step.exclude:
                continue
            kind = step.actions[0].kind.value if step.actions else "none"
            out.append(Candidate(traj.id, step.index, outcome_tier(traj), POSITIONS[step.index * 4 // n], kind))
    return out


def draw(pool: Sequence[Candidate], n: int, seed: int, per_trajectory: int | None = None) -> list[Candidate]:
    """``n`` steps (fewer when the pool runs out), outcome tiers in order, strata proportional within a tier."""
    rng = random.Random(seed)
    taken: list[Candidate] = []
    per_traj: dict[str, int] = defaultdict(int)
    for tier in OUTCOME_TIERS:
        strata: dict[str, list[Candidate]] = defaultdict(list)
        for c in pool:
            if c.outcome == tier:
                strata[c.stratum].append(c)
        for members in strata.values():
            rng.shuffle(members)
        while len(taken) < n and any(strata.values()):
            quota = _allocate({k: len(v) for k, v in strata.items()}, n - len(taken))
            progress = False
            for name in sorted(strata):
                members, want = strata[name], quota.get(name, 0)
                while want and members:
                    c = members.pop()
                    progress = True
                    if per_trajectory is not None and per_traj[c.trajectory] >= per_trajectory:
                        continue
                    per_traj[c.trajectory] += 1
                    taken.append(c)
                    want -= 1
            if not progress:
                break
            strata = {k: v for k, v in strata.items() if v}
        if len(taken) >= n:
            break
    return taken


def _allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """``n`` split in proportion to ``sizes`` (largest remainders, ties by name), none above its size."""
    total = sum(sizes.values())
    if total <= n:
        return dict(sizes)
    exact = {k: n * s / total for k, s in sizes.items()}
    quota = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (-(exact[k] - quota[k]), k))[:n - sum(quota.values())]:
        quota[k] += 1
    return quota


def assign(steps: Sequence[Candidate], labelers: Sequence[str], double: float, seed: int) -> list[list[str]]:
    """Labelers per drawn step: round robin, and a ``double`` share of the steps get a second labeler."""
    if not labelers:
        return [[] for _ in steps]
    rng = random.Random(seed + 1)
    doubled = set(rng.sample(range(len(steps)), round(double * len(steps)))) if len(labelers) > 1 else set()
    out = []
    for i in range(len(steps)):
        first = labelers[i % len(labelers)]
        out.append([first, labelers[(i + 1) % len(labelers)]] if i in doubled else [first])
    return out
