"""Agent Data Protocol (neulab/agent-data-protocol) OpenHands SFT records, ShareGPT style.

A record is ``{id, system, conversations: [{from: human|gpt, value}]}``: ADP's rendering of agent runs
(e.g. SWE-Gym sampled trajectories) as OpenHands *non-function-calling* text. ``gpt`` turns hold
``<function=NAME><parameter=K>V</parameter></function>`` blocks; ``human`` turns after the task are tool
results (``EXECUTION RESULT of [NAME]:``, the ``OBSERVATION:`` prefix stripped). It is not the chat the
policy saw (that used native tool calls), so ``provenance.messages`` is ``reconstructed``; convert the raw
rows instead where you have them. Each ``gpt`` turn is a step, with actions parsed from its text.
"""

from __future__ import annotations

from collections.abc import Iterator

from srft_format.models import Action, ActionKind, Message, Role, Trajectory

from .actions import xml_function_actions
from .base import Converter, Detection, SourceRecord
from .openai_chat import chat_trajectory, steps_for
from .source_fields import fail, optional_text, require
from .swe_gym import task_for

ROLES = {"human": Role.user, "user": Role.user, "gpt": Role.assistant, "assistant": Role.assistant,
         "system": Role.system}


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if isinstance(data, dict) and isinstance(data.get("conversations"), list) and "id" in data:
        turns = data["conversations"]
        if turns and isinstance(turns[0], dict) and {"from", "value"} <= turns[0].keys():
            return Detection("openhands-sft", "has id and ShareGPT conversations [{from, value}] "
                                              "(agent-data-protocol SFT record)")
    return None


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    data = record.data
    system = optional_text(data.get("system"), "system")
    messages = [Message(role=Role.system, content=system)] if system is not None else []
    for i, turn in enumerate(data["conversations"]):
        speaker = turn.get("from") if isinstance(turn, dict) else None
        role = ROLES.get(speaker) if isinstance(speaker, str) else None
        if role is None or not isinstance(turn.get("value"), str):
            raise fail(f"conversations[{i}]", "expected {from: human|gpt|system, value: text}")
        extra = {k: v for k, v in turn.items() if k not in ("from", "value")}
        messages.append(Message(role=role, content=turn["value"], extra=extra))
    actions = {i: xml_function_actions(m.content) or [Action(kind=ActionKind.message)]
               for i, m in enumerate(messages) if m.role is Role.assistant and isinstance(m.content, str)}
    yield chat_trajectory(
        CONVERTER, record, detection, messages, recorded=False,
        task=task_for(require(data["id"], str, "id", "a string"), dataset=None),
        steps=steps_for(messages, actions=actions),
        extra={k: v for k, v in data.items() if k not in ("id", "system", "conversations")},
    )


CONVERTER = Converter(
    name="adp-sft",
    versions=("openhands-sft",),
    detect=detect,
    convert=convert,
    description="agent-data-protocol ShareGPT SFT records ({id, system, conversations}), <function=> calls",
    derived_fields=("conversations[].from",),  # human/gpt/system: the message role
)
