"""spec/ holds JSON Schemas generated from the models: this fails when the two drift apart."""

from __future__ import annotations

import json

import jsonschema
import pytest

from factories import make_trajectory
from srft_format import schema as schemas
from srft_format.models import FORMAT_VERSION, RECORD_MODELS


@pytest.mark.parametrize("kind", sorted(RECORD_MODELS))
def test_spec_schema_files_match_the_models(kind):
    shipped = schemas.schema_path(kind).read_text()
    assert shipped == schemas.render(schemas.generate(kind)), (
        f"spec/v{FORMAT_VERSION}/{kind}.schema.json is stale: run `python -m srft_format.schema --write` "
        "and bump the format version by the rules in spec/README.md")


@pytest.mark.parametrize("kind", sorted(RECORD_MODELS))
def test_schemas_are_valid_draft_2020_12(kind):
    jsonschema.Draft202012Validator.check_schema(schemas.load(kind))


def test_a_valid_trajectory_passes_the_shipped_schema():
    record = json.loads(make_trajectory(n_steps=3, labels=["correct", "incorrect", "neutral"]).model_dump_json())
    assert list(schemas.validator("trajectory").iter_errors(record)) == []


def test_spec_readme_documents_every_field():
    """Every field of every model is named in spec/README.md (the prose standard)."""
    readme = (schemas.schema_path("trajectory").parent.parent / "README.md").read_text()
    from srft_format import models

    missing = [f"{name}.{field}" for name, cls in vars(models).items()
               if isinstance(cls, type) and issubclass(cls, models.Model) and cls is not models.Model
               for field in cls.model_fields if f"`{field}`" not in readme]
    assert missing == []
