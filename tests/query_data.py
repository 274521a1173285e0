"""Datasets for the query, stats and report tests: a small one with hand-computed figures, random ones.

Annotators ``critic-a`` (llm) and ``critic-b`` (rule); with the default policy (priority, ids in order) the
effective labels are:

====  ========  ======  =====  ===========================================================
traj  repo      model   steps  effective labels (step: label), tokens per step
====  ========  ======  =====  ===========================================================
t1    o/alpha   m1      4      resolved; inline a: 0 c, 1 i, 2 c, 3 c; tokens 10 20 30 40
t2    o/alpha   m2      5      unresolved; sidecar a: 0 c, 1 i, 2 i, 3 n; b: 0 i, 2 c, 4 c (0.9);
                               effective 0 c, 1 i, 2 i, 3 n, 4 c; tokens 5 each
t3    o/beta    m1      2      unknown outcome; step 0 excluded (demonstration); b: 1 i; no usage
t4    o/beta    m1      10     unresolved, no verdicts; tokens 1 each
====  ========  ======  =====  ===========================================================
"""

from __future__ import annotations

import random
from pathlib import Path

from factories import make_trajectory

from srft_format.dataset import write_dataset
from srft_format.models import (FORMAT_VERSION, Annotator, ExcludeReason, TextPart, Trajectory, Usage,
                                Verdict, VerdictRecord)

CRITIC_A = Annotator(id="critic-a", kind="llm", model="critic-model", parameters={"temperature": 0})
CRITIC_B = Annotator(id="critic-b", kind="rule", description="a test rule")
CRITIC_C = Annotator(id="critic-c", kind="outcome")

LABELS = ("correct", "incorrect", "neutral", "unknown")
SCORES = (None, None, 0.0, 0.25, 0.5, 0.75, 1.0)
"""Scores whose sums are exact in binary, so SQL and Python means agree to the bit."""


def trajectory(traj_id: str, n_steps: int, *, repo: str, model: str, resolved: bool | None,
               exit_status: str = "submitted", tokens: int | list[int] | None = None,
               verdicts: list[Verdict] = (), excluded: tuple[int, ...] = ()) -> Trajectory:
    """``factories.make_trajectory`` with the task, outcome, usage, exclusions and verdicts given."""
    traj = make_trajectory(traj_id, n_steps, resolved=resolved)
    traj.task.repo, traj.agent.model, traj.outcome.exit_status = repo, model, exit_status
    per_step = tokens if isinstance(tokens, list) else [tokens] * n_steps
    for step, n in zip(traj.steps, per_step):
        step.usage = Usage(prompt_tokens=100, completion_tokens=n, cost=0.01) if n else None
        step.exclude = [ExcludeReason.demonstration] if step.index in excluded else []
    traj.messages[-1].content = [TextPart(type="text", text="last output")]
    traj.verdicts = list(verdicts)
    traj.annotators = [a for a in (CRITIC_A, CRITIC_B, CRITIC_C) if a.id in {v.annotator for v in verdicts}]
    return traj


def verdict(step: int, annotator: str, label: str, score: float | None = None) -> Verdict:
    return Verdict(step=step, annotator=annotator, label=label, score=score)


def record(traj_id: str, v: Verdict) -> VerdictRecord:
    return VerdictRecord(format_version=FORMAT_VERSION, trajectory=traj_id, **v.model_dump())


def small_trajectories() -> list[Trajectory]:
    return [
        trajectory("t1", 4, repo="o/alpha", model="m1", resolved=True, tokens=[10, 20, 30, 40],
                        verdicts=[verdict(0, "critic-a", "correct"), verdict(1, "critic-a", "incorrect"),
                                  verdict(2, "critic-a", "correct"), verdict(3, "critic-a", "correct")]),
        trajectory("t2", 5, repo="o/alpha", model="m2", resolved=False, tokens=5),
        trajectory("t3", 2, repo="o/beta", model="m1", resolved=None, excluded=(0,)),
        trajectory("t4", 10, repo="o/beta", model="m1", resolved=False, exit_status="error", tokens=1),
    ]


def small_sidecar() -> list[VerdictRecord]:
    sidecar = [("t2", 0, "critic-a", "correct", None), ("t2", 1, "critic-a", "incorrect", None),
               ("t2", 2, "critic-a", "incorrect", None), ("t2", 3, "critic-a", "neutral", None),
               ("t2", 0, "critic-b", "incorrect", None), ("t2", 2, "critic-b", "correct", None),
               ("t2", 4, "critic-b", "correct", 0.9), ("t3", 1, "critic-b", "incorrect", None)]
    return [record(traj, verdict(step, annotator, label, score))
            for traj, step, annotator, label, score in sidecar]


def write_small_dataset(path: Path, storage: str = "parquet", name: str = "small") -> Path:
    write_dataset(path, small_trajectories(), name=name, storage=storage, annotators=[CRITIC_A, CRITIC_B],
                  verdicts=small_sidecar())
    return path


def random_verdicts(rng: random.Random, n_steps: int, rate: float) -> list[Verdict]:
    """About ``rate`` of the (step, annotator) pairs, with any label and score."""
    return [verdict(step, ann.id, rng.choice(LABELS), rng.choice(SCORES))
            for step in range(n_steps) for ann in (CRITIC_A, CRITIC_B, CRITIC_C) if rng.random() < rate]


def write_random_dataset(path: Path, seed: int, n: int = 40, storage: str = "parquet") -> Path:
    """Random outcomes, exclusions, inline and sidecar verdicts (sidecars may repeat an inline key)."""
    rng = random.Random(seed)
    trajectories, sidecar = [], []
    for i in range(n):
        n_steps = rng.randint(0, 12)
        traj = trajectory(f"r{i}", n_steps, repo=rng.choice(["o/a", "o/b", "o/c"]),
                          model=rng.choice(["m1", "m2"]),
                          resolved=rng.choice([True, False, None]),
                          exit_status=rng.choice(["submitted", "error", "cost_limit"]),
                          tokens=[rng.randint(1, 50) for _ in range(n_steps)],
                          verdicts=random_verdicts(rng, n_steps, 0.3),
                          excluded=tuple(s for s in range(n_steps) if rng.random() < 0.1))
        trajectories.append(traj)
        sidecar += [record(traj.id, v) for v in random_verdicts(rng, n_steps, 0.4)]
    write_dataset(path, trajectories, name=f"random-{seed}", storage=storage,
                  annotators=[CRITIC_A, CRITIC_B, CRITIC_C], verdicts=sidecar)
    return path
