"""From an srft trajectory to the message dicts a Hugging Face chat template renders — without losing actions.

The template is rendered exactly as ``tokenizer.apply_chat_template`` renders it (the same sandboxed Jinja
environment, the tokenizer's special tokens as variables). What a template cannot show is never dropped
silently: :func:`probe_abilities` probes whether a template renders tool calls, the ``tool`` role and
reasoning, and :func:`to_chat` then either keeps the native fields or writes them as text (``tool_calls``:
``auto`` | ``native`` | ``text``), following the SWE-agent / SWE-smith conventions (spec/masks.md):

- tool calls: ``<function=NAME>`` / ``<parameter=KEY>VALUE</parameter>`` / ``</function>`` after the content;
- tool results, when the template has no ``tool`` role: a ``user`` message ``OBSERVATION:\\n...`` (merged
  into a directly preceding user message, as templates that enforce role alternation require);
- reasoning, when the template does not render it: ``<think>\\n...\\n</think>\\n\\n`` before the content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from srft_format.errors import Problem, SrftError
from srft_format.sandbox import checked_binop, deadline, limited_chunks
from srft_format.models import ImagePart, Message, Role, ToolCall, Trajectory

TOOL_CALL_MODES = ("auto", "native", "text")
MAX_RENDERED_CHARS = 64 * 1024 * 1024
"""A template's rendered text, or a string it builds with ``*``, may not be longer (a hostile template)."""
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")

OBSERVATION = "OBSERVATION:\n"
_PROBE_CALL = "srft_probe_function"
_PROBE_ARG = "srft_probe_argument_value"
_PROBE_RESULT = "srft_probe_tool_result"
_PROBE_REASONING = "srft_probe_reasoning"


class ChatTemplate:
    """A compiled chat template plus the variables ``apply_chat_template`` passes it (``bos_token``, ...)."""

    def __init__(self, source: str, variables: dict[str, Any] | None = None):
        from transformers.utils.chat_template_utils import _compile_jinja_template

        from jinja2.exceptions import TemplateError

        self.source = source
        self.variables = dict(variables or {})
        try:
            # transformers' sandboxed environment, taken from an empty template: compiling the source there
            # first would fold constants (``'x' * 10**10``) outside the limits set here
            environment = _with_fast_dict_lookup(_compile_jinja_template("").environment)
            self._compiled = environment.from_string(source)
        except (TemplateError, RecursionError) as exc:
            line = getattr(exc, "lineno", None)
            raise SrftError(Problem(f"the chat template does not compile: {exc}", line=line,
                                    file="chat template")) from None
        render = self._compiled.root_render_func
        self._compiled.root_render_func = lambda context: limited_chunks(render(context), MAX_RENDERED_CHARS)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, chat_template: str | None = None) -> ChatTemplate:
        """The template given, else the tokenizer's own; a tokenizer without one is refused."""
        source = chat_template if chat_template is not None else getattr(tokenizer, "chat_template", None)
        if isinstance(source, dict):
            source = source.get("default")
        if not source:
            name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
            raise SrftError(Problem("the tokenizer has no chat template: pass one (--chat-template FILE)",
                                    file=str(name)))
        special = getattr(tokenizer, "special_tokens_map", {})
        variables = {name: token for name, token in special.items() if isinstance(token, str)}
        return _cached_template(source, tuple(sorted(variables.items())))

    @property
    def has_generation_tags(self) -> bool:
        """Whether the template marks generated text with ``{% generation %}`` blocks (a fast path)."""
        return _GENERATION_TAG.search(self.source) is not None

    def render(self, messages: list[dict], tools: list[dict] | None = None, *,
               add_generation_prompt: bool = False, where: str = "") -> str:
        """The rendered text; a template error (e.g. ``raise_exception``) becomes an :class:`SrftError`."""
        with _refusals(where):
            return self._compiled.render(messages=messages, tools=tools or None, documents=None,
                                         add_generation_prompt=add_generation_prompt, **self.variables)

    def render_tracked(self, messages: list[dict], tools: list[dict] | None = None, *,
                       where: str = "") -> tuple[str, list[tuple[int, int]]]:
        """The rendered text and the character span of each ``{% generation %}`` block in it."""
        from transformers.utils.chat_template_utils import _render_with_assistant_indices

        with _refusals(where):
            return _render_with_assistant_indices(self._compiled, messages, tools or None, None, False,
                                                  **self.variables)

    @cached_property
    def abilities(self) -> TemplateAbilities:
        """What this template shows of a conversation (probed once)."""
        return probe_abilities(self)


@contextmanager
def _refusals(where: str) -> Iterator[None]:
    """A template that raises (``raise_exception``, a missing field) refuses the conversation: say so."""
    from jinja2.exceptions import TemplateError

    try:
        with deadline():
            yield
    except (TemplateError, TypeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
        raise SrftError(Problem(f"the chat template refused the conversation: {exc}", path=where)) from None
    except RecursionError:
        raise SrftError(Problem("the chat template recurses without end", path=where)) from None
    except MemoryError:
        raise SrftError(Problem("the chat template needs more memory than there is", path=where)) from None


_DICT_ATTRIBUTES = frozenset(dir(dict))


def _with_fast_dict_lookup(environment: Any) -> Any:
    """transformers' sandboxed environment, with ``message.role`` on a plain dict read without an exception.

    Jinja first tries ``getattr(dict, "role")``, which raises, then ``dict["role"]``; for a name that is not a
    dict attribute the result is the same without the exception (prefix rendering does this a lot).
    """
    fast = environment.overlay()
    sandboxed = fast.getattr

    def getattr(obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return fast.undefined(obj=obj, name=attribute)
        return sandboxed(obj, attribute)

    fast.getattr = getattr
    fast.intercepted_binops = frozenset({"*", "**"})
    fast.call_binop = checked_binop(fast.call_binop, MAX_RENDERED_CHARS)
    return fast


@lru_cache(maxsize=32)
def _cached_template(source: str, variables: tuple[tuple[str, str], ...]) -> ChatTemplate:
    return ChatTemplate(source, dict(variables))


@dataclass(frozen=True)
class TemplateAbilities:
    """What a template shows of a conversation, found by rendering probe conversations."""

    tool_calls: bool
    tool_role: bool
    reasoning: bool


def probe_abilities(template: ChatTemplate) -> TemplateAbilities:
    """Render probe conversations: does the template show tool calls, the ``tool`` role and reasoning?"""
    call = {"id": "call_srft_probe", "type": "function",
            "function": {"name": _PROBE_CALL, "arguments": {"srft_probe_key": _PROBE_ARG}}}
    user = {"role": "user", "content": "probe"}
    calls = _renders(template, [user, {"role": "assistant", "content": "ok", "tool_calls": [call]}],
                     (_PROBE_CALL, _PROBE_ARG))
    assistant = ({"role": "assistant", "content": "ok", "tool_calls": [call]} if calls else
                 {"role": "assistant", "content": text_tool_calls("ok", [call])})
    tool = {"role": "tool", "content": _PROBE_RESULT, "tool_call_id": "call_srft_probe", "name": _PROBE_CALL}
    tool_role = _renders(template, [user, assistant, tool], (_PROBE_RESULT,))
    reasoning = _renders(template, [user, {"role": "assistant", "content": "ok",
                                           **_reasoning_fields(_PROBE_REASONING)}], (_PROBE_REASONING,))
    return TemplateAbilities(calls, tool_role, reasoning)


def _renders(template: ChatTemplate, messages: list[dict], needles: tuple[str, ...]) -> bool:
    try:
        text = template.render(messages)
    except SrftError:
        return False
    return all(needle in text for needle in needles)


def _reasoning_fields(reasoning: str) -> dict[str, str]:
    """Reasoning under the names templates read it (as transformers aliases it)."""
    return {"reasoning_content": reasoning, "thinking": reasoning}


# ----------------------------------------------------------------------------------------- conversion


@dataclass(frozen=True)
class Chat:
    """The template's view of a trajectory: message dicts, tool schemas, and where each step's output went."""

    messages: list[dict]
    tools: list[dict] | None
    step_messages: list[int]
    """For each step (by index), the position in ``messages`` of its assistant output."""
    text_tool_calls: bool
    """True when tool calls (and results, when needed) were written as text."""


def to_chat(traj: Trajectory, template: ChatTemplate, tool_calls: str = "auto") -> Chat:
    """Convert ``traj.messages`` for ``template``; refuse when actions or results would vanish."""
    if tool_calls not in TOOL_CALL_MODES:
        raise SrftError(f"tool_calls must be one of {', '.join(TOOL_CALL_MODES)}, not {tool_calls!r}")
    abilities = template.abilities
    has_calls = any(m.tool_calls for m in traj.messages)
    has_tool_role = any(m.role is Role.tool for m in traj.messages)
    native_calls = tool_calls == "native" or (tool_calls == "auto" and abilities.tool_calls)
    # the tool-role probe rendered native calls when the template has them: keep it to that pairing
    native_role = abilities.tool_role and (native_calls or not abilities.tool_calls)
    if tool_calls == "native":
        missing = [what for what, has, renders in (("tool calls", has_calls, abilities.tool_calls),
                                                   ("the tool role", has_tool_role, abilities.tool_role))
                   if has and not renders]
        if missing:
            raise SrftError(Problem(f"the chat template does not render {' or '.join(missing)}, so this "
                                    "trajectory's actions would vanish; use tool_calls='text' "
                                    "(--tool-calls text) or a template that renders them",
                                    path=f"trajectory {traj.id}"))
    messages: list[dict] = []
    position: dict[int, int] = {}
    merged = False  # the last message holds a converted tool result
    for index, message in enumerate(traj.messages):
        where = f"trajectory {traj.id}: messages[{index}]"
        item = _message_dict(message, native_calls, abilities.reasoning, where)
        observation = item["role"] == "tool" and not native_role
        if observation:
            item = {"role": "user", "content": _observation(item["content"])}
        joins = observation or merged  # a converted tool result meets a user message
        if item["role"] == "user" and messages and messages[-1]["role"] == "user" and joins:
            messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{item['content']}"}
        else:
            messages.append(item)
        merged = observation or (merged and item["role"] == "user")
        position[index] = len(messages) - 1
    tools = [_plain(t) for t in traj.agent.tools] or None
    step_messages = [position[step.output] for step in traj.steps]
    return Chat(messages, tools, step_messages, not native_calls and has_calls)


def _observation(content: str) -> str:
    """A tool result as a user message: ``OBSERVATION:\\n`` before it, unless the scaffold already wrote it
    (SWE-agent's tool messages begin with it)."""
    return content if content.startswith(OBSERVATION) else OBSERVATION + content


def _message_dict(message: Message, native_calls: bool, native_reasoning: bool, where: str) -> dict:
    content = _text(message, where)
    item: dict[str, Any] = {"role": message.role.value}
    if message.reasoning:
        if native_reasoning:
            item.update(_reasoning_fields(message.reasoning))
        else:
            content = f"<think>\n{message.reasoning}\n</think>\n\n{content}"
    calls = [_call_dict(call) for call in message.tool_calls]
    if calls and native_calls:
        item["tool_calls"] = calls
    elif calls:
        content = text_tool_calls(content, calls)
    item["content"] = content
    if message.tool_call_id is not None:
        item["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        item["name"] = message.name
    return item


def _text(message: Message, where: str) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    if any(isinstance(part, ImagePart) for part in message.content):
        raise SrftError(Problem("image content cannot be rendered by a text chat template",
                                path=f"{where}.content"))
    return "".join(part.text for part in message.content)


def _call_dict(call: ToolCall) -> dict:
    """The Hugging Face tool-call shape; JSON-object arguments are passed parsed, as templates expect."""
    try:
        arguments: Any = json.loads(call.arguments)
    except ValueError:
        arguments = call.arguments
    if not isinstance(arguments, dict):
        arguments = call.arguments
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


SWE_SMITH_BLOCK_PARAMETERS = ("old_str", "new_str", "file_text")
"""Arguments SWE-smith writes on lines of their own (``<parameter=KEY>\\nVALUE\\n</parameter>``)."""


def text_tool_calls(content: str, calls: list[dict]) -> str:
    """``content`` followed by each call in SWE-smith's XML text convention, byte for byte as its
    ``transform_traj_xml`` writes an assistant turn (``tests/test_swe_smith_convention.py`` checks it).

    Each call is ``<function=NAME>``, one ``<parameter=KEY>VALUE</parameter>`` line per argument (the
    :data:`SWE_SMITH_BLOCK_PARAMETERS` with the value on lines of its own) and ``</function>``; calls are
    joined by a newline, put after the content and a blank line, and the whole turn is stripped.
    """
    blocks = []
    for call in calls:
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        params = arguments.items() if isinstance(arguments, dict) else [("arguments", arguments)]
        lines = [f"<parameter={key}>\n{_param(value)}\n</parameter>" if key in SWE_SMITH_BLOCK_PARAMETERS
                 else f"<parameter={key}>{_param(value)}</parameter>" for key, value in params]
        blocks.append("\n".join([f"<function={name}>", *lines, "</function>"]))
    if not blocks:
        return content
    actions = "\n".join(blocks)
    return f"{content}\n\n{actions}".strip()


def missing_calls(message: dict, turn: str) -> list[str]:
    """Names of ``message``'s tool calls whose name (once per call) or string arguments miss in ``turn``."""
    calls = message.get("tool_calls", ())
    names = [call["function"]["name"] for call in calls]
    missing = []
    for name, call in zip(names, calls):
        arguments = call["function"]["arguments"]
        values = ([v for v in arguments.values() if isinstance(v, str)] if isinstance(arguments, dict)
                  else [arguments])
        written = all(any(form in turn for form in _written_forms(value)) for value in values)
        if turn.count(name) < names.count(name) or not written:
            missing.append(name)
    return missing


def _written_forms(value: str) -> tuple[str, ...]:
    """How a template may write a string argument: raw, or JSON-escaped (with or without ASCII escapes)."""
    return value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]


def _param(value: Any) -> str:
    """An argument's text as SWE-smith writes it: Python's ``str`` of the parsed JSON value."""
    return str(value)


def _plain(tool: Any) -> Any:
    """Tool schemas as plain JSON data."""
    return json.loads(json.dumps(tool))
