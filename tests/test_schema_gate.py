"""The JSON Schema gate of ``read_objects`` and ``srft validate`` is never looser than the models.

Records the schema accepts are returned without building models, so whatever it accepts the models must
accept too. Random damage to a rich valid record (a value replaced by any JSON value, a key removed, an
unknown key added) checks that, field by field.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from factories import make_trajectory
from srft_format.models import (Evaluation, ExcludeReason, ImagePart, Provenance, TextPart, TokenRecord, Trajectory,
                                Usage)
from srft_format.schema import fast_validator


def _rich_record() -> dict[str, Any]:
    """A valid trajectory with every optional part filled in, as JSON with every field written out."""
    traj = make_trajectory("rich", n_steps=2, labels=["correct", "incorrect"])
    step = traj.steps[0]
    step.usage = Usage(prompt_tokens=10, completion_tokens=2, cached_tokens=0, cost=0.5)
    step.tokens = TokenRecord(prompt_token_ids=[1, 2], completion_token_ids=[3], completion_logprobs=[-0.1],
                              tokenizer="t")
    step.started_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    step.duration_s = 1.5
    step.exclude = [ExcludeReason.requery]
    traj.outcome.evaluation = Evaluation(source="report.json", fail_to_pass=["t1"], pass_to_pass=[])
    traj.verdicts[0].score = 0.9
    traj.verdicts[0].created_at = datetime(2025, 1, 2, tzinfo=timezone.utc)
    traj.messages[2].content = [TextPart(type="text", text="hi"), ImagePart(type="image", url="data:,x")]
    traj.provenance = Provenance(source_format="swe-agent", converter="c", converter_version="1",
                                 record_offset=0, record_sha256="0" * 64)
    return orjson.loads(traj.model_dump_json())


RICH = _rich_record()


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in ``node`` (dict keys and list indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = []
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


PATHS = _paths(RICH)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([2**63, -(2**63) - 1, 2.0**63, 1.0, 0.5])  # beyond 64 bits; int-valued and other floats
    | st.text(max_size=8) | st.sampled_from(["", "1.0", "2.0", "assistant", "tool", "bash", "correct", "x" * 200,
                                              "2025-01-02T03:04:05Z", "2025-01-02", "0" * 64, "-1"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4)


def _damaged(record: dict[str, Any], path: tuple, how: str, value: Any) -> dict[str, Any]:
    record = orjson.loads(orjson.dumps(record))
    *parents, last = path
    node: Any = record
    for key in parents:
        node = node[key]
    if how == "replace":
        node[last] = value
    elif how == "remove" and isinstance(node, dict):
        del node[last]
    elif how == "add" and isinstance(node[last], dict):
        node[last]["unknown_field"] = value
    return record


def _models_accept(record: dict[str, Any]) -> bool:
    try:
        Trajectory.model_validate(record)
    except ValidationError:
        return False
    return True


def test_the_rich_record_passes_both():
    assert fast_validator("trajectory").is_valid(RICH) and _models_accept(RICH)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PATHS), st.sampled_from(["replace", "remove", "add"]), json_values)
def test_what_the_schema_accepts_the_models_accept(path, how, value):
    record = _damaged(RICH, path, how, value)
    if fast_validator("trajectory").is_valid(record):
        assert _models_accept(record), f"{how} at {path} with {value!r}"
