"""OpenHands completion logs: ``llm_completions/<instance_id>/<provider>__<model>-<unix time>.json``.

OpenHands writes one file per LLM call when ``log_completions`` is on: the exact ``messages`` sent, the
``response``, ``args``, ``kwargs`` (``tools`` offered), ``timestamp`` and ``cost``; later versions add
``fncall_messages`` / ``fncall_response`` when function calling is mocked (``messages`` / ``response`` are then
the text the model really saw and wrote; the function-calling versions are kept in the step's ``extra``).

:func:`srft_format.converters.reader.expand_inputs` reads a folder of them as one record (the calls in time
order), so one folder is one trajectory: each call is a step whose output is its response, the messages that
first appear in a later call's input are that step's observations, and each step keeps its exact input
(``Step.input``: runs of the trajectory's messages, inline messages where the scaffold re-sent something else,
e.g. an assistant reply as a list of parts). Anthropic ``cache_control`` markers are provider hints, not
content: they are left out of the comparison and kept per input position in ``step.extra.cache_control``.
A single completion file converts as a trajectory of one step.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from srft_format.inputs import MessageIndex
from srft_format.models import Agent, Message, Role, Task, Trajectory, Usage

from .base import Converter, Detection, SourceRecord
from .chat import chat_message, text_of
from .openai_chat import CallIds, chat_trajectory, steps_for
from .source_fields import object_list, require, token_count, without

CALL_KEYS = frozenset({"messages", "response"})
"""Every completion log has these; with one of :data:`LOG_KEYS` it is one."""
LOG_KEYS = frozenset({"timestamp", "cost", "kwargs", "args"})


def is_call(data: Any) -> bool:
    return isinstance(data, dict) and CALL_KEYS <= data.keys() and not LOG_KEYS.isdisjoint(data)


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if is_call(data):
        return Detection("llm_completions", "has messages, response, timestamp/cost/kwargs (one OpenHands "
                                            "completion log file)")
    if isinstance(data, list) and data and all(is_call(call) for call in data):
        return Detection("llm_completions", "a folder of files with messages, response, timestamp/cost/kwargs "
                                            "(OpenHands llm_completions, one file per LLM call)")
    return None


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    grouped = isinstance(record.data, list)
    calls = record.data if grouped else [record.data]
    messages: list[Message] = []
    ids = CallIds()
    inputs: list[tuple[list[Message], dict[str, Any]]] = []
    outputs: list[int] = []
    for k, call in enumerate(calls):
        path = f"[{k}]" if grouped else ""
        sent, marks = _sent(require(call["messages"], list, f"{path}.messages".lstrip("."), "a list"), path)
        messages += [ids.answer(ids.claim(m.model_copy(deep=True))) for m in sent[_first_new(sent, messages):]]
        messages.append(ids.claim(_response_message(call, path)))
        outputs.append(len(messages) - 1)
        inputs.append((sent, marks))
    steps = steps_for(messages)
    by_output = {step.output: step for step in steps}
    index = MessageIndex(messages)
    first_at = {key: at[0] for key, at in index.at.items()}
    usage = Usage()
    for call, output, (sent, marks) in zip(calls, outputs, inputs):
        step = by_output[output]
        step.input = index.input_items([_known(m, messages, first_at, ids, output) for m in sent], output)
        step.usage = _usage(call)
        step.started_at = _time(call.get("timestamp"))
        step.extra = _call_extra(call, marks, calls[0])
        _add(usage, step.usage)
    first = calls[0]
    response = first.get("response") if isinstance(first.get("response"), dict) else {}
    folder = PurePosixPath(record.file)
    traj = chat_trajectory(
        CONVERTER, record, detection, messages, recorded=True, steps=steps, usage=usage,
        task=Task(instance_id=folder.name if grouped else None),
        agent=Agent(scaffold="openhands", model=response.get("model"),
                    tools=object_list((first.get("kwargs") or {}).get("tools") or [], "kwargs.tools",
                                      "a list of tool schemas")),
    )
    assert traj.provenance is not None
    traj.provenance.api_calls = len(calls)
    yield traj


def _sent(raw: list[Any], path: str) -> tuple[list[Message], dict[str, Any]]:
    """The messages of a call without their ``cache_control`` markers, and where the markers were."""
    sent: list[Message] = []
    marks: dict[str, Any] = {}
    for i, item in enumerate(raw):
        message = chat_message(item, f"{path}.messages[{i}]".lstrip("."))
        mark: dict[str, Any] = {}
        if "cache_control" in message.extra:
            mark["message"] = message.extra.pop("cache_control")
        parts = message.extra.get("content_parts") or {}
        for index, rest in list(parts.items()):
            if "cache_control" in rest:
                mark.setdefault("parts", {})[index] = rest.pop("cache_control")
                if not rest:
                    del parts[index]
        if "content_parts" in message.extra and not parts:
            del message.extra["content_parts"]
        if mark:
            marks[str(i)] = mark
        sent.append(message)
    return sent, marks


def _turn(message: Message) -> tuple[Any, ...]:
    """What identifies a turn whatever its representation (a string or a list of text parts)."""
    calls = tuple((c.id, c.name, c.arguments) for c in message.tool_calls)
    return message.role, text_of(message.model_dump(mode="json")["content"]), calls, message.tool_call_id


def _first_new(sent: list[Message], messages: list[Message]) -> int:
    """Where the messages the trajectory lacks begin in a call's input: after the trajectory's messages when the
    input continues them; after the previous output when the scaffold rewrote the history (condensation)."""
    known = 0
    while known < min(len(sent), len(messages)) and _turn(sent[known]) == _turn(messages[known]):
        known += 1
    if known == len(messages) or not messages:
        return known
    previous = _turn(messages[-1])
    return next((i + 1 for i in range(len(sent) - 1, -1, -1) if _turn(sent[i]) == previous), known)


def _known(message: Message, messages: list[Message], first_at: dict[str, int], ids: CallIds,
           output: int) -> Message:
    """The trajectory's message before ``output`` when ``message`` is exactly it (a tool result's call id
    resolved as the trajectory names it), else ``message`` itself (inline in the step's input)."""
    if message.role is Role.tool:
        message = message.model_copy(update={"tool_call_id": ids.resolve(message.tool_call_id)
                                             or message.tool_call_id})
    index = first_at.get(message.model_dump_json())
    return messages[index] if index is not None and index < output else message


def _response_message(call: dict[str, Any], path: str) -> Message:
    response = require(call["response"], dict, f"{path}.response".lstrip("."), "an object")
    choices = require(response.get("choices"), list, f"{path}.response.choices".lstrip("."), "a list")
    choice = require(choices[0] if choices else None, dict, f"{path}.response.choices[0]".lstrip("."),
                     "an object")
    message = chat_message(choice.get("message"), f"{path}.response.choices[0].message".lstrip("."))
    if message.role is not Role.assistant:
        message.extra["role"] = message.role.value
        message.role = Role.assistant
    if "function_call" in message.extra and message.extra["function_call"] is None:  # litellm's legacy field
        del message.extra["function_call"]
    return message


def _usage(call: dict[str, Any]) -> Usage:
    response = call["response"]
    raw = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    details = raw.get("prompt_tokens_details") if isinstance(raw.get("prompt_tokens_details"), dict) else {}
    cost = call.get("cost")
    return Usage(prompt_tokens=token_count(raw.get("prompt_tokens")),
                 completion_tokens=token_count(raw.get("completion_tokens")),
                 cached_tokens=token_count(details.get("cached_tokens") or raw.get("cache_read_input_tokens")),
                 cost=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0
                 else None)


def _add(total: Usage, usage: Usage) -> None:
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "cost"):
        value = getattr(usage, name)
        if value is not None:
            setattr(total, name, (getattr(total, name) or 0) + value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return None


def _call_extra(call: dict[str, Any], marks: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """What the call recorded beyond its messages, usage and time: the response's own fields, ``args``,
    ``kwargs`` (tools only when they differ from the first call's), mocked function calling, markers."""
    response = call["response"]
    choices = response.get("choices") or [{}]
    extra: dict[str, Any] = {"response": {**without(response, "choices"),
                                          "choice": without(choices[0], "message"),
                                          **({"more_choices": choices[1:]} if len(choices) > 1 else {})}}
    kwargs = call.get("kwargs") if isinstance(call.get("kwargs"), dict) else {}
    first_tools = (first.get("kwargs") or {}).get("tools") if isinstance(first.get("kwargs"), dict) else None
    extra["kwargs"] = without(kwargs, "tools") if kwargs.get("tools") == first_tools else kwargs
    extra.update(without(call, "messages", "response", "kwargs", "cost"))
    if _time(call.get("timestamp")) is not None:  # in started_at
        del extra["timestamp"]
    if "cost" in call and _usage(call).cost is None:
        extra["cost"] = call["cost"]
    if marks:
        extra["cache_control"] = marks
    return extra


CONVERTER = Converter(
    name="openhands-completions",
    versions=("llm_completions",),
    detect=detect,
    convert=convert,
    description="OpenHands completion logs: a folder llm_completions/<instance_id>/ of one file per LLM call "
                "(exact input and response of each step, cost, tools)",
)
