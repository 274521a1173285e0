"""Batches of precomputed labels: padding, and optional packing of several examples per row.

The labels and per-token loss weights come from :func:`srft_format.trainers.masks.build_example` and are never
recomputed here; the collator only pads (labels ``-100``, weight 0) and, with packing, concatenates examples.

Packing rule: examples are packed in order into rows of at most ``max_length`` tokens (next fit; an example
never splits across rows). ``position_ids`` restart at 0 for every example and no ``attention_mask`` is
passed, which makes transformers' masking utilities (sdpa, eager and flash attention alike) build a
block-diagonal causal mask: no token attends across an example boundary. The model must run with
``use_cache=False``: with a KV cache transformers skips that detection (the training loop passes it). The
first label of every example is set to ``-100``, because in a packed row it would be predicted from the
previous example's last token. With these two rules a
packed row's loss is exactly the sum of its examples' losses (``tests/test_train.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .masks import IGNORE_INDEX as IGNORE


@dataclass(frozen=True)
class Row:
    """One training sequence: token ids, labels (-100 = no loss), loss weights and positions."""

    input_ids: list[int]
    labels: list[int]
    weights: list[float]
    position_ids: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def as_row(example: Any) -> Row:
    """A :class:`Row` from a ``MaskedExample``; a masked token's weight is 0 whatever the example says."""
    weights = [w if label != IGNORE else 0.0 for w, label in zip(example.token_weights, example.labels)]
    return Row(list(example.input_ids), list(example.labels), weights, list(range(len(example.input_ids))))


def pack_rows(rows: Iterable[Row], max_length: int) -> list[Row]:
    """Concatenate rows in order into rows of at most ``max_length`` tokens (next fit; see the module doc)."""
    packed: list[Row] = []
    current: list[Row] = []
    for row in rows:
        if current and sum(map(len, current)) + len(row) > max_length:
            packed.append(_concat(current))
            current = []
        current.append(row)
    if current:
        packed.append(_concat(current))
    return packed


def _concat(rows: Sequence[Row]) -> Row:
    if len(rows) == 1:
        return rows[0]
    ids: list[int] = []
    labels: list[int] = []
    weights: list[float] = []
    positions: list[int] = []
    for row in rows:
        ids += row.input_ids
        labels += [IGNORE, *row.labels[1:]]
        weights += [0.0, *row.weights[1:]]
        positions += row.position_ids
    return Row(ids, labels, weights, positions)


@dataclass(frozen=True)
class Collator:
    """Pad a list of :class:`Row` into tensors for a causal LM.

    Returns ``input_ids``, ``labels``, ``loss_weights`` and either ``attention_mask`` (``packed=False``) or
    ``position_ids`` (``packed=True``: padding then forms a segment of its own, which nothing attends to).
    """

    pad_token_id: int
    packed: bool = False
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: Sequence[Row]) -> dict[str, Any]:
        import torch

        width = max(map(len, rows))
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch: dict[str, Any] = {
            "input_ids": torch.tensor([r.input_ids + [self.pad_token_id] * (width - len(r)) for r in rows]),
            "labels": torch.tensor([r.labels + [IGNORE] * (width - len(r)) for r in rows]),
            "loss_weights": torch.tensor([r.weights + [0.0] * (width - len(r)) for r in rows]),
        }
        if self.packed:
            batch["position_ids"] = torch.tensor([r.position_ids + list(range(width - len(r))) for r in rows])
        else:
            batch["attention_mask"] = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return batch
