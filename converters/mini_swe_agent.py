"""mini-swe-agent ``.traj.json`` files: ``{info, messages, trajectory_format, instance_id}``.

v2 (``mini-swe-agent-1.1``): the model's native messages (``bash`` tool calls, ``role: tool`` results) each
with an ``extra`` dict (parsed actions, full model response with usage, cost, timestamps, return codes),
ending in a ``role: exit`` message. v1 (``mini-swe-agent-1``, and files from before ``trajectory_format``):
text replies with one ```` ```bash ```` block, observations as user messages. The messages are what the
model was sent, so they are ``recorded``; the ``exit`` message becomes the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from srft_format.models import Action, Agent, Message, Outcome, Role, Task, Trajectory, Usage

from .actions import call_action, command_action, fenced_command
from .base import Converter, Detection, SourceRecord
from .openai_chat import CallIds, chat_trajectory, steps_for
from .reader import file_stem
from .source_fields import require, run_usage, token_count
from .chat import chat_message

NAME = "mini-swe-agent"
FORMATS = {"mini-swe-agent-1.1": "2.x", "mini-swe-agent-1": "1.x"}
INFO_KEYS = ("exit_status", "submission", "model_stats", "mini_version", "config")


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return None
    fmt = data.get("trajectory_format")
    if isinstance(fmt, str) and fmt.startswith("mini-swe-agent"):
        version = FORMATS.get(fmt, fmt)
        return Detection(version, f"trajectory_format is {fmt!r}")
    info = data.get("info")
    if isinstance(info, dict) and ("mini_version" in info or {"exit_status", "submission"} <= info.keys()):
        return Detection("1.x", "'messages' and an 'info' with exit_status/submission, no trajectory_format "
                                "(mini-swe-agent before 1.4)")
    return None


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    data = record.data
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    ids = CallIds()
    messages: list[Message] = []
    actions: dict[int, list[Action]] = {}
    usage: dict[int, Usage] = {}
    exit_message: dict[str, Any] | None = None
    for i, raw in enumerate(data["messages"]):
        path = f"messages[{i}]"
        if isinstance(raw, dict) and raw.get("role") == "exit":
            exit_message = raw
            continue
        message = ids.answer(ids.claim(_message(raw, path)))
        if message.role is Role.assistant:
            actions[len(messages)] = _actions(message, raw)
            step_usage = _usage(raw.get("extra"))
            if step_usage is not None:
                usage[len(messages)] = step_usage
        messages.append(message)
    config = info.get("config") if isinstance(info.get("config"), dict) else None
    model_cfg = config.get("model") if config and isinstance(config.get("model"), dict) else {}
    submission = info.get("submission")
    extra = {k: v for k, v in data.items() if k not in ("info", "messages", "instance_id")}
    if exit_message is not None:
        extra["exit_message"] = exit_message
    instance = data.get("instance_id")
    stats = _dict(info.get("model_stats"))
    traj = chat_trajectory(
        CONVERTER, record, detection, messages, recorded=True,
        steps=steps_for(messages, actions, usage),
        task=Task(instance_id=instance if isinstance(instance, str) else file_stem(record.file, (".json", ".traj"))),
        agent=Agent(scaffold=NAME, scaffold_version=_str(info.get("mini_version")),
                    model=_str(model_cfg.get("model_name")),
                    sampling=_dict(model_cfg.get("model_kwargs")),
                    config=config),
        outcome=Outcome(exit_status=_str(info.get("exit_status")),
                        patch=submission if isinstance(submission, str) and submission else None,
                        extra={k: v for k, v in info.items() if k not in INFO_KEYS or k == "model_stats"}),
        usage=run_usage(stats), extra=extra)
    assert traj.provenance is not None
    traj.provenance.api_calls = token_count(stats.get("api_calls"))  # more than the steps: calls without output
    yield traj


def _message(raw: Any, path: str) -> Message:
    """A message with its mini-swe-agent ``extra`` merged into srft ``extra`` (parsed actions dropped)."""
    source_extra = require(require(raw, dict, path, "a message object").get("extra"), (dict, type(None)),
                           f"{path}.extra", "an object")
    message = chat_message(raw, path, skip=frozenset(("extra",)))
    for key, value in (source_extra or {}).items():
        if key != "actions" or not message.tool_calls:
            message.extra.setdefault(key, value)
    return message


def _actions(message: Message, raw: dict[str, Any]) -> list[Action]:
    """Tool calls (v2 default), else the parsed ``extra.actions`` (v2 text mode), else the ```bash block."""
    if message.tool_calls:
        return [call_action(call) for call in message.tool_calls]
    parsed = (raw.get("extra") or {}).get("actions")
    if isinstance(parsed, list) and parsed:
        commands = [a.get("command") if isinstance(a, dict) else None for a in parsed]
        return [command_action(command) for command in commands if isinstance(command, str)]
    text = message.content if isinstance(message.content, str) else ""
    command = fenced_command(text)
    return [command_action(command)] if command is not None else []


def _usage(extra: Any) -> Usage | None:
    """Tokens from the model response litellm recorded, and the call's cost."""
    if not isinstance(extra, dict):
        return None
    response = extra.get("response")
    tokens = response.get("usage") if isinstance(response, dict) else None
    tokens = tokens if isinstance(tokens, dict) else {}
    details = tokens.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cost = extra.get("cost")
    values = {"prompt_tokens": tokens.get("prompt_tokens"), "cached_tokens": cached,
              "completion_tokens": tokens.get("completion_tokens"),
              "cost": cost if isinstance(cost, (int, float)) and cost >= 0 else None}
    values = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return Usage(**values) if values else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


CONVERTER = Converter(
    name=NAME,
    versions=("1.x", "2.x"),
    detect=detect,
    convert=convert,
    description="mini-swe-agent .traj.json (v1 text actions, v2 bash tool calls and exit message)",
    derived_fields=("messages[].extra.actions",),
)
