"""Parse one record (a trajectory, a verdict, a manifest) from bytes or a dict, handling format versions.

The fast path hands the bytes straight to pydantic-core. Only a record that fails is looked at again, to
say *why*: not JSON, not UTF-8, newer major version, or which fields are wrong. Records of an older major
version are upgraded (nbformat style); records of a newer *minor* version lose the fields this reader does
not know, since minor versions only add optional fields.

:func:`load_object` validates without building models: the spec's JSON Schema accepts the record as it is,
and only a record it rejects goes through the models (to be upgraded, read, or explained).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from .errors import FormatVersionError, Problem, SrftError, json_error, problems_from_validation_error
from .models import FORMAT_MAJOR, FORMAT_MINOR, Model, record_kind
from .schema import fast_validator

M = TypeVar("M", bound=Model)

UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""``UPGRADES[n]`` turns a record of major version ``n`` into one of major ``n + 1``. Format 1 is the first."""


def parse_version(value: Any) -> tuple[int, int]:
    """``'1.2'`` -> ``(1, 2)``; anything else is a :class:`SrftError` naming ``format_version``."""
    if isinstance(value, str):
        major, dot, minor = value.partition(".")
        if dot and major.isdigit() and minor.isdigit():
            return int(major), int(minor)
    raise SrftError(Problem(f"expected 'MAJOR.MINOR', got {value!r}", "format_version"))


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type: object, array, string, number, boolean or null."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record of any readable version to the current major version."""
    if not isinstance(record, dict):
        raise SrftError(Problem(f"expected a JSON object, got {json_type(record)}"))
    if "format_version" not in record:
        raise SrftError(Problem("required field is missing", "format_version"))
    major, _ = parse_version(record["format_version"])
    if major > FORMAT_MAJOR:
        raise FormatVersionError(Problem(
            f"srft format {major}.x is newer than this reader ({FORMAT_MAJOR}.x): upgrade srft-format",
            "format_version"))
    while major < FORMAT_MAJOR:
        if major not in UPGRADES:
            raise FormatVersionError(Problem(f"srft format {major}.x cannot be upgraded", "format_version"))
        record = UPGRADES[major](record)
        major, _ = parse_version(record["format_version"])
    return record


def parse_record(raw: bytes, model: type[M]) -> M:
    """Validate one JSON document; on failure raise :class:`SrftError` with every problem located by path."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SrftError(Problem(json_error(raw))) from None
    if not isinstance(obj, dict):
        raise SrftError(Problem(f"expected a JSON object, got {json_type(obj)}"))
    return load_record(obj, model, first)


def load_record(obj: dict[str, Any], model: type[M], error: ValidationError | None = None) -> M:
    """Validate a decoded record, upgrading old versions and tolerating newer minor versions."""
    if error is None:
        try:
            return model.model_validate(obj)
        except ValidationError as exc:
            error = exc
    record = upgrade(obj)
    _, minor = parse_version(record["format_version"])
    if record is obj and minor <= FORMAT_MINOR:
        raise SrftError(problems_from_validation_error(error))
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        if minor <= FORMAT_MINOR:
            raise SrftError(problems_from_validation_error(exc)) from None
        return model.model_validate(_drop_unknown_fields(record, exc))


def _drop_unknown_fields(record: dict[str, Any], error: ValidationError) -> dict[str, Any]:
    """A copy of ``record`` without the fields a newer minor version added (reported as ``extra_forbidden``)."""
    record = orjson.loads(orjson.dumps(record))
    for err in error.errors(include_url=False):
        if err["type"] != "extra_forbidden":
            raise SrftError(problems_from_validation_error(error))
        *parents, key = err["loc"]
        node: Any = record
        for part in parents:
            if isinstance(part, str) and (part == "str" or "[" in part):
                continue
            node = node[part]
        node.pop(key, None)
    return record


def load_object(raw: bytes | dict[str, Any], model: type[Model]) -> dict[str, Any]:
    """One record as a validated JSON object: as stored when the schema accepts it, else as the model reads it
    (upgraded, or without a newer minor version's fields); :class:`SrftError` when the model rejects it too."""
    obj = _loads_or_none(raw) if isinstance(raw, bytes) else raw
    if isinstance(obj, dict) and fast_validator(record_kind(model)).is_valid(obj):
        return obj
    record = parse_record(raw, model) if isinstance(raw, bytes) else load_record(raw, model)
    return orjson.loads(dump_record(record))


def _loads_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # parse_record explains


def dump_record(record: Model) -> bytes:
    """Compact JSON of a record, without fields at their default value (readers fill them back in)."""
    return record.model_dump_json(exclude_defaults=True).encode()
