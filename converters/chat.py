"""OpenAI/litellm-style chat message dicts -> srft :class:`Message` s, every other key kept in ``extra``."""

from __future__ import annotations

from typing import Any

import orjson

from srft_format.errors import Problem, SrftError
from srft_format.models import ImagePart, Message, Role, TextPart, ToolCall

from .source_fields import require

ROLES = {r.value for r in Role}
MAPPED_KEYS = frozenset(("role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content"))
THINKING_PARTS = ("thinking", "redacted_thinking")
"""Anthropic content blocks holding the model's thinking (``thinking``; ``signature`` stays in ``extra``)."""
THINK_TAGS = ("<think>", "</think>")


def content_of(content: Any, path: str) -> tuple[str | list[TextPart | ImagePart] | None, dict[str, Any]]:
    """Message content as srft content, plus the extra keys of its parts (``{part index: {key: value}}``)."""
    if content is None or isinstance(content, str):
        return content, {}
    require(content, list, path, "a string or a list of parts")
    parts: list[TextPart | ImagePart] = []
    part_extra: dict[str, Any] = {}
    for i, part in enumerate(content):
        if isinstance(part, str):
            parts.append(TextPart(type="text", text=part))
            part_extra[str(i)] = {"bare_string": True}
            continue
        require(part, dict, f"{path}[{i}]", "a content part object")
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(type="text", text=part["text"]))
            rest = {k: v for k, v in part.items() if k not in ("type", "text")}
        elif kind in ("image_url", "image"):
            image = part.get("image_url", part)
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise SrftError(Problem("image part without a URL", f"{path}[{i}]"))
            detail = image.get("detail") if isinstance(image, dict) else None
            parts.append(ImagePart(type="image", url=url, detail=detail))
            rest = {k: v for k, v in part.items() if k not in ("type", "image_url", "url", "detail")}
            if kind == "image_url":
                rest["type"] = kind
        else:
            raise SrftError(Problem(f"unsupported content part type {kind!r}", f"{path}[{i}].type"))
        if rest:
            part_extra[str(i)] = rest
    return parts, part_extra


def text_of(content: Any) -> str:
    """The text of source content (a string or a list of text parts), for comparisons and parsing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", ""))
                       for p in content if isinstance(p, (str, dict)))
    return ""


def tool_calls_of(calls: Any, path: str) -> tuple[list[ToolCall], list[dict[str, Any]]]:
    """litellm/OpenAI tool calls as srft tool calls, plus each call's unmapped keys (e.g. ``index``)."""
    if not calls:
        return [], []
    require(calls, list, path, "a list")
    out: list[ToolCall] = []
    rest: list[dict[str, Any]] = []
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str):
            raise SrftError(Problem("a tool call needs an 'id' and a 'function'", f"{path}[{i}]"))
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):  # some providers give an object; srft keeps the JSON text
            arguments = orjson.dumps(arguments).decode()
        out.append(ToolCall(id=call["id"], name=str(function.get("name", "")), arguments=arguments))
        left = {k: v for k, v in call.items() if k not in ("id", "function", "type")}
        left.update({f"function.{k}": v for k, v in function.items() if k not in ("name", "arguments")})
        if call.get("type", "function") != "function":
            left["type"] = call["type"]
        rest.append(left)
    return out, rest


def chat_message(item: Any, path: str, *, role: str | None = None,
                 skip: frozenset[str] = frozenset()) -> Message:
    """One chat message dict as a :class:`Message`; keys not mapped (and not in ``skip``) go to ``extra``.

    A ``tool`` message that names no call becomes a ``user`` message (``extra.role = "tool"``), since srft
    tool messages must answer an earlier tool call.
    """
    require(item, dict, path, "a message object")
    role = role or item.get("role")
    if role not in ROLES:
        raise SrftError(Problem(f"unknown role {role!r}", f"{path}.role"))
    raw_content, thinking, thinking_extra = _thinking_parts(item.get("content"))
    content, part_extra = content_of(raw_content, f"{path}.content")
    calls, call_extra = tool_calls_of(item.get("tool_calls"), f"{path}.tool_calls")
    extra = {k: v for k, v in item.items() if k not in MAPPED_KEYS and k not in skip}
    if part_extra:
        extra["content_parts"] = part_extra
    if any(call_extra):
        extra["tool_calls"] = call_extra
    tool_call_id = item.get("tool_call_id")
    if role == "tool" and not tool_call_id:
        role, extra["role"] = "user", "tool"
    elif role != "tool" and tool_call_id:
        extra["tool_call_id"] = tool_call_id
    reasoning = item.get("reasoning_content")
    found = [reasoning] if isinstance(reasoning, str) and reasoning else []
    blocks = item.get("thinking_blocks")
    if isinstance(blocks, list) and blocks and "thinking_blocks" not in skip:
        found.append("\n\n".join(str(b.get("thinking", "")) for b in blocks if isinstance(b, dict)))
        extra["thinking_blocks"] = [without_text(b, "thinking") for b in blocks]
    if thinking:
        found.append("\n\n".join(thinking))
        extra["thinking_parts"] = thinking_extra
    if role == "assistant" and not found and isinstance(content, str) and _tagged(content):
        head, _, content = content.partition(THINK_TAGS[1])
        found.append(head.lstrip().removeprefix(THINK_TAGS[0]))
        extra["reasoning_in_content"] = "think_tags"
    reasoning = "\n\n".join(found) if found else (reasoning if isinstance(reasoning, str) else None)
    return Message(role=role, content=content, reasoning=reasoning,
                   tool_calls=calls, tool_call_id=tool_call_id if role == "tool" else None,
                   name=item.get("name") if isinstance(item.get("name"), str) else None, extra=extra)



def without_text(block: Any, key: str) -> Any:
    """A thinking block less its text (kept in ``reasoning``): its type, signature, ... stay."""
    return {k: v for k, v in block.items() if k != key} if isinstance(block, dict) else block


def _thinking_parts(content: Any) -> tuple[Any, list[str], dict[str, Any]]:
    """Content less its thinking blocks; their texts; the rest of each block by its position in the content."""
    if not isinstance(content, list) or not any(
            isinstance(p, dict) and p.get("type") in THINKING_PARTS for p in content):
        return content, [], {}
    kept, texts, rest = [], [], {}
    for i, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") in THINKING_PARTS:
            text = part.get("thinking")
            if isinstance(text, str):
                texts.append(text)
            rest[str(i)] = without_text(part, "thinking")
        else:
            kept.append(part)
    return kept, texts, rest


def _tagged(text: str) -> bool:
    """Whether a reply opens with ``<think>...</think>`` (reasoning models writing their thinking inline)."""
    return text.lstrip().startswith(THINK_TAGS[0]) and THINK_TAGS[1] in text
