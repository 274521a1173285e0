"""The Parquet layout of srft records, derived from the pydantic models by three rules.

1. Models become structs, lists become lists, scalars their Arrow types; enums, literals and datetimes are
   strings (ISO 8601 as written, so time zones round-trip exactly).
2. Opaque values (``extra``, ``config``, ``sampling``, ``parameters``, tool schemas: any ``dict`` or ``Any``)
   are stored as JSON text: nested columns need one fixed type, and these have none.
3. A field that is text *or* a list of content parts (``Message.content``) is two columns: ``content`` (the
   text) and ``content_parts`` (the parts), exactly one of them non-null.

``to_table`` and ``from_table`` are inverse: JSONL -> Parquet -> JSONL gives equal records.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Literal, Union, get_args, get_origin

import orjson
import pyarrow as pa
from pydantic import BaseModel

from .models import Model

PARTS_SUFFIX = "_parts"


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else Union[tuple(args)]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _parts_model(tp: Any) -> Any | None:
    """For ``str | list[Part]`` (rule 3): the union of parts; otherwise None."""
    if get_origin(tp) not in (Union, types.UnionType):
        return None
    args = get_args(tp)
    lists = [a for a in args if get_origin(a) is list]
    if str in args and len(lists) == 1 and len(args) == 2:
        return get_args(lists[0])[0]
    return None


def _union_struct(tp: Any) -> pa.DataType:
    """A tagged union of models as one struct holding the union of their fields."""
    members = get_args(get_args(tp)[0]) if get_origin(tp) is not Union else get_args(tp)
    fields: dict[str, pa.Field] = {}
    for member in members:
        for f in model_struct(member):
            fields.setdefault(f.name, f)
    return pa.struct(list(fields.values()))


def arrow_type(tp: Any) -> pa.DataType:
    tp = _strip_optional(tp)
    origin = get_origin(tp)
    if tp is str or tp is datetime or origin is Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        return pa.string()
    if tp is bool:
        return pa.bool_()
    if tp is int:
        return pa.int64()
    if tp is float:
        return pa.float64()
    if _is_model(tp):
        return model_struct(tp)
    if origin is list:
        return pa.list_(arrow_type(get_args(tp)[0]))
    if _is_tagged_union(tp):
        return _union_struct(tp)
    return pa.string()  # rule 2: opaque JSON


def _is_tagged_union(tp: Any) -> bool:
    inner = get_args(tp)[0] if get_args(tp) and hasattr(tp, "__metadata__") else tp
    return get_origin(inner) in (Union, types.UnionType) and all(_is_model(a) for a in get_args(inner))


def _is_json(tp: Any) -> bool:
    tp = _strip_optional(tp)
    return arrow_type(tp) == pa.string() and not (
        tp is str or tp is datetime or get_origin(tp) is Literal or (isinstance(tp, type) and issubclass(tp, Enum))
    )


@lru_cache(maxsize=None)
def model_struct(model: type[BaseModel]) -> pa.StructType:
    fields = []
    for name, info in model.model_fields.items():
        parts = _parts_model(_strip_optional(info.annotation))
        if parts is not None:
            fields.append(pa.field(name, pa.string()))
            fields.append(pa.field(name + PARTS_SUFFIX, pa.list_(arrow_type(parts))))
        else:
            fields.append(pa.field(name, arrow_type(info.annotation)))
    return pa.struct(fields)


@lru_cache(maxsize=None)
def schema_of(model: type[Model]) -> pa.Schema:
    return pa.schema(list(model_struct(model)))


@lru_cache(maxsize=None)
def _plan(model: type[BaseModel]) -> tuple[tuple[str, str, Any], ...]:
    """Per field: (name, how, sub) with how in json / parts / model / list-model / plain."""
    plan = []
    for name, info in model.model_fields.items():
        tp = _strip_optional(info.annotation)
        if _parts_model(tp) is not None:
            plan.append((name, "parts", None))
        elif _is_json(tp):
            plan.append((name, "json", None))
        elif _is_model(tp):
            plan.append((name, "model", tp))
        elif get_origin(tp) is list and _is_model(_strip_optional(get_args(tp)[0])):
            plan.append((name, "list-model", get_args(tp)[0]))
        elif get_origin(tp) is list and _is_json(get_args(tp)[0]):
            plan.append((name, "list-json", None))
        else:
            plan.append((name, "plain", None))
    return tuple(plan)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


Codec = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns one record's dict into one table row, or back (for a model, by :func:`_encoder` / :func:`_decoder`)."""


@lru_cache(maxsize=None)
def _encoder(model: type[BaseModel]) -> Codec | None:
    """Turns ``model_dump(mode="json")`` output into a row, in place; None when the dump already is one."""
    plan = []
    for name, how, sub in _plan(model):
        if how in ("model", "list-model"):
            sub = _encoder(sub)
            if sub is None:
                continue
        elif how == "parts":
            sub = name + PARTS_SUFFIX
        elif how == "plain":
            continue
        plan.append((name, how, sub))
    if not plan:
        return None

    def encode(obj: dict[str, Any]) -> dict[str, Any]:
        for name, how, sub in plan:
            value = obj[name]
            if how == "parts":
                is_parts = isinstance(value, list)
                obj[name] = None if is_parts else value
                obj[sub] = value if is_parts else None
            elif value is None:
                continue
            elif how == "json":
                obj[name] = _json(value)
            elif how == "model":
                sub(value)
            elif how == "list-model":
                for item in value:
                    sub(item)
            else:  # list-json
                obj[name] = [_json(v) for v in value]
        return obj

    return encode


@lru_cache(maxsize=None)
def _decoder(model: type[BaseModel]) -> Codec:
    """Turns a row into a new dict for ``model.model_validate``, leaving out null fields."""
    plan = []
    for name, how, sub in _plan(model):
        if how in ("model", "list-model"):
            sub = _decoder(sub)
        elif how == "parts":
            sub = name + PARTS_SUFFIX
        plan.append((name, how, sub))

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for name, how, sub in plan:
            value = row.get(name)
            if how == "parts":
                parts = row.get(sub)
                if parts is not None:
                    value = [{k: v for k, v in part.items() if v is not None} for part in parts]
            elif value is None or how == "plain":
                pass
            elif how == "json":
                value = orjson.loads(value)
            elif how == "model":
                value = sub(value)
            elif how == "list-model":
                value = [sub(v) for v in value]
            else:  # list-json
                value = [orjson.loads(v) for v in value]
            if value is not None:
                obj[name] = value
        return obj

    return decode


def to_table(records: Iterable[Model], model: type[Model]) -> pa.Table:
    """Records as an Arrow table with :func:`schema_of` ``(model)``."""
    rows = [r.model_dump(mode="json") for r in records]
    encode = _encoder(model)
    if encode is not None:
        rows = [encode(row) for row in rows]
    return pa.Table.from_pylist(rows, schema=schema_of(model))


def from_table(table: pa.Table | pa.RecordBatch, model: type[Model]) -> Iterator[dict[str, Any]]:
    """The records of a table as plain dicts ready for ``model.model_validate``."""
    decode = _decoder(model)
    for row in table.to_pylist():
        yield decode(row)
