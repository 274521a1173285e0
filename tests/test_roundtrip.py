"""Property-based round trips: models <-> JSONL <-> Parquet <-> models, and whole datasets between storages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srft_format import arrow
from srft_format.dataset import Dataset, copy_dataset, write_dataset
from srft_format.io import read_objects, read_records, write_records
from srft_format.models import (FORMAT_VERSION, Action, Agent, Annotator, ImagePart, Message, Outcome, Provenance,
                                Step, Task, TextPart, TokenRecord, ToolCall, Trajectory, Usage, Verdict,
                                VerdictRecord)
from srft_format.records import dump_record, parse_record

text = st.text(max_size=40)
maybe_text = st.none() | text
json_scalar = st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False,
                                                                                  allow_infinity=False) | text
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) |
                          st.dictionaries(text, inner, max_size=3), max_leaves=8)
extra = st.dictionaries(text, json_value, max_size=3)
small_int = st.none() | st.integers(0, 2**40)
moment = st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                                  timezones=st.none() | st.just(timezone.utc) |
                                  st.just(timezone(timedelta(hours=-5))))
unit = st.floats(0, 1, allow_nan=False)

parts = st.lists(st.builds(TextPart, type=st.just("text"), text=text) |
                 st.builds(ImagePart, type=st.just("image"), url=text, detail=maybe_text), max_size=3)
content = st.none() | text | parts


@st.composite
def trajectories(draw) -> Trajectory:
    messages = [Message(role="system", content=draw(content), extra=draw(extra))]
    steps = []
    call_n = 0
    for index in range(draw(st.integers(0, 4))):
        calls = []
        for _ in range(draw(st.integers(0, 2))):
            calls.append(ToolCall(id=f"call-{call_n}", name=draw(text), arguments=draw(text)))
            call_n += 1
        messages.append(Message(role="assistant", content=draw(content), reasoning=draw(maybe_text), tool_calls=calls))
        output = len(messages) - 1
        for call in calls:
            messages.append(Message(role="tool", content=draw(content), tool_call_id=call.id, name=call.name))
        if draw(st.booleans()):
            messages.append(Message(role="user", content=draw(content)))
        steps.append(Step(
            index=index, output=output, observations=list(range(output + 1, len(messages))),
            actions=[Action(kind=draw(st.sampled_from(["bash", "edit", "submit", "other"])), command=draw(maybe_text),
                            tool=c.name, tool_call_id=c.id) for c in calls],
            exclude=draw(st.lists(st.sampled_from(["demonstration", "requery"]), max_size=1, unique=True)),
            started_at=draw(moment), duration_s=draw(st.none() | st.floats(0, 1e6, allow_nan=False)),
            usage=draw(st.none() | st.builds(Usage, prompt_tokens=small_int, completion_tokens=small_int,
                                             cost=st.none() | st.floats(0, 100, allow_nan=False))),
            tokens=draw(st.none() | st.builds(TokenRecord, prompt_token_ids=st.none() | st.lists(st.integers(0, 2**31)),
                                              completion_logprobs=st.none() | st.lists(st.floats(-50, 0)))),
            extra=draw(extra)))
    annotators = [Annotator(id="critic", kind="llm", model="critic-model", parameters={"temperature": 0})]
    verdicts = [Verdict(step=s.index, annotator="critic", label=draw(st.sampled_from(["correct", "incorrect",
                                                                                        "neutral", "unknown"])),
                        score=draw(st.none() | unit), rationale=draw(maybe_text), created_at=draw(moment))
                for s in steps if draw(st.booleans())]
    return Trajectory(
        format_version=FORMAT_VERSION, id=draw(st.text(min_size=1, max_size=20)),
        task=Task(instance_id=draw(maybe_text), repo=draw(maybe_text), problem_statement=draw(maybe_text),
                  extra=draw(extra)),
        agent=Agent(scaffold=draw(maybe_text), model=draw(maybe_text), sampling=draw(extra),
                    tools=draw(st.lists(extra, max_size=2)), config=draw(json_value)),
        outcome=Outcome(exit_status=draw(maybe_text), patch=draw(maybe_text),
                        resolved=draw(st.none() | st.booleans())),
        messages=messages, steps=steps, annotators=annotators if verdicts else [], verdicts=verdicts,
        provenance=draw(st.none() | st.builds(Provenance, source_format=text, converter=text,
                                              converter_version=text, record_offset=small_int)),
        extra=draw(extra))


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(trajectories())
def test_jsonl_line_round_trip(traj):
    assert parse_record(dump_record(traj), Trajectory) == traj


@FAST
@given(st.lists(trajectories(), min_size=1, max_size=3))
def test_parquet_table_round_trip(trajs):
    table = arrow.to_table(trajs, Trajectory)
    assert table.schema == arrow.schema_of(Trajectory)
    assert [Trajectory.model_validate(d) for d in arrow.from_table(table, Trajectory)] == trajs


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(trajectories(), min_size=1, max_size=3, unique_by=lambda t: t.id))
def test_dataset_jsonl_to_parquet_to_jsonl_gives_equal_records(tmp_path_factory, trajs):
    root = tmp_path_factory.mktemp("ds")
    write_dataset(root / "a", trajs, storage="jsonl")
    copy_dataset(root / "a", root / "b", storage="parquet")
    copy_dataset(root / "b", root / "c", storage="jsonl", compression="zst")
    records = [list(Dataset.open(root / name).trajectories()) for name in "abc"]
    assert records[0] == records[1] == records[2] == trajs


@FAST
@given(st.lists(trajectories(), min_size=1, max_size=3))
def test_objects_are_the_records_as_stored(tmp_path_factory, trajs):
    root = tmp_path_factory.mktemp("o")
    for name in ("t.jsonl", "t.parquet"):
        write_records(root / name, trajs, Trajectory)
        objects = list(read_objects(root / name, Trajectory))
        assert [Trajectory.model_validate(obj) for obj in objects] == trajs
    assert list(read_objects(root / "t.jsonl", Trajectory)) == [orjson.loads(dump_record(t)) for t in trajs]


@FAST
@given(st.lists(st.builds(VerdictRecord, format_version=st.just(FORMAT_VERSION), trajectory=text,
                          step=st.integers(0, 1000), annotator=st.just("a"),
                          label=st.sampled_from(["correct", "incorrect"]), score=st.none() | unit,
                          rationale=maybe_text, created_at=moment, extra=extra), min_size=1, max_size=5))
def test_verdict_files_round_trip(tmp_path_factory, verdicts):
    root = tmp_path_factory.mktemp("v")
    for name in ("v.jsonl", "v.jsonl.gz", "v.parquet"):
        write_records(root / name, verdicts, VerdictRecord)
        assert list(read_records(root / name, VerdictRecord)) == verdicts
