"""Thinking the source recorded reaches ``messages[].reasoning``, whatever the provider's shape.

The corpus holds no run with thinking; each case puts it, in the shape litellm / the provider records it, into
a real corpus record (mini-swe-agent v2 messages, an OpenHands completion log), then converts the record."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from srft_format.converters.base import SourceRecord
from srft_format.converters.conversion import choose_converter, convert_record
from srft_format.models import Trajectory
from srft_format.validate import check_trajectory

from convert_helpers import corpus_file

SIGNATURE = "EqQBCkYIBRgCKkD"


def converted(data: object, name: str) -> Trajectory:
    raw = orjson.dumps(data)
    record = SourceRecord(raw=raw, data=orjson.loads(raw), file=name, offset=0)
    (traj,) = convert_record(record, *choose_converter(record))
    assert check_trajectory(traj) == []
    return traj


def mini_with(corpus: Path, **fields: object) -> tuple[Trajectory, str]:
    path = corpus_file(corpus, "mini-swe-agent", "astropy-12907")
    data = orjson.loads(path.read_bytes())
    index = next(i for i, m in enumerate(data["messages"]) if m["role"] == "assistant")
    data["messages"][index].update(fields)
    traj = converted(data, path.name)
    return traj, traj.messages[index].reasoning


@pytest.mark.parametrize("fields", [
    {"reasoning_content": "Let me look at separable.py first."},  # litellm: DeepSeek, Gemini thoughts, o-series
    {"thinking_blocks": [{"type": "thinking", "thinking": "Let me look at separable.py first.",
                          "signature": SIGNATURE}]},  # litellm: Anthropic extended thinking
])
def test_litellm_reasoning_fields(corpus: Path, fields: dict) -> None:
    traj, reasoning = mini_with(corpus, **fields)
    assert reasoning == "Let me look at separable.py first."
    if "thinking_blocks" in fields:
        blocks = next(m.extra["thinking_blocks"] for m in traj.messages if m.reasoning)
        assert blocks == [{"type": "thinking", "signature": SIGNATURE}]


def test_think_tags_in_the_reply_text(corpus: Path) -> None:
    path = corpus_file(corpus, "mini-swe-agent", "astropy-12907")
    data = orjson.loads(path.read_bytes())
    index = next(i for i, m in enumerate(data["messages"]) if m["role"] == "assistant")
    reply = data["messages"][index]["content"]
    data["messages"][index]["content"] = f"<think>\nCheck the nested models.\n</think>\n{reply}"
    message = converted(data, path.name).messages[index]
    assert message.reasoning == "\nCheck the nested models.\n" and message.content == f"\n{reply}"
    assert message.extra["reasoning_in_content"] == "think_tags"


def test_anthropic_thinking_content_blocks(corpus: Path) -> None:
    folder = corpus / "openhands" / "v0.15-llm_completions" / "astropy__astropy-13033"
    path = sorted(folder.iterdir())[0]
    call = orjson.loads(path.read_bytes())
    message = call["response"]["choices"][0]["message"]
    message["content"] = [{"type": "thinking", "thinking": "The check is in core.py.", "signature": SIGNATURE},
                          {"type": "text", "text": message["content"]}]
    traj = converted(call, path.name)
    output = traj.messages[traj.steps[0].output]
    assert output.reasoning == "The check is in core.py."
    assert output.extra["thinking_parts"] == {"0": {"type": "thinking", "signature": SIGNATURE}}
    assert [p.type for p in output.content] == ["text"]
