"""Reading source fields: type checks that fail with the field's path, and small dict helpers.

A converter raises :func:`fail` / :func:`require` errors with the JSON path of the bad field; the pipeline
adds the file and the line (or position in a JSON list), so every bad input is one line a user can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from srft_format.errors import Problem, SrftError
from srft_format.models import Usage


def fail(path: str, message: str) -> SrftError:
    """A bad-input error at a field of the record (the pipeline adds the file and line or position)."""
    return SrftError(Problem(message, path))


def require(value: Any, kind: type | tuple[type, ...], path: str, what: str) -> Any:
    """``value`` when it is a ``kind``; otherwise an error at ``path`` saying what was expected and came."""
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        raise fail(path, f"expected {what}, got {type(value).__name__}")
    return value


def optional_text(value: Any, path: str) -> str | None:
    """A string field that may be null."""
    return require(value, (str, type(None)), path, "a string or null")


def object_list(value: Any, path: str, what: str) -> list[dict[str, Any]]:
    """A list whose items are all objects (tool schemas, messages)."""
    for i, item in enumerate(require(value, list, path, what)):
        require(item, dict, f"{path}[{i}]", "an object")
    return value


def list_or_json_list(value: Any, path: str, what: str) -> list[Any]:
    """A list, or a JSON string holding one (SWE-smith ``messages``, nebius ``trajectory``)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise fail(path, f"a JSON string that does not decode ({exc})") from None
    return require(value, list, path, what)


def token_count(value: Any) -> int | None:
    """A token count; None for anything but a non-negative integer (the raw value stays in ``extra``)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def run_usage(stats: dict[str, Any]) -> Usage | None:
    """The run's totals from ``model_stats`` (SWE-agent, mini-swe-agent): ``instance_cost`` (0.x: else
    ``total_cost``), ``tokens_sent`` / ``tokens_received``; None when it records none."""
    cost = stats.get("instance_cost", stats.get("total_cost"))
    usage = Usage(prompt_tokens=token_count(stats.get("tokens_sent")),
                  completion_tokens=token_count(stats.get("tokens_received")),
                  cost=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0
                  else None)
    return usage if usage != Usage() else None


def without(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A copy of ``mapping`` less ``keys``."""
    return {k: v for k, v in mapping.items() if k not in keys}


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
