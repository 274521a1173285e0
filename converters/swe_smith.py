"""SWE-smith SFT records: ``{messages, instance_id}`` (``transform_to_ft``) and ``{messages, instance_id,
resolved, model, traj_id, patch}`` (``collect_trajs``, the schema of the HF ``SWE-smith-trajectories``).

``messages`` is a list or (HF parquet) a JSON string. In the ``xml`` and ``ticks`` styles SWE-smith rewrote
the chat for training (system prompt replaced, tool calls rendered as ``<function=...>`` text or a
```` ``` ```` block, tool results turned into user turns), so the actions are parsed from the text and the
messages are ``reconstructed``; the ``tool`` style keeps SWE-agent's own messages (``recorded``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from srft_format.errors import Problem, SrftError
from srft_format.models import Action, Agent, Message, Outcome, Role, Task, Trajectory

from .actions import call_action, text_actions
from .base import Converter, Detection, SourceRecord
from .chat import chat_message, text_of
from .openai_chat import CallIds, chat_trajectory, steps_for
from .source_fields import list_or_json_list

NAME = "swe-smith"
FT_KEYS = frozenset(("messages", "instance_id"))
COLLECT_KEYS = FT_KEYS | {"resolved", "model", "traj_id", "patch"}
SWE_AGENT_SKIPPED = frozenset(("thought", "action", "tool_call_ids"))


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if not isinstance(data, dict) or not FT_KEYS <= data.keys():
        return None
    if not (data.keys() <= COLLECT_KEYS or COLLECT_KEYS <= data.keys()):  # columns a dataset grew: kept in extra
        return None
    if not isinstance(data["messages"], (list, str)):
        return None
    encoded = " (messages as a JSON string)" if isinstance(data["messages"], str) else ""
    if data.keys() == FT_KEYS:
        return Detection("transform_to_ft", f"only 'messages' and 'instance_id'{encoded}")
    more = ", ".join(sorted(COLLECT_KEYS & data.keys() - FT_KEYS))
    grown = data.keys() - COLLECT_KEYS
    columns = f" (and column(s) {', '.join(sorted(grown))}, kept in extra)" if grown else ""
    return Detection("collect_trajs", f"'messages', 'instance_id' and {more}{encoded}{columns}")


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    data = record.data
    raw_messages = list_or_json_list(data["messages"], "messages", "a list of messages")
    ids = CallIds()
    messages: list[Message] = []
    actions: dict[int, list[Action]] = {}
    for i, raw in enumerate(raw_messages):
        message = ids.answer(ids.claim(_message(raw, f"messages[{i}]")))
        if message.role is Role.assistant:
            actions[len(messages)] = _actions(message, raw)
        messages.append(message)
    tool_style = any(m.tool_calls for m in messages)
    resolved, patch, model = data.get("resolved"), data.get("patch"), data.get("model")
    if resolved is not None and not isinstance(resolved, bool):
        raise SrftError(Problem(f"expected true/false, got {resolved!r}", "resolved"))
    instance = data["instance_id"]
    if not isinstance(instance, str):
        raise SrftError(Problem(f"expected a string, got {type(instance).__name__}", "instance_id"))
    yield chat_trajectory(
        CONVERTER, record, detection, messages, recorded=tool_style,
        steps=steps_for(messages, actions),
        task=Task(instance_id=instance, repo=_repo(instance)),
        agent=Agent(scaffold="swe-agent", model=model if isinstance(model, str) else None),
        outcome=Outcome(resolved=resolved, patch=patch if isinstance(patch, str) and patch else None,
                        evaluation=None),
        extra={k: v for k, v in data.items() if k == "traj_id" or k not in COLLECT_KEYS})


def _message(raw: Any, path: str) -> Message:
    """A message; SWE-agent's ``tool_call_ids`` (tool style) name the call a tool result answers."""
    ids = raw.get("tool_call_ids") if isinstance(raw, dict) and raw.get("role") == "tool" else None
    if ids and isinstance(ids, list) and not raw.get("tool_call_id"):
        message = chat_message({**raw, "tool_call_id": ids[0]}, path, skip=SWE_AGENT_SKIPPED)
        if len(ids) > 1:
            message.extra["tool_call_ids"] = ids
        return message
    return chat_message(raw, path, skip=SWE_AGENT_SKIPPED)


def _actions(message: Message, raw: dict[str, Any]) -> list[Action]:
    if message.tool_calls:
        action = raw.get("action") if len(message.tool_calls) == 1 else None
        return [call_action(call, command=action if isinstance(action, str) and action else None)
                for call in message.tool_calls]
    return text_actions(text_of(raw.get("content")))


def _repo(instance_id: str) -> str | None:
    """SWE-smith ids are ``owner__name.commit.task``: the repository is ``owner/name``."""
    owner, sep, rest = instance_id.partition("__")
    return f"{owner}/{rest.split('.', 1)[0]}" if sep and rest else None


CONVERTER = Converter(
    name=NAME,
    versions=("transform_to_ft", "collect_trajs"),
    detect=detect,
    convert=convert,
    description="SWE-smith SFT records (xml/ticks/tool styles; messages as a list or a JSON string)",
    derived_fields=("messages[].thought", "messages[].action"),
)
