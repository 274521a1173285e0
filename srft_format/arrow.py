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
from functools import cache
from operator import attrgetter
from typing import Any, Literal, Union, get_args, get_origin

import orjson
import pyarrow as pa
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

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


def _union_members(tp: Any) -> tuple[Any, ...]:
    """The models of a tagged union (``Annotated[Union[...], Field(discriminator=...)]`` or a bare union)."""
    return get_args(get_args(tp)[0]) if get_origin(tp) is not Union else get_args(tp)


def _union_struct(tp: Any) -> pa.DataType:
    """A tagged union of models as one struct holding the union of their fields."""
    fields: dict[str, pa.Field] = {}
    for member in _union_members(tp):
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


@cache
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


@cache
def schema_of(model: type[Model]) -> pa.Schema:
    return pa.schema(list(model_struct(model)))


@cache
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


def _json(value: Any) -> str:
    """Opaque values as JSON text, rendered as pydantic's JSON mode renders them (``default``: values that are
    not JSON types; datetimes in pydantic's own ISO 8601 form; non-string keys as strings)."""
    return orjson.dumps(value, default=to_jsonable_python,
                        option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS).decode()


Codec = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns one table row back into a record's dict (for a model, by :func:`_decoder`)."""


Column = Callable[[list[Any]], pa.Array]
"""Builds one column from one field's values across records (None where a record has none)."""


@cache
def _column(tp: Any) -> Column | None:
    """The builder of a column of ``tp`` values; None when ``pa.array`` takes the values as they are."""
    tp = _strip_optional(tp)
    if _is_model(tp) or _is_tagged_union(tp):
        return _struct_column(tp)
    if get_origin(tp) is list:
        return _list_column(get_args(tp)[0], arrow_type(tp))
    if tp is datetime:
        return _scalar_column(to_jsonable_python)  # pydantic's JSON rendering: 'Z' for UTC
    if isinstance(tp, type) and issubclass(tp, Enum):  # the members of a str enum are their values
        return None if issubclass(tp, str) else _scalar_column(attrgetter("value"))
    if _is_json(tp):
        return _scalar_column(_json)
    return None


def _array(values: list[Any], column: Column | None, tp: pa.DataType) -> pa.Array:
    return pa.array(values, type=tp) if column is None else column(values)


def _scalar_column(convert: Callable[[Any], Any]) -> Column:
    """Strings made from the non-null values by ``convert``."""
    return lambda values: pa.array([None if v is None else convert(v) for v in values], type=pa.string())


def _list_column(item: Any, list_type: pa.ListType) -> Column | None:
    """Lists, their items built by the items' own column builder (None when the items need none)."""
    items = _column(item)
    if items is None:
        return None

    def build(values: list[Any]) -> pa.Array:
        offsets, flat = [0], []
        for value in values:
            if value is not None:
                flat += value
            offsets.append(len(flat))
        nulls = _nulls(values)
        return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), items(flat), type=list_type,
                                        mask=None if nulls is None else pa.array(nulls, type=pa.bool_()))

    return build


def _nulls(values: list[Any]) -> list[bool] | None:
    """Which values are None; None when none is."""
    nulls = [v is None for v in values]
    return nulls if True in nulls else None


def _struct_column(tp: Any) -> Column:
    """Structs of a model (or of a tagged union of models: the union of their fields), by rule 3 for
    text-or-parts fields."""
    struct = arrow_type(tp)

    def build(values: list[Any]) -> pa.Array:
        nulls = _nulls(values)
        present = values if nulls is None else [v for v in values if v is not None]
        array = pa.StructArray.from_arrays(_field_columns(tp, present), fields=list(struct))
        return array if nulls is None else array.take(_positions(nulls))

    return build


def _positions(nulls: list[bool]) -> pa.Array:
    """For each value, its position among the non-null ones; null where it is null."""
    positions: list[int | None] = []
    count = 0
    for null in nulls:
        positions.append(None if null else count)
        count += not null
    return pa.array(positions, type=pa.int64())


FieldArrays = Callable[[list[Any]], list[pa.Array]]
"""A field's values as columns: one, or two for a text-or-parts field (rule 3)."""


def _field_columns(tp: Any, records: list[Any]) -> list[pa.Array]:
    """The columns of the fields of ``records``, instances of a model (or of the models of a tagged union)."""
    return [array for get, arrays in _fields(tp) for array in arrays(list(map(get, records)))]


@cache
def _fields(tp: Any) -> tuple[tuple[Callable[[Any], Any], FieldArrays], ...]:
    """Per field of a model, or of the models of a tagged union: its getter and its columns' builder."""
    members = _union_members(tp) if _is_tagged_union(tp) else (tp,)
    fields: dict[str, tuple[Callable[[Any], Any], FieldArrays]] = {}
    for member in members:
        for name, info in member.model_fields.items():
            if name not in fields:
                get = attrgetter(name) if len(members) == 1 else _optional_attr(name)
                fields[name] = (get, _field_arrays(info.annotation))
    return tuple(fields.values())


def _optional_attr(name: str) -> Callable[[Any], Any]:
    return lambda obj: getattr(obj, name, None)


def _field_arrays(annotation: Any) -> FieldArrays:
    tp = _strip_optional(annotation)
    parts = _parts_model(tp)
    if parts is None:
        column, column_type = _column(tp), arrow_type(tp)
        return lambda values: [_array(values, column, column_type)]
    parts_list = list[parts]  # type: ignore[valid-type]
    parts_column, parts_type = _column(parts_list), arrow_type(parts_list)

    def split(values: list[Any]) -> list[pa.Array]:
        texts = [None if isinstance(v, list) else v for v in values]
        lists = [v if isinstance(v, list) else None for v in values]
        return [pa.array(texts, type=pa.string()), _array(lists, parts_column, parts_type)]

    return split


@cache
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
    """Records as an Arrow table with :func:`schema_of` ``(model)``, built column by column from the models'
    attributes (no intermediate dict per record)."""
    return pa.Table.from_arrays(_field_columns(model, list(records)), schema=schema_of(model))


def from_table(table: pa.Table | pa.RecordBatch, model: type[Model]) -> Iterator[dict[str, Any]]:
    """The records of a table as plain dicts ready for ``model.model_validate``."""
    decode = _decoder(model)
    for row in table.to_pylist():
        yield decode(row)
