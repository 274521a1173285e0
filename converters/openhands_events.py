"""OpenHands / OpenDevin V0 event lists into a chat and steps (the ``ConversationMemory`` logic, rebuilt).

Events are what OpenHands stores everywhere (``output.jsonl`` history, saved and exported trajectories).
Rules, following ``openhands/memory/conversation_memory.py``:

* bookkeeping events (agent state changes, ``null`` placeholders, ``recall``, condensation) are dropped from
  the chat, kept verbatim in ``extra.dropped_events`` and counted in ``extra.dropped_event_counts``;
* actions carrying ``tool_call_metadata`` are grouped by ``model_response.id``: the first one emits the
  assistant message the model really returned (content, reasoning and *all* its tool calls); its siblings
  (parallel calls) add no message;
* an observation answers the call named by its ``tool_call_metadata`` or, failing that, by its ``cause``;
  one that answers no call (an error from an unparseable response, legacy text-tag CodeAct) is a user turn;
* a text-tag action (no function calling) is one LLM call: its assistant text is rebuilt as CodeAct showed
  it to the model (``thought`` + ``<execute_bash>`` block), so such chats are *reconstructed*;
* ``finish`` has no observation.

The unmapped fields of each event are kept: actions under their step's ``extra.events``, observations in
their message's ``extra.event``, the model response (less the mapped message) in ``step.extra``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from srft_format.models import Action, ActionKind, ImagePart, Message, Role, Step, TextPart, ToolCall, Usage

from .actions import command_action
from .chat import chat_message
from .openai_chat import CallIds, steps_for
from .source_fields import fail, object_list, optional_text, require, token_count, without

DROPPED_ACTIONS = frozenset({"change_agent_state", "null", "recall", "condensation", "condensation_request"})
DROPPED_OBSERVATIONS = frozenset({"agent_state_changed", "null", "recall"})
EVENT_KEYS = frozenset({"action", "observation"})
EVENT_FIELDS = (("id", int, "an integer"), ("cause", int, "an integer"), ("args", dict, "an object"),
                ("extras", dict, "an object"), ("content", str, "a string"),
                ("tool_call_metadata", dict, "an object"))
METADATA_TEXT = ("function_name", "tool_call_id")
LEGACY_TAGS = {"run": ("execute_bash", "command"), "run_ipython": ("execute_ipython", "code"),
               "browse_interactive": ("execute_browse", "browser_actions")}
"""Text-tag CodeAct: how ``CodeActAgent.action_to_str`` showed an action back to the model."""
LEGACY_ACTIONS: dict[str, tuple[ActionKind, str | None]] = {
    "run_ipython": (ActionKind.other, "code"),
    "read": (ActionKind.view, "path"), "write": (ActionKind.edit, "path"), "edit": (ActionKind.edit, "path"),
    "think": (ActionKind.think, "thought"), "finish": (ActionKind.submit, None),
    "reject": (ActionKind.submit, None), "message": (ActionKind.message, None),
    "browse": (ActionKind.other, "url"), "browse_interactive": (ActionKind.other, "browser_actions"),
    "delegate": (ActionKind.other, "agent"), "call_tool_mcp": (ActionKind.other, "name"),
}
"""Event type -> action kind and the ``args`` field that is its command, for events without a tool call."""


def is_event(item: Any) -> bool:
    """An OpenHands V0 event: an object with an ``action`` or ``observation`` type."""
    return isinstance(item, dict) and not EVENT_KEYS.isdisjoint(item)


def flatten_history(history: Iterable[Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """``(path, event)`` in order: ``[action, observation]`` pairs flattened, flat dataclass dumps nested.

    Each event is checked for the shapes the conversion relies on (:func:`check_event`).
    """
    events: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(history):
        pairs = [(f"{path}[{i}][{j}]", e) for j, e in enumerate(item)] if isinstance(item, list) \
            else [(f"{path}[{i}]", item)]
        for where, event in pairs:
            if not is_event(event):
                raise fail(where, "expected an OpenHands event (an object with 'action' or 'observation') "
                                  "or an [action, observation] pair")
            events.append((where, check_event(nest_flat_event(unify_event(event)), where)))
    return events


JSON_TEXT_FIELDS = ("args", "extras", "tool_call_metadata", "llm_metrics")
"""Event fields a table copy (the HF ``openhands-feedback`` rows) may hold as JSON text."""


def unify_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as OpenHands wrote it, from a table row of every event's columns (``"action": null`` on
    observations, ``"observation": null`` on actions, nested objects as JSON text)."""
    if not EVENT_KEYS <= event.keys() and not any(isinstance(event.get(k), str) for k in JSON_TEXT_FIELDS):
        return event
    event = {k: v for k, v in event.items() if v is not None} if EVENT_KEYS <= event.keys() else dict(event)
    for key in JSON_TEXT_FIELDS:
        if isinstance(event.get(key), str) and event[key][:1] in ("{", "["):
            try:
                event[key] = orjson.loads(event[key])
            except orjson.JSONDecodeError:
                pass  # check_event says what it expected
    return event


def check_event(event: dict[str, Any], path: str) -> dict[str, Any]:
    """The event, once the fields the conversion reads have the types OpenHands writes."""
    key = "action" if "action" in event else "observation"
    require(event[key], str, f"{path}.{key}", "the event type as a string")
    for field_name, kind, what in EVENT_FIELDS:
        value = event.get(field_name)
        if value is not None and not isinstance(value, kind):
            raise fail(f"{path}.{field_name}", f"expected {what}, got {type(value).__name__}")
    args = event.get("args") or {}
    for field_name in ("content", "thought"):
        if not isinstance(args.get(field_name, ""), (str, type(None))):
            optional_text(args[field_name], f"{path}.args.{field_name}")
    if key == "action" and event[key] == "system":
        object_list(args.get("tools") or [], f"{path}.args.tools", "a list of tool schemas")
    for field_name in ("image_urls", "images_urls"):
        where = f"{path}.args.{field_name}"
        for j, url in enumerate(require(args.get(field_name) or [], list, where, "a list")):
            require(url, str, f"{where}[{j}]", "a URL string")
    if event.get("tool_call_metadata"):
        metadata = event["tool_call_metadata"]
        for field_name in METADATA_TEXT:
            optional_text(metadata.get(field_name), f"{path}.tool_call_metadata.{field_name}")
        where = f"{path}.tool_call_metadata.model_response"
        response = require(metadata.get("model_response") or {}, dict, where, "an object")
        optional_text(response.get("id"), f"{where}.id")
    return event


def nest_flat_event(event: dict[str, Any]) -> dict[str, Any]:
    """A resolver-style flat dump (``{"command": .., "action": "run"}``) as ``{"action", "args"}``."""
    if "args" in event or "extras" in event or not is_event(event):
        return event
    if "action" in event:
        return {"action": event["action"], "args": {k: v for k, v in event.items() if k != "action"}}
    return {"observation": event["observation"], "content": event.get("content"),
            "extras": {k: v for k, v in event.items() if k not in ("observation", "content")}}


@dataclass
class EventChat:
    """The chat rebuilt from events, with everything the steps need."""

    messages: list[Message] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    system: dict[str, Any] = field(default_factory=dict)
    """The ``system`` event's args other than content and tools (``openhands_version``, ``agent_class``)."""
    dropped: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False

    @property
    def dropped_counts(self) -> dict[str, int]:
        return dict(Counter(str(e.get("action") or e.get("observation")) for e in self.dropped))

    @property
    def last_agent_state(self) -> str | None:
        states = [(e.get("extras") or {}).get("agent_state") for e in self.dropped
                  if e.get("observation") == "agent_state_changed"]
        return states[-1] if states else None


class _Builder:
    """Adds events one by one; message indices key the per-step data until :meth:`finish` makes the steps."""

    def __init__(self, usage_by_response: Mapping[str, Usage]):
        self.chat = EventChat()
        self.ids = CallIds()
        self.usage_by_response = usage_by_response
        self.message_of_response: dict[str, int] = {}
        self.call_of_action: dict[Any, str] = {}
        """Event id of an action -> its tool call id (observations name their action by ``cause``)."""
        self.actions: dict[int, list[Action]] = {}
        self.step_extra: dict[int, dict[str, Any]] = {}
        self.usage: dict[int, Usage] = {}
        self.started: dict[int, datetime] = {}

    def add(self, event: dict[str, Any], path: str) -> None:
        kind = event.get("action")
        if kind is not None:
            self._action(kind, event, path)
            return
        kind = event.get("observation")
        if kind in DROPPED_OBSERVATIONS:
            self.chat.dropped.append(event)
        else:
            self._observation(event)

    # ------------------------------------------------------------------------------------------ actions

    def _action(self, kind: str, event: dict[str, Any], path: str) -> None:
        args = event.get("args") or {}
        if kind in DROPPED_ACTIONS:
            self.chat.dropped.append(event)
        elif kind == "system":
            self.chat.tools = args.get("tools") or []
            self.chat.system = without(args, "content", "tools")
            self._append(Message(role=Role.system, content=args.get("content"),
                                 extra={"event": _residue(event, args_mapped=("content", "tools"))}))
        elif event.get("tool_call_metadata"):
            self._tool_call_action(event, path)
        elif kind == "message" and event.get("source") != "agent":
            self._append(Message(role=Role.user, content=_message_content(args),
                                 extra={"event": _residue(event, args_mapped=("content",))}))
        elif kind == "message" or event.get("source") in (None, "agent"):
            self._text_action(kind, event)
        else:  # an action the user ran (a GUI terminal command): the agent sees it as input
            self._append(Message(role=Role.user, content=render_legacy(kind, args), extra={"event": event}))
        if kind == "finish":
            self.chat.finished = True

    def _tool_call_action(self, event: dict[str, Any], path: str) -> None:
        metadata = event["tool_call_metadata"]
        response = metadata.get("model_response") or {}
        response_id = response.get("id") or f"event-{event.get('id')}"
        index = self.message_of_response.get(response_id)
        if index is None:
            index = self._response_message(response, response_id, path)
        call_id = self.ids.resolve(metadata.get("tool_call_id"))
        if call_id is None:  # the event names a call its response does not list: keep it anyway
            call = ToolCall(id=self.ids.new(metadata.get("tool_call_id") or f"call_event_{event.get('id')}"),
                            name=metadata.get("function_name") or str(event.get("action")),
                            arguments=orjson.dumps(without(event.get("args") or {}, "thought")).decode())
            self.chat.messages[index].tool_calls.append(call)
            call_id = call.id
        self.call_of_action[event.get("id")] = call_id
        self.step_extra[index].setdefault("events", []).append(_residue(event))

    def _response_message(self, response: dict[str, Any], response_id: str, path: str) -> int:
        where = f"{path}.tool_call_metadata.model_response.choices"
        choices = object_list(response.get("choices") or [{}], where, "a list")
        raw = {"role": "assistant", **require(choices[0].get("message") or {}, dict, f"{where}[0].message",
                                              "an object")}
        message = self.ids.claim(chat_message(raw, f"{where}[0].message"))
        index = self._append(message)
        self.message_of_response[response_id] = index
        rest = [{k: v for k, v in c.items() if k != "message"} for c in choices]
        self.step_extra[index] = {"model_response": {**without(response, "choices"), "choices": rest}}
        usage = self.usage_by_response.get(response_id) or usage_from_response(response.get("usage"))
        if usage is not None:
            self.usage[index] = usage
        if isinstance(response.get("created"), (int, float)):
            self.started[index] = datetime.fromtimestamp(response["created"], tz=timezone.utc)
        return index

    def _text_action(self, kind: str, event: dict[str, Any]) -> None:
        args = event.get("args") or {}
        text = args.get("content") if kind == "message" else render_legacy(kind, args)
        index = self._append(Message(role=Role.assistant, content=text))
        self.actions[index] = [legacy_action(kind, args)]
        mapped = ("content",) if kind == "message" else ()
        self.step_extra[index] = {"events": [_residue(event, args_mapped=mapped)]}

    # ------------------------------------------------------------------------------------- observations

    def _observation(self, event: dict[str, Any]) -> None:
        metadata = event.get("tool_call_metadata") or {}
        call_id = self.ids.resolve(metadata.get("tool_call_id"))
        if call_id is None:
            call_id = self.call_of_action.get(event.get("cause"))
        content = agent_view(event)
        residue = _residue(event, mapped=("content",) if content == event.get("content") else ())
        if call_id is not None:
            self._append(Message(role=Role.tool, content=content, tool_call_id=call_id,
                                 name=metadata.get("function_name"), extra={"event": residue}))
        else:
            self._append(Message(role=Role.user, content=content, extra={"event": residue}))

    def add_user_text(self, text: str, extra: dict[str, Any]) -> None:
        self._append(Message(role=Role.user, content=text, extra=extra))

    def _append(self, message: Message) -> int:
        self.chat.messages.append(message)
        return len(self.chat.messages) - 1

    def finish(self) -> EventChat:
        steps = steps_for(self.chat.messages, actions=self.actions, usage=self.usage)
        for step in steps:
            step.extra = self.step_extra.get(step.output, {})
            step.started_at = self.started.get(step.output)
        self.chat.steps = steps
        return self.chat


def chat_from_events(events: list[tuple[str, dict[str, Any]]],
                     usage_by_response: Mapping[str, Usage] | None = None,
                     instruction: str | None = None) -> EventChat:
    """Rebuild the chat of ``(path, event)`` s; ``usage_by_response`` maps ``model_response.id`` to usage.

    ``instruction`` (a row's task text) opens the chat as a user turn when no user message event does
    (OpenDevin histories that start with the agent's first action); it is marked ``extra.from = instruction``.
    """
    builder = _Builder(usage_by_response or {})
    pending = instruction if instruction is not None and not _opens_with_user_message(events) else None
    for path, event in events:
        if pending is not None and event.get("action") != "system":
            builder.add_user_text(pending, {"from": "instruction"})
            pending = None
        builder.add(event, path)
    if pending is not None:
        builder.add_user_text(pending, {"from": "instruction"})
    return builder.finish()


def _opens_with_user_message(events: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether a user message event comes before the agent's first action."""
    for _, event in events:
        if event.get("action") == "message" and event.get("source") != "agent":
            return True
        if event.get("source") == "agent" and event.get("action") not in (None, "system"):
            return False
    return False


def agent_view(observation: Mapping[str, Any]) -> str | None:
    """An observation's text as ``ConversationMemory`` showed it to the model, where the event says enough.

    A ``run`` result with ``extras.metadata`` (2025 on) gets its PS1 prefix/suffix, working directory,
    interpreter and exit-code lines; an ``error`` gets the error footer every version adds; an oh_aci edit
    of Dec 2024 - Feb 2025 shows ``formatted_output_and_error``. Anything else is its ``content``.
    The event's own ``content`` is kept in the message's ``extra.event`` whenever the two differ.
    """
    kind, content = observation.get("observation"), observation.get("content")
    extras = observation.get("extras") or {}
    meta = extras.get("metadata")
    if kind == "run" and isinstance(meta, dict) and "exit_code" in meta:
        text = f"{meta.get('prefix') or ''}{content or ''}{meta.get('suffix') or ''}"
        if meta.get("working_dir"):
            text += f"\n[Current working directory: {meta['working_dir']}]"
        if meta.get("py_interpreter_path"):
            text += f"\n[Python interpreter: {meta['py_interpreter_path']}]"
        if meta["exit_code"] != -1:
            text += f"\n[Command finished with exit code {meta['exit_code']}]"
        return text
    if kind == "error":
        return f"{content or ''}\n[Error occurred in processing last action]"
    if kind == "edit" and isinstance(extras.get("formatted_output_and_error"), str):
        return extras["formatted_output_and_error"]
    return content


def render_legacy(kind: str, args: Mapping[str, Any]) -> str:
    """The assistant text text-tag CodeAct showed the model for an action: thought, then tagged command."""
    thought = args.get("thought") or ""
    if kind in LEGACY_TAGS:
        tag, key = LEGACY_TAGS[kind]
        block = f"<{tag}>\n{args.get(key) or ''}\n</{tag}>"
        return f"{thought}\n{block}" if thought else block
    return thought or str(args.get("final_thought") or "")


def legacy_action(kind: str, args: Mapping[str, Any]) -> Action:
    """The action of an event without a tool call; a shell command is classified by its first word."""
    if kind == "run" and isinstance(args.get("command"), str):
        return command_action(args["command"])
    action_kind, key = LEGACY_ACTIONS.get(kind, (ActionKind.other, None))
    command = args.get(key) if key else None
    if command is not None and not isinstance(command, str):
        command = orjson.dumps(command).decode()
    return Action(kind=action_kind, command=command)


def usage_from_response(usage: Any) -> Usage | None:
    """litellm usage: prompt/completion tokens, cached tokens from OpenAI or Anthropic fields."""
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = usage.get("cache_read_input_tokens")
    return Usage(prompt_tokens=token_count(usage.get("prompt_tokens")),
                 completion_tokens=token_count(usage.get("completion_tokens")),
                 cached_tokens=token_count(cached))


def _message_content(args: Mapping[str, Any]) -> str | list[TextPart | ImagePart] | None:
    images = args.get("image_urls") or args.get("images_urls") or []
    if not images:
        return args.get("content")
    return [TextPart(type="text", text=args.get("content") or ""),
            *(ImagePart(type="image", url=url) for url in images)]


def _residue(event: Mapping[str, Any], mapped: tuple[str, ...] = (), args_mapped: tuple[str, ...] = ()
             ) -> dict[str, Any]:
    """An event less what the chat holds: the tool-call metadata (kept once per step) and mapped fields."""
    residue = without(event, "tool_call_metadata", *mapped)
    if args_mapped and isinstance(event.get("args"), dict):
        residue["args"] = without(event["args"], *args_mapped)
    return residue
