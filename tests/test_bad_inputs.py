"""Table-driven bad inputs: each gives one exact, located message — from the library and from JSON Schema."""

from __future__ import annotations

import orjson
import pytest

from factories import make_trajectory
from srft_format.check import find_problems
from srft_format.errors import FormatVersionError, SrftError
from srft_format.io import read_objects, read_records
from srft_format.models import Trajectory


def _record(**changes) -> dict:
    base = orjson.loads(make_trajectory("bad", n_steps=2, labels=["correct", "incorrect"]).model_dump_json())
    for dotted, value in changes.items():
        node = base
        *parents, key = dotted.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(key) if key.isdigit() else key] = value
    return base


def _line(obj: dict) -> bytes:
    return orjson.dumps(obj) + b"\n"


GOOD = _line(_record(id="good"))

# (case, file bytes, line, JSON path, library message, schema-only message or None where JSON Schema cannot
# express the rule). Line 2 everywhere: a good record precedes the bad one, so locations are really checked.
CASES = [
    ("truncated line", GOOD + b'{"format_version": "1.0", "id": "x", "steps": [\n', 2, "",
     "truncated JSON (unexpected end of data at column 48)",
     "truncated JSON (unexpected end of data at column 48)"),
    ("not JSON", GOOD + b"<html>not json</html>\n", 2, "",
     "not valid JSON (unexpected character, expected a JSON value at column 1)",
     "not valid JSON (unexpected character, expected a JSON value at column 1)"),
    ("wrong type", GOOD + _line(_record(steps__0__output="three")), 2, "steps[0].output",
     "Input should be a valid integer, unable to parse string as an integer", "'three' is not of type 'integer'"),
    ("unknown field", GOOD + _line(_record(colour="red")), 2, "colour",
     "unknown field (source fields the format does not map belong under 'extra')", "unknown field"),
    ("dangling step reference", GOOD + _line(_record(steps__1__output=99)), 2, "steps[1].output",
     "points at message 99, but there are 6 messages", None),
    ("verdict for a missing step", GOOD + _line(_record(verdicts__1__step=7)), 2, "verdicts[1].step",
     "verdict for step 7, but the trajectory has 2 steps", None),
    ("undeclared annotator", GOOD + _line(_record(verdicts__0__annotator="ghost")), 2, "verdicts[0].annotator",
     "annotator 'ghost' is not declared (declared: critic)", None),
    ("newer major version", GOOD + _line(_record(format_version="2.0")), 2, "format_version",
     "srft format 2.x is newer than this reader (1.x): upgrade srft-format", "'2.0' does not match '^1\\\\.[0-9]+$'"),
    ("non-UTF-8 bytes", GOOD + b'{"format_version": "1.0", "id": "caf\xe9"}\n', 2, "",
     "not valid UTF-8 (byte 0xe9 at offset 36)", "not valid UTF-8 (byte 0xe9 at offset 36)"),
    ("empty file", b"", None, "", "empty file: no records", "empty file: no records"),
    ("tool result for an unknown call", GOOD + _line(_record(messages__3__tool_call_id="nope")), 2,
     "messages[3].tool_call_id", "tool result for unknown or later tool call 'nope'", None),
    ("duplicate id", GOOD + GOOD, 2, "id", "duplicate trajectory id 'good'", None),
]


@pytest.mark.parametrize("case, data, line, path, message, schema_message", CASES, ids=[c[0] for c in CASES])
def test_library_names_file_line_path_and_message(tmp_path, case, data, line, path, message, schema_message):
    file = tmp_path / "bad.jsonl"
    file.write_bytes(data)
    problems = find_problems(file, Trajectory)
    assert [(p.file, p.line, p.path, p.message) for p in problems] == [(str(file), line, path, message)]
    where = f"{file}:{line}" if line else str(file)
    assert str(problems[0]) == ": ".join(x for x in (where, path, message) if x)


@pytest.mark.parametrize("case, data, line, path, message, schema_message", CASES, ids=[c[0] for c in CASES])
def test_schema_only_agrees_wherever_json_schema_can_express_the_rule(tmp_path, case, data, line, path, message,
                                                                      schema_message):
    file = tmp_path / "bad.jsonl"
    file.write_bytes(data)
    problems = find_problems(file, Trajectory, schema_only=True)
    if schema_message is None:
        assert problems == []  # a cross-reference rule: only the library sees it
    else:
        assert [(p.line, p.path, p.message) for p in problems] == [(line, path, schema_message)]


STREAMABLE = [c for c in CASES if c[0] != "duplicate id"]  # uniqueness across records is the validator's job


@pytest.mark.parametrize("reader", [read_records, read_objects])
@pytest.mark.parametrize("case, data, line, path, message, schema_message", STREAMABLE, ids=[c[0] for c in STREAMABLE])
def test_readers_raise_the_first_problem(tmp_path, reader, case, data, line, path, message, schema_message):
    file = tmp_path / "bad.jsonl"
    file.write_bytes(data)
    with pytest.raises(SrftError) as info:
        list(reader(file, Trajectory))
    first = info.value.problems[0]
    assert (first.line, first.path, first.message) == (line, path, message)


def test_newer_major_version_has_its_own_error_type(tmp_path):
    file = tmp_path / "new.jsonl"
    file.write_bytes(_line(_record(format_version="2.3")))
    with pytest.raises(FormatVersionError, match=r"srft format 2.x is newer than this reader \(1.x\)"):
        list(read_records(file, Trajectory))


def test_newer_minor_version_is_read_without_the_fields_it_added(tmp_path):
    future = _record(format_version="1.7", future_field={"a": 1})
    future["steps"][0]["future_step_field"] = 3
    file = tmp_path / "future.jsonl"
    file.write_bytes(_line(future))
    (traj,) = read_records(file, Trajectory)
    assert traj.format_version == "1.7" and len(traj.steps) == 2 and "future_field" not in traj.model_dump()
    (obj,) = read_objects(file, Trajectory)  # the schema rejects it; the object is what the model read
    assert obj == orjson.loads(traj.model_dump_json(exclude_defaults=True))
    # ... but a wrong type in a newer minor version is still an error
    future["steps"][0]["output"] = "x"
    file.write_bytes(_line(future))
    with pytest.raises(SrftError, match=r"steps\[0\]\.output"):
        list(read_records(file, Trajectory))


def test_several_problems_in_one_record_are_all_reported(tmp_path):
    bad = _record(colour="red", steps__0__output=99)
    bad["messages"][0]["role"] = "robot"
    file = tmp_path / "bad.jsonl"
    file.write_bytes(_line(bad))
    paths = {p.path for p in find_problems(file, Trajectory)}
    assert paths == {"colour", "messages[0].role"}  # cross-references are checked once the record parses


def test_union_errors_read_as_one_message(tmp_path):
    file = tmp_path / "bad.jsonl"
    file.write_bytes(_line(_record(messages__0__content=5)))
    (problem,) = find_problems(file, Trajectory)
    assert problem.path == "messages[0].content"
    assert problem.message == "Input should be a valid string or a valid array"


def test_missing_file_and_not_a_dataset(tmp_path):
    with pytest.raises(SrftError, match="cannot open"):
        list(read_records(tmp_path / "nope.jsonl", Trajectory))
    assert [p.message for p in find_problems(tmp_path)] == [
        "is a directory but not an srft dataset (no manifest.json)"]
