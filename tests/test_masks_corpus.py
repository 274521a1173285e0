"""Masks over the converted real corpus (SWE-agent, SWE-smith, mini-swe-agent, OpenHands...), all families."""

from __future__ import annotations

from collections import Counter

import pytest
from masking import naive_trained, tokenizer, whole_ids
from srft_format.trainers.chat import ChatTemplate, to_chat
from srft_format.trainers.masks import IGNORE_INDEX, MaskOptions, build_example

from srft_format.dataset import Dataset
from srft_format.errors import SrftError
from srft_format.models import Trajectory

FINAL = MaskOptions(context="final")
"""Every step on the final chat, as before recorded inputs (the whole conversation, one example)."""
REWRITES = "rewrites this turn once later turns follow"
ALTERNATION = "roles must alternate"
ONE_CALL = "this template supports one tool call per message"
REFUSALS = {
    # family -> what its template may refuse on real data (each named by the error, each explained below)
    "chatml": set(), "smollm2": set(), "thinking": set(),
    "llama3": {ONE_CALL}, "mistral": {REWRITES, ALTERNATION}, "gemma": {ALTERNATION},
}


def explains(reason: str, messages: list[dict]) -> bool:
    """The conversation really has what the template refuses."""
    if reason == REWRITES:  # the Mistral template moves the system prompt to the last of several user turns
        return sum(m["role"] == "user" for m in messages) >= 2
    if reason == ALTERNATION:
        turns = [m["role"] for m in messages if m["role"] in ("user", "assistant")]
        return turns[:1] != ["user"] or any(a == b for a, b in zip(turns, turns[1:]))
    return any(len(m.get("tool_calls", ())) > 1 for m in messages)  # ONE_CALL


@pytest.fixture(scope="module")
def trajectories(corpus_dataset) -> list[Trajectory]:
    return list(Dataset.open(corpus_dataset).trajectories())


def weights_for(traj: Trajectory) -> list[float]:
    """Every third step rejected: a mix of trained and masked steps in every trajectory."""
    return [0.0 if i % 3 == 1 else 1.0 for i in range(len(traj.steps))]


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(REFUSALS))
def test_corpus_masks_are_exact_or_refused_by_name(family, trajectories):
    tok = tokenizer(family)
    template = ChatTemplate.for_tokenizer(tok)
    refused: Counter = Counter()
    exact = 0
    for traj in trajectories:
        weights = weights_for(traj)
        chat = to_chat(traj, template)
        try:
            example = build_example(traj, tok, weights, FINAL)  # test_masks_recorded: the recorded contexts
        except SrftError as exc:
            reason = next((r for r in REFUSALS[family] if r in str(exc)), str(exc))
            assert reason in REFUSALS[family] and explains(reason, chat.messages), (traj.id, str(exc))
            refused[reason] += 1
            continue
        assert example.input_ids == whole_ids(tok, chat.messages, chat.tools), traj.id
        trained = {i for i, label in enumerate(example.labels) if label != IGNORE_INDEX}
        spans = [range(s.start, s.end) for s in example.steps if s.weight > 0]
        assert trained == set().union(*spans), traj.id
        assert [s.step for s in example.steps if s.weight > 0] == [i for i, w in enumerate(weights) if w > 0]
        for span in example.steps:
            text = tok.decode(example.input_ids[span.start:span.end])
            message = traj.messages[traj.steps[span.step].output]
            assert all(call.name in text for call in message.tool_calls), (traj.id, span.step)
            if isinstance(message.content, str) and message.content.strip():
                assert message.content.strip()[:40] in text, (traj.id, span.step)
        if len(traj.steps) <= 5:  # the naive way agrees token for token (it is slow on long trajectories)
            assert trained == naive_trained(tok, chat, weights), traj.id
        exact += 1
    assert exact >= len(trajectories) // 3, refused
