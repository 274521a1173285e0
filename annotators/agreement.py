"""How well two annotators agree on step labels: confusion matrix, precision/recall/F1 for ``incorrect``, kappa.

Annotator B is the reference (e.g. human labels), A the critic under test: precision is the share of A's
``incorrect`` calls that B agrees with, recall the share of B's ``incorrect`` steps that A caught. Cohen's
kappa is computed over every label either side used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Hashable

LABEL_ORDER = ("correct", "incorrect", "neutral", "unknown")
POSITIVE = "incorrect"


@dataclass(frozen=True)
class Agreement:
    matrix: Counter
    """``(a_label, b_label) -> steps``."""
    only_a: int
    """Steps only A labeled (left out, unless a label stands in for missing verdicts)."""
    only_b: int

    @property
    def n(self) -> int:
        return sum(self.matrix.values())

    @property
    def labels(self) -> list[str]:
        used = {label for pair in self.matrix for label in pair}
        return [label for label in LABEL_ORDER if label in used] + sorted(used - set(LABEL_ORDER))

    def count(self, a: str, b: str) -> int:
        return self.matrix.get((a, b), 0)

    @property
    def observed(self) -> float | None:
        return sum(self.count(label, label) for label in self.labels) / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; None when undefined (no steps, or chance agreement is already 1)."""
        n = self.n
        if not n:
            return None
        expected = sum(sum(self.count(label, b) for b in self.labels) * sum(self.count(a, label) for a in self.labels)
                       for label in self.labels) / (n * n)
        return None if expected == 1 else (self.observed - expected) / (1 - expected)

    @property
    def true_positives(self) -> int:
        return self.count(POSITIVE, POSITIVE)

    @property
    def false_positives(self) -> int:
        return sum(self.count(POSITIVE, b) for b in self.labels if b != POSITIVE)

    @property
    def false_negatives(self) -> int:
        return sum(self.count(a, POSITIVE) for a in self.labels if a != POSITIVE)

    @property
    def precision(self) -> float | None:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float | None:
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.n, "only_a": self.only_a, "only_b": self.only_b,
                "matrix": {a: {b: self.count(a, b) for b in self.labels} for a in self.labels},
                "observed_agreement": self.observed, "kappa": self.kappa,
                POSITIVE: {"tp": self.true_positives, "fp": self.false_positives, "fn": self.false_negatives,
                           "precision": self.precision, "recall": self.recall, "f1": self.f1}}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def compare(a: Mapping[Hashable, str], b: Mapping[Hashable, str], missing: str | None = None) -> Agreement:
    """Compare two ``{step key: label}`` maps; with ``missing``, a step only one side labeled counts as
    ``missing`` for the other (e.g. ``correct`` for a rule critic, which only ever says incorrect)."""
    matrix: Counter = Counter()
    only_a = only_b = 0
    for key in a.keys() | b.keys():
        la, lb = a.get(key), b.get(key)
        if la is None or lb is None:
            if missing is None:
                only_a += la is not None
                only_b += lb is not None
                continue
            la, lb = la or missing, lb or missing
        matrix[(la, lb)] += 1
    return Agreement(matrix, only_a, only_b)
