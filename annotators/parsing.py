"""Reading a critic model's answer: JSON with ``label``, ``score`` and ``rationale``, parsed robustly.

Accepted: the JSON alone, inside a Markdown code fence, or after some prose (the first JSON value is used).
A label must be one of the allowed words exactly (case and spaces aside): an answer is never guessed into a
label. ``score`` is kept only when it is a number in [0, 1].
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from srft_format.models import Label

ANSWER_LABELS = {"correct": Label.correct, "incorrect": Label.incorrect, "neutral": Label.neutral}
MAX_RATIONALE_CHARS = 2000
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class MalformedAnswer(ValueError):
    """The answer is not the JSON asked for; the message says what is wrong (it is shown to the model)."""


@dataclass(frozen=True)
class Judgement:
    label: Label
    score: float | None
    rationale: str | None


def first_json(text: str, opener: str, wanted: Callable[[Any], bool] = lambda value: True) -> Any:
    """The first JSON value in ``text`` that starts with ``opener`` ('{' or '['), preferring ``wanted`` ones."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    fallback = None
    for candidate in candidates:
        start = candidate.find(opener)
        while start != -1:
            try:
                value, end = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                start = candidate.find(opener, start + 1)
                continue
            if wanted(value):
                return value
            fallback = value if fallback is None else fallback
            start = candidate.find(opener, end)
    if fallback is not None:
        return fallback
    kind = "object" if opener == "{" else "list"
    raise MalformedAnswer(f"no JSON {kind} found in the answer")


def judgement(obj: Any) -> Judgement:
    if not isinstance(obj, dict):
        raise MalformedAnswer("expected a JSON object with label, score, rationale")
    raw_label = obj.get("label")
    label = ANSWER_LABELS.get(raw_label.strip().lower()) if isinstance(raw_label, str) else None
    if label is None:
        raise MalformedAnswer(f"label must be one of {', '.join(ANSWER_LABELS)}, got {raw_label!r}")
    score = obj.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        score = None
    rationale = obj.get("rationale")
    rationale = str(rationale)[:MAX_RATIONALE_CHARS] if rationale not in (None, "") else None
    return Judgement(label, float(score) if score is not None else None, rationale)


def parse_step_answer(text: str) -> Judgement:
    return judgement(first_json(text, "{", lambda value: isinstance(value, dict) and "label" in value))


def parse_trajectory_answer(text: str, steps: Sequence[int]) -> tuple[dict[int, Judgement], str | None]:
    """The valid judgements among ``steps``, and what was wrong with the rest (None when nothing was).

    Raises :class:`MalformedAnswer` when the answer holds no list of judgements at all.
    """
    value = first_json(text, "[") if text.lstrip().startswith("[") or "{" not in text else None
    if value is None:
        obj = first_json(text, "{")
        value = obj.get("steps") if isinstance(obj, dict) else None
        if not isinstance(value, list):
            raise MalformedAnswer("expected a JSON list with one object per step")
    wanted, found, problems = set(steps), {}, []
    for item in value:
        step = item.get("step") if isinstance(item, dict) else None
        if isinstance(step, bool) or not isinstance(step, int) or step not in wanted:
            problems.append(f"unexpected item {json.dumps(item)[:80]}")
            continue
        try:
            found[step] = judgement(item)
        except MalformedAnswer as exc:
            problems.append(f"step {step}: {exc}")
    missing = sorted(wanted - found.keys())
    if missing:
        problems.append(f"no valid answer for steps {', '.join(map(str, missing))}")
    return found, "; ".join(problems[:5]) if problems else None
