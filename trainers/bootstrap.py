"""Percentile bootstrap over held-out trajectories (within a seed) and over seeds (two levels).

Every figure here is a ratio of sums over trajectories (a token-weighted mean log-likelihood), so a resample
is a draw of trajectory indices and the figure is recomputed from the drawn trajectories' sums. The draws are
shared by every run of an experiment: the same trajectory indices for every policy at a seed, the same seed
draws for every policy, which makes the difference of two policies a *paired* bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Figures = Callable[[np.ndarray], np.ndarray]
"""``(..., trajectories, columns) sums -> (..., figures)``: the figures of resampled per-trajectory sums."""


@dataclass(frozen=True)
class Interval:
    estimate: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"mean": self.estimate, "low": self.low, "high": self.high}


def interval(estimate: float, samples: np.ndarray, confidence: float) -> Interval:
    """The percentile interval of ``samples`` (non-finite ones, e.g. a draw with no rejected token, left out);
    ``None`` where there is no finite estimate."""
    finite = samples[np.isfinite(samples)]
    if not np.isfinite(estimate) or finite.size == 0:
        return Interval(None, None, None)
    tail = 50 * (1 - confidence)
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))


class Resampler:
    """Draws for ``seeds`` seeds of ``trajectories`` held-out trajectories, fixed by ``rng_seed``."""

    def __init__(self, trajectories: int, seeds: int, draws: int = 2000, rng_seed: int = 0):
        rng = np.random.default_rng(rng_seed)
        self.draws = draws
        self.trajectory_draws = rng.integers(0, trajectories, size=(seeds, draws, trajectories))
        self.seed_draws = rng.random(size=(draws, seeds))  # uniform; scaled to the seeds that finished

    def within_seed(self, sums: np.ndarray, seed: int, figures: Figures) -> np.ndarray:
        """``(draws, figures)``: the figures of one run's ``(trajectories, columns)`` sums, resampled."""
        return figures(sums[self.trajectory_draws[seed]])

    def across_seeds(self, per_seed: Sequence[np.ndarray | None]) -> np.ndarray:
        """``(draws, figures)``: the mean over resampled seeds of resampled within-seed figures.

        ``per_seed[i]`` is :meth:`within_seed` for seed ``i``, or ``None`` for a run that did not finish
        (diverged or missing): such seeds are left out of the draw, never averaged in.
        """
        kept = [i for i, samples in enumerate(per_seed) if samples is not None]
        if not kept:
            raise ValueError("no finished run to resample")
        stacked = np.stack([per_seed[i] for i in kept])  # (seeds kept, draws, figures)
        chosen = (self.seed_draws[:, :len(kept)] * len(kept)).astype(int)  # (draws, seeds kept)
        return stacked[chosen, np.arange(self.draws)[:, None]].mean(axis=1)
