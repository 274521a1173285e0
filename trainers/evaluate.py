"""Offline evaluation: how likely a trained model finds the held-out actions the critic accepted or rejected.

Each held-out trajectory is rendered and masked exactly as for training (:func:`trainers.data.mask_trajectory`,
same chat template and mask options), with every non-excluded assistant step located. One forward pass per
batch gives the log-likelihood of each step's trained tokens (logits only at those positions). Per trajectory
the sums are kept by category:

- ``accepted``: steps whose effective verdict is ``correct``;
- ``rejected``: steps whose effective verdict is ``incorrect``;
- ``resolved``: every step of a resolved trajectory.

A category's figure is the mean token log-likelihood ``sum(log p) / tokens`` over the trajectories (so a
resample of trajectories recomputes it from their sums); ``margin`` is accepted − rejected. Steps that cannot
be scored (excluded, cut by ``max_length``, or not located by a template) are counted, never silently lost.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srft_format.dataset import Dataset
from srft_format.models import Label, Trajectory
from srft_format.policy import VerdictPolicy

from .collate import IGNORE, Collator, as_row
from .data import mask_trajectory
from .loading import load_model
from .masks import MaskedExample, MaskOptions

CATEGORIES = ("accepted", "rejected", "resolved")
FIGURES = (*CATEGORIES, "margin")


@dataclass
class HeldOut:
    """The held-out examples, masked once and shared by every run's evaluation."""

    examples: list[MaskedExample]
    categories: list[dict[int, tuple[str, ...]]]
    """Per example: step -> the categories it counts in (steps of an earlier example are not repeated)."""
    trajectories: list[dict[str, Any]]
    """Per trajectory (in dataset order): id, task, resolved."""
    example_trajectory: list[int]
    skipped: Counter = field(default_factory=Counter)
    """Steps not scored, by reason."""

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)


def step_categories(traj: Trajectory, verdicts: VerdictPolicy, sidecar: Iterable[Any]) -> dict[int, tuple[str, ...]]:
    """Step index -> its categories (possibly none: e.g. an unlabelled step of an unresolved trajectory)."""
    effective = verdicts.resolve([*traj.verdicts, *sidecar])
    out = {}
    for step in traj.steps:
        cats = []
        label = effective[step.index].label if step.index in effective else None
        if label is Label.correct:
            cats.append("accepted")
        elif label is Label.incorrect:
            cats.append("rejected")
        if traj.outcome.resolved is True:
            cats.append("resolved")
        out[step.index] = tuple(cats)
    return out


def mask_held_out(dataset: Dataset, tokenizer: Any, verdicts: VerdictPolicy, mask_options: MaskOptions) -> HeldOut:
    """Mask every held-out trajectory with all its non-excluded steps as targets (the training masks)."""
    held = HeldOut([], [], [], [])
    sidecar = dataset.verdicts_by_trajectory()
    for traj in dataset.trajectories():
        held.trajectories.append({"id": traj.id, "task": traj.task.instance_id,
                                  "resolved": traj.outcome.resolved is True})
        categories = step_categories(traj, verdicts, sidecar.get(traj.id, ()))
        held.skipped["excluded"] += sum(1 for s in traj.steps if s.exclude)
        weights = [0.0 if s.exclude else 1.0 for s in traj.steps]
        examples = mask_trajectory(dataset, traj, tokenizer, weights, mask_options) if any(weights) else []
        seen: set[int] = set()
        for example in examples:
            held.skipped["cut by max_length"] += len(example.truncated_steps)
            mine = {s.step: categories[s.step] for s in example.steps
                    if s.weight > 0 and s.end > s.start and s.step not in seen}
            seen.update(mine)
            held.examples.append(example)
            held.categories.append(mine)
            held.example_trajectory.append(len(held.trajectories) - 1)
        cut = {step for e in examples for step in e.truncated_steps}
        held.skipped["not located"] += sum(1 for i, w in enumerate(weights) if w and i not in seen and i not in cut)
    return held


def load_trained(run_dir: Path, base_model: str | None = None, dtype: Any = None) -> Any:
    """A run's ``final/`` model; LoRA adapters are applied to ``base_model``."""
    final = Path(run_dir) / "final"
    if (final / "adapter_config.json").is_file():
        from peft import PeftModel

        if base_model is None:
            raise ValueError("a LoRA run needs its base model")
        return PeftModel.from_pretrained(load_model(base_model, dtype=dtype), final)
    return load_model(final, dtype=dtype)


def score(model: Any, held: HeldOut, pad_id: int, batch_size: int = 4, device: str = "cpu",
          progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Per trajectory, ``sums[c] = (sum of log p, tokens, steps)`` for each category ``c``, by one forward
    pass per batch with logits only at the scored positions."""
    import torch

    model.eval().to(device)
    sums = np.zeros((len(held.trajectories), len(CATEGORIES), 3))
    collate = Collator(pad_id)
    order = sorted(range(len(held.examples)), key=lambda i: len(held.examples[i].input_ids))  # less padding
    started = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(order), batch_size):
            chunk = order[first:first + batch_size]
            batch = collate([as_row(held.examples[i]) for i in chunk])
            labels = batch.pop("labels")
            batch.pop("loss_weights")
            positions = (labels[:, 1:] != IGNORE).any(0).nonzero().squeeze(-1)
            logits = model(**{k: v.to(device) for k, v in batch.items()}, use_cache=False,
                           logits_to_keep=positions.to(device)).logits.float()
            targets = labels[:, 1:][:, positions].to(device)
            logp = torch.log_softmax(logits, -1).gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            dense = torch.zeros(labels.shape, dtype=torch.float64)  # log p of token t at column t
            dense[:, positions + 1] = logp.masked_fill(targets == IGNORE, 0).double().cpu()
            cumulative = np.concatenate([np.zeros((len(chunk), 1)), dense.cumsum(1).numpy()], axis=1)
            for row, index in enumerate(chunk):
                _add(sums[held.example_trajectory[index]], held.examples[index], held.categories[index],
                     cumulative[row])
            if progress:
                progress(len(chunk))
    return {"sums": sums, "seconds": time.perf_counter() - started}


def _add(sums: np.ndarray, example: MaskedExample, categories: dict[int, tuple[str, ...]],
         cumulative: np.ndarray) -> None:
    """Add each categorised step's log-likelihood (``cumulative[t]``: the sum over tokens before ``t``)."""
    for span in example.steps:
        for cat in categories.get(span.step, ()):
            sums[CATEGORIES.index(cat)] += (cumulative[span.end] - cumulative[span.start],
                                            span.end - span.start, 1)


def figures(sums: np.ndarray) -> np.ndarray:
    """``(..., trajectories, categories, 3)`` sums -> ``(..., 4)``: mean token log-likelihood of each
    category (NaN without tokens) and the margin accepted − rejected."""
    totals = sums.sum(axis=-3)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(totals[..., 1] > 0, totals[..., 0] / totals[..., 1], np.nan)
    return np.concatenate([means, means[..., :1] - means[..., 1:2]], axis=-1)


def evaluate_run(run_dir: Path, held: HeldOut, pad_id: int, *, base_model: str | None = None,
                 batch_size: int = 4, device: str = "cpu") -> dict[str, Any]:
    """The evaluation record of one run (``eval.json``): per-trajectory sums and the point figures."""
    import torch

    model = load_trained(run_dir, base_model, dtype=torch.float32)
    result = score(model, held, pad_id, batch_size, device)
    point = figures(result["sums"])
    return {"figures": {name: _finite(v) for name, v in zip(FIGURES, point)},
            "trajectories": [{**t, "sums": {c: result["sums"][i, j].tolist() for j, c in enumerate(CATEGORIES)}}
                             for i, t in enumerate(held.trajectories)],
            "tokens": held.tokens, "skipped_steps": dict(held.skipped),
            "seconds": round(result["seconds"], 3)}


def sums_of(record: dict[str, Any]) -> np.ndarray:
    """``(trajectories, categories, 3)`` sums back from an ``eval.json`` record."""
    return np.array([[t["sums"][c] for c in CATEGORIES] for t in record["trajectories"]], dtype=float)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
