"""The JSON Schemas in ``spec/``: generated from the models, and used for ``srft validate --schema-only``.

``python -m srft_format.schema --write`` regenerates ``spec/v<MAJOR>.<MINOR>/*.schema.json``; a test fails when the
files and the models drift apart. ``--schema-only`` validation uses nothing but these files and ``jsonschema`` —
the same check a user of any other language can run. Reading uses the same files compiled by ``jsonschema-rs``
(:func:`fast_validator`) to accept records without building models.
"""

from __future__ import annotations

import argparse
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .models import FORMAT_VERSION, RECORD_MODELS

SCHEMA_BASE_URL = "https://srft.dev/schema"


def schema_dirname(version: str = FORMAT_VERSION) -> str:
    return f"v{version}"


def generate(kind: str) -> dict[str, Any]:
    """The JSON Schema of one record kind (``trajectory``, ``verdict``, ``manifest``)."""
    model = RECORD_MODELS[kind]
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URL}/{schema_dirname()}/{kind}.schema.json",
        **schema,
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def schema_path(kind: str, version: str = FORMAT_VERSION) -> Path:
    """``spec/v1.0/<kind>.schema.json`` in a source tree; its installed copy in ``srft_format/spec/v1_0/``."""
    source = Path(__file__).resolve().parent.parent / "spec"
    if source.is_dir():
        return source / schema_dirname(version) / f"{kind}.schema.json"
    installed = Path(__file__).resolve().parent / "spec"  # package-dir maps spec/ to srft_format.spec
    return installed / schema_dirname(version).replace(".", "_") / f"{kind}.schema.json"


@lru_cache(maxsize=None)
def load(kind: str, version: str = FORMAT_VERSION) -> dict[str, Any]:
    """A schema as shipped in ``spec/`` (not regenerated)."""
    return json.loads(schema_path(kind, version).read_text())


@lru_cache(maxsize=None)
def validator(kind: str, version: str = FORMAT_VERSION) -> Any:
    import jsonschema

    schema = load(kind, version)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@lru_cache(maxsize=None)
def fast_validator(kind: str, version: str = FORMAT_VERSION) -> Any:
    """The schema compiled by ``jsonschema-rs`` (formats checked): a quick yes or no, with no messages.

    A gate before the models, so never looser than they are: its integers stay within 64 bits, where pydantic
    reads an integer-valued float (``1e19`` is an integer to JSON Schema); larger values go to the models."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(_int64(load(kind, version)), validate_formats=True)


def _int64(node: Any) -> Any:
    """A copy of a schema whose ``integer`` types are bounded to 64-bit signed values."""
    if isinstance(node, list):
        return [_int64(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _int64(value) for key, value in node.items()}
    if node.get("type") == "integer":
        node["minimum"] = max(node.get("minimum", -(2**63)), -(2**63))
        node["maximum"] = min(node.get("maximum", 2**63 - 1), 2**63 - 1)
    return node


def write_all() -> list[Path]:
    written = []
    for kind in RECORD_MODELS:
        path = schema_path(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(generate(kind)))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate the schema files in spec/")
    args = parser.parse_args()
    if args.write:
        for path in write_all():
            print(path)
    else:
        for kind in RECORD_MODELS:
            print(render(generate(kind)))


if __name__ == "__main__":
    main()
