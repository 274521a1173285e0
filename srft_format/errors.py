"""Errors that say where: the file, the line or record, and the JSON path of the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

_POSITION = re.compile(r"^(?P<reason>.*?):? (?:at )?line (?P<line>\d+) column (?P<column>\d+)(?: \(char \d+\))?$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one record, located as ``file:line: path: message``.

    A message may quote the bad input, so its secrets are replaced (:mod:`.secrets`): what srft prints or
    writes about a record (stderr, ``conversion-errors.jsonl``, ``verify --json``) never repeats a key."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        from collections import Counter

        from .secrets import redact_text

        object.__setattr__(self, "message", redact_text(self.message, Counter()))

    def located(self, file: str | None = None, line: int | None = None) -> "Problem":
        return Problem(self.message, self.path, file if file is not None else self.file,
                       line if line is not None else self.line)

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        parts = [p for p in (where, self.path) if p]
        return ": ".join([*parts, self.message])

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


class SrftError(Exception):
    """Base of every error srft raises on bad input; ``str()`` is one line a user can act on."""

    def __init__(self, problems: "Problem | list[Problem] | str"):
        if isinstance(problems, str):
            problems = Problem(problems)
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("\n".join(str(p) for p in self.problems))


class FormatVersionError(SrftError):
    """A record written by a newer major version of the format than this reader knows."""


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('steps', 3, 'output')`` -> ``steps[3].output``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_from_validation_error(error: ValidationError, raw: bytes | None = None) -> list[Problem]:
    """One :class:`Problem` per field, with a JSON path and a short message (union alternatives merged)."""
    merged: dict[str, list[str]] = {}
    for err in error.errors(include_url=False):
        if err["type"] == "json_invalid":
            return [Problem(describe_json_error(err.get("ctx", {}).get("error", err["msg"]), raw))]
        path = json_path(_field_loc(err["loc"]))
        if err["type"] == "extra_forbidden":
            message = "unknown field (source fields the format does not map belong under 'extra')"
        elif err["type"] == "missing":
            message = "required field is missing"
        else:
            message = err["msg"]
        messages = merged.setdefault(path, [])
        if message not in messages:
            messages.append(message)
    return [Problem(_join_alternatives(msgs), path) for path, msgs in merged.items()]


def _join_alternatives(messages: list[str]) -> str:
    """``['Input should be a valid string', 'Input should be a valid array']`` -> one sentence."""
    prefix = "Input should be "
    if len(messages) > 1 and all(m.startswith(prefix) for m in messages):
        return prefix + " or ".join(m.removeprefix(prefix) for m in messages)
    return "; ".join(messages)


def _field_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union-member names (``'str'``, ``'list[...]'``) and tagged-union tags from a loc."""
    out: list[int | str] = []
    skip_tag = False
    for part in loc:
        if isinstance(part, str) and (part == "str" or "[" in part):
            skip_tag = "tagged-union" in part
            continue
        if skip_tag and isinstance(part, str):
            skip_tag = False
            continue
        out.append(part)
    return tuple(out)


def json_error(raw: bytes) -> str:
    """Why ``raw`` is not one JSON document, positions counted within it (its line ending dropped)."""
    raw = raw.rstrip(b"\r\n")
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return describe_json_error(str(exc), raw)
    return "not valid JSON"


def describe_json_error(detail: str, raw: bytes | None) -> str:
    """A JSON parse failure in words: truncated, not UTF-8, or not JSON."""
    if raw is not None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        if not raw.strip():
            return "empty record"
    detail = _short_position(detail.removeprefix("Invalid JSON: "))
    if "unexpected end of data" in detail or "EOF while parsing" in detail:
        return f"truncated JSON ({detail})"
    return f"not valid JSON ({detail})"


def _short_position(detail: str) -> str:
    """``'unexpected end of data: line 1 column 47 (char 46)'`` -> ``'unexpected end of data at column 47'``."""
    match = _POSITION.match(detail)
    if not match:
        return detail
    where = f"column {match['column']}" if match["line"] == "1" else f"line {match['line']} column {match['column']}"
    return f"{match['reason']} at {where}"
