"""OpenAI-style chats (``messages`` with ``tool_calls``) into srft messages and steps.

Shared by the converters whose source *is* a chat (SWE-Gym sampled trajectories, nebius
SWE-rebench-openhands rows, OpenHands completion logs) and by the OpenHands event converter, which
rebuilds a chat from events. Message dicts are mapped by :mod:`.chat`, actions parsed by :mod:`.actions`.
One assistant message is one step (one LLM call); a tool message belongs to the step whose call it
answers; any other message after a step's output is an observation of the latest step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from srft_format.models import Action, ActionKind, Message, Role, Step, Trajectory, Usage

from .actions import call_action
from .base import Converter, Detection, SourceRecord, new_trajectory
from .chat import chat_message


class CallIds:
    """Keeps tool-call ids unique within a trajectory; a repeated source id gets a ``#n`` suffix."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._current: dict[str, str] = {}

    def new(self, source_id: str) -> str:
        seen = self._seen.get(source_id, 0)
        self._seen[source_id] = seen + 1
        unique = source_id if seen == 0 else f"{source_id}#{seen}"
        self._current[source_id] = unique
        return unique

    def resolve(self, source_id: str | None) -> str | None:
        """The id the latest call with ``source_id`` got; None for a call never made."""
        return self._current.get(source_id) if source_id is not None else None

    def claim(self, message: Message) -> Message:
        """Give the message's tool calls unique ids (a renamed call keeps its source id in ``extra``)."""
        renamed = {}
        for call in message.tool_calls:
            unique = self.new(call.id)
            if unique != call.id:
                renamed[unique] = call.id
                call.id = unique
        if renamed:
            message.extra["source_tool_call_ids"] = renamed
        return message

    def answer(self, message: Message) -> Message:
        """Point a tool message at its call; one answering no earlier call becomes a user message."""
        if message.role is not Role.tool:
            return message
        call_id = self.resolve(message.tool_call_id)
        if call_id is None:
            message.extra.update(role="tool", tool_call_id=message.tool_call_id)
            message.role, message.tool_call_id = Role.user, None
        else:
            message.tool_call_id = call_id
        return message


def chat_messages(raw_messages: Iterable[Any], path: str, ids: CallIds | None = None) -> list[Message]:
    """Chat message dicts as messages with unique, resolvable tool-call ids."""
    ids = ids or CallIds()
    return [ids.answer(ids.claim(chat_message(raw, f"{path}[{i}]"))) for i, raw in enumerate(raw_messages)]


def steps_for(messages: list[Message], actions: Mapping[int, list[Action]] | None = None,
              usage: Mapping[int, Usage] | None = None) -> list[Step]:
    """One step per assistant message, owning the later messages that answer it.

    A tool message belongs to the step whose assistant message made the call; any other message (a user
    turn, an environment error) belongs to the latest step before it. ``actions`` overrides, for a message
    index, the actions parsed from its tool calls (a reply without tool calls is a ``message`` action).
    """
    steps: list[Step] = []
    owner_of_call: dict[str, int] = {}
    for i, msg in enumerate(messages):
        if msg.role is Role.assistant:
            step_actions = (actions or {}).get(i)
            if step_actions is None:
                step_actions = [call_action(c) for c in msg.tool_calls] or [Action(kind=ActionKind.message)]
            owner_of_call.update((call.id, len(steps)) for call in msg.tool_calls)
            steps.append(Step(index=len(steps), output=i, actions=step_actions, usage=(usage or {}).get(i)))
        elif steps:
            owner = owner_of_call.get(msg.tool_call_id or "", len(steps) - 1)
            steps[owner].observations.append(i)
    return steps


def chat_trajectory(converter: Converter, record: SourceRecord, detection: Detection, messages: list[Message],
                    *, recorded: bool, **fields: Any) -> Trajectory:
    """:func:`new_trajectory` with a chat, recorded by the source or reconstructed from its events."""
    return new_trajectory(converter, record, detection, origin="recorded" if recorded else "reconstructed",
                          messages=messages, **fields)
