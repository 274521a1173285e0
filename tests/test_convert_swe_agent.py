"""SWE-agent .traj and demonstrations: each real corpus file converts to what it really contains."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from srft_format.converters.base import SourceRecord
from srft_format.converters.conversion import choose_converter, convert_record
from srft_format.converters.chat import text_of
from srft_format.converters.swe_agent import text_of_message
from srft_format.inputs import step_input
from srft_format.models import ActionKind, ExcludeReason, InputItem, Message, Role, Trajectory
from srft_format.validate import check_trajectory

from convert_helpers import corpus_file, one

FIXTURES = Path(__file__).parent / "fixtures" / "swe_agent"


def sa(corpus: Path, fragment: str) -> Trajectory:
    traj = one(corpus_file(corpus, "swe-agent", fragment))
    assert check_trajectory(traj) == []
    return traj


def assert_calls_linked(traj: Trajectory) -> int:
    """Every tool result answers an earlier call of the same trajectory; returns how many there are."""
    calls = {c.id: i for i, m in enumerate(traj.messages) for c in m.tool_calls}
    results = [(i, m.tool_call_id) for i, m in enumerate(traj.messages) if m.role is Role.tool]
    for i, call_id in results:
        assert calls[call_id] < i
    for step in traj.steps:
        for action in step.actions:
            if action.tool_call_id:
                assert action.tool_call_id in {c.id for c in traj.messages[step.output].tool_calls}
    return len(results)


def test_v0_1_text_actions(corpus: Path) -> None:
    traj = sa(corpus, "default__t-0.20__p-0.95__c-2.00__install-1___install_from_source")
    assert traj.provenance.source_version == "0.x"
    assert len(traj.steps) == 14 and len(traj.messages) == 29
    assert traj.steps[0].actions[0].command == "ls -F\n"
    assert traj.steps[0].actions[0].kind is ActionKind.search
    assert traj.steps[-1].actions[0].kind is ActionKind.submit
    assert traj.steps[0].extra["state_before"] == {"open_file": "n/a",
                                                    "working_dir": "/marshmallow-code__marshmallow"}
    assert traj.outcome.exit_status == "submitted"
    assert traj.outcome.patch.startswith("\ndiff --git a/src/marshmallow/fields.py")
    assert traj.outcome.resolved is None
    assert all(not m.tool_calls for m in traj.messages)
    # the thought and action are the raw reply: the message holds the reply as the model wrote it
    assert traj.messages[traj.steps[0].output].content.startswith("Let's list out some of the files")


def test_v0_gpt4_run_with_inlined_demonstration(corpus: Path) -> None:
    traj = sa(corpus, "pydicom__pydicom-1458.traj")
    assert traj.provenance.source_version == "0.x"
    assert len(traj.steps) == 12
    assert traj.steps[0].actions[0].command == "create reproduce_bug.py\n"
    assert traj.steps[-1].actions[0].command == "submit\n"
    demo = traj.messages[1]
    assert demo.role is Role.user and demo.extra["is_demo"] is True
    assert traj.task.instance_id.endswith("pydicom__pydicom-1458")
    assert traj.outcome.patch.startswith("\ndiff --git a/pydicom/pixel_data_handlers/numpy_handler.py")
    assert traj.outcome.extra["model_stats"]["total_cost"] > 0


def test_v0_7_summarizer_and_null_submission(corpus: Path) -> None:
    traj = sa(corpus, "97af1e.traj")
    assert traj.provenance.source_version == "0.7"
    assert len(traj.steps) == 2
    assert traj.steps[0].actions[0].kind is ActionKind.view
    assert traj.steps[-1].actions[0].command == "submit\n"
    assert traj.steps[0].extra["execution_time"] == pytest.approx(0.494, abs=1e-3)
    assert traj.outcome.exit_status == "submitted" and traj.outcome.patch is None
    assert traj.outcome.extra["summarizer"]["n_calls"] == 2


def test_v0_7_ctf_flag_submission(corpus: Path) -> None:
    traj = sa(corpus, "networking_1.traj")
    assert traj.provenance.source_version == "0.7"
    assert len(traj.steps) == 4
    assert traj.steps[0].actions[0].command.startswith("tshark -n -r networking.pcap")
    assert traj.steps[-1].actions[0].command == "submit 'flag{d316759c281bf925d600be698a4973d5}'\n"
    assert traj.outcome.patch == "flag{d316759c281bf925d600be698a4973d5}"


def test_v1_0_function_calling_with_processed_history(corpus: Path) -> None:
    traj = sa(corpus, "function_calling_replace_from_source")
    assert traj.provenance.source_version == "1.0"
    assert len(traj.steps) == 13
    first, last = traj.steps[0].actions[0], traj.steps[-1].actions[0]
    assert (first.kind, first.command, first.tool) == (ActionKind.search, "ls -F", "bash")
    assert (last.kind, last.tool) == (ActionKind.submit, "submit")
    assert assert_calls_linked(traj) == 13
    # this replay reuses call ids: they are made unique, the source id kept
    renamed = [m for m in traj.messages if "source_tool_call_ids" in m.extra]
    assert renamed and all("#" in new for m in renamed for new in m.extra["source_tool_call_ids"])
    # 'last_n_observations' rewrote old outputs in the per-step messages: kept, as edits of the history
    edits = traj.steps[5].extra["messages_edits"]
    assert edits["3"]["content"].startswith("Old environment output")
    assert traj.agent.config["agent"]["model"]["name"] == "replay"
    assert traj.outcome.patch.startswith("\r\ndiff --git a/src/marshmallow/fields.py")


def test_v1_0_1_swe_smith_run(corpus: Path) -> None:
    traj = one(corpus_file(corpus, "swe-smith", ".traj"))
    assert check_trajectory(traj) == []
    assert traj.provenance.source_version == "1.0"
    assert traj.agent.scaffold_version == "1.0.1" and traj.agent.model == "claude-3-7-sonnet-20250219"
    assert traj.task.instance_id == "pandas-dev__pandas.95280573.pr_53856"
    assert len(traj.steps) == 17 and len(traj.messages) == 36
    assert traj.steps[0].actions[0].command.startswith('find /testbed -type f -name "*.py"')
    assert traj.steps[-1].actions[0].kind is ActionKind.submit
    assert assert_calls_linked(traj) == 17
    # list-valued content and cache_control (item level on tool messages) survive
    assert isinstance(traj.messages[1].content, list)
    assert traj.messages[-1].extra["cache_control"] == {"type": "ephemeral"}
    # the per-step messages equal the history here, so none is stored twice
    assert not any("messages" in s.extra or "messages_edits" in s.extra for s in traj.steps)
    assert traj.outcome.patch.startswith("diff --git a/pandas/io/sql.py")


def test_hand_migrated_1x_fixture_rebuilds_the_missing_turn(corpus: Path) -> None:
    traj = sa(corpus, "6e44b9__sweagenttestrepo-1c2844.traj")
    assert traj.provenance.source_version == "1.x"
    assert len(traj.steps) == 5
    assert traj.steps[0].actions[0].command == "find_file missing_colon.py"
    # the history stops before the final submit: that turn is rebuilt from the step and said so
    assert traj.provenance.messages == "reconstructed"
    assert traj.steps[-1].actions[0].kind is ActionKind.submit
    assert traj.messages[traj.steps[-1].observations[0]].content.startswith("\r\ndiff --git")
    assert "\r\n" in traj.outcome.patch
    assert assert_calls_linked(traj) == 4


@pytest.mark.parametrize("fragment, n_steps", [("function_calling_simple.traj", 5),
                                               ("str_replace_anthropic_demo.yaml", 4)])
def test_demonstrations_are_never_trained(corpus: Path, fragment: str, n_steps: int) -> None:
    traj = sa(corpus, fragment)
    assert traj.provenance.source_version == "demonstration"
    assert len(traj.steps) == n_steps
    assert all(s.exclude == [ExcludeReason.demonstration] for s in traj.steps)
    assert traj.steps[-1].actions[0].kind is ActionKind.submit


def _fixture_record(data: dict | None = None) -> SourceRecord:
    path = FIXTURES / "example__lines-1.traj"
    raw = path.read_bytes() if data is None else orjson.dumps(data)
    return SourceRecord(raw=raw, data=orjson.loads(raw), file=path.name, offset=0)


def _convert(record: SourceRecord) -> list[Trajectory]:
    converter, detection = choose_converter(record)
    return convert_record(record, converter, detection)


def test_v1_1_query_requery_and_thinking() -> None:
    (traj,) = _convert(_fixture_record())
    assert traj.provenance.source_version == "1.1+" and traj.provenance.messages == "recorded"
    assert [s.exclude for s in traj.steps] == [[], [ExcludeReason.requery], [], []]
    requery = traj.steps[1]
    assert traj.messages[requery.output].content == "I think I am done, submitting now."
    assert traj.messages[requery.observations[0]].content.startswith("Your last output did not use any tool")
    # the query right after the re-query holds its output and error prompt; the later one leaves them out
    assert not any("query" in s.extra for s in traj.steps)
    assert [s.input for s in traj.steps] == [None, None, None, [InputItem(start=0, stop=4),
                                                                InputItem(start=6, stop=8)]]
    assert traj.messages[2].reasoning == "The bug is probably in lines.py; list files to be sure."
    assert traj.messages[2].extra["thinking_blocks"] == [{"type": "thinking", "signature": "sig-abc"}]
    assert traj.task.instance_id == "example__lines-1" and traj.task.repo == "example/lines"
    assert traj.agent.sampling == {"temperature": 0.0, "top_p": 1.0}
    assert traj.steps[2].actions[0].kind is ActionKind.edit
    assert assert_calls_linked(traj) == 3


def test_v1_1_query_rewritten_by_a_history_processor_is_kept() -> None:
    data = orjson.loads((FIXTURES / "example__lines-1.traj").read_bytes())
    data["trajectory"][3]["query"][3] = {"role": "tool", "tool_call_ids": ["toolu_01"],
                                         "content": "Old environment output: (2 lines omitted)"}
    (traj,) = _convert(_fixture_record(data))
    step = traj.steps[3]
    elided = Message(role="tool", content="Old environment output: (2 lines omitted)", tool_call_id="toolu_01")
    # the elided observation inline; the rest runs of the chat (leaving out the re-query, as SWE-agent does)
    assert step.input == [InputItem(start=0, stop=3), InputItem(message=elided), InputItem(start=6, stop=8)]
    assert step_input(traj.messages, step) == [*traj.messages[:3], elided, *traj.messages[6:8]]


def test_v1_1_later_queries_that_leave_requeries_out_are_recorded_inputs(corpus: Path) -> None:
    traj = sa(corpus, "xarray-4695")
    raw = orjson.loads(corpus_file(corpus, "swe-agent", "xarray-4695").read_bytes())["trajectory"]
    requeries = [s.index for s in traj.steps if s.exclude == [ExcludeReason.requery]]
    assert requeries == [3, 10] and len(traj.steps) == len(raw)
    differing = [s.index for s in traj.steps if s.input is not None]
    assert differing == list(range(5, len(traj.steps)))  # after the first re-query, but for the next step
    for step, src in zip(traj.steps, raw):
        sent = step_input(traj.messages, step)
        assert len(sent) == len(src["query"]), step.index
        assert [text_of_message(m) for m in sent] == [text_of(q["content"]) for q in src["query"]], step.index
        assert all(item.message is None for item in step.input or ())  # every message is one of the chat's
    # step 11 saw 22 messages where the chat before it has 24: the first re-query' output and error prompt left out
    assert (len(step_input(traj.messages, traj.steps[11])), traj.steps[11].output) == (22, 24)


def test_retry_agent_gives_one_trajectory_per_attempt() -> None:
    run = orjson.loads((FIXTURES / "example__lines-1.traj").read_bytes())
    failed = copy.deepcopy(run)
    failed["info"]["exit_status"] = "exit_cost"
    data = {**run, "attempts": [failed, run], "info": {**run["info"], "best_attempt_idx": 1}}
    trajs = _convert(_fixture_record(data))
    assert [t.extra["attempt"] for t in trajs] == [0, 1]
    assert [t.extra["best_attempt"] for t in trajs] == [False, True]
    assert trajs[0].outcome.exit_status == "exit_cost"
    assert len({t.id for t in trajs}) == 2


def test_demonstration_turns_in_the_history_are_flagged_not_paired() -> None:
    path = Path(__file__).resolve().parent.parent / "examples" / "sources" / "swe-agent" / "demo__greeter-1.traj"
    run = orjson.loads(path.read_bytes())
    demo = [{"role": "assistant", "content": "DISCUSSION\nA demo.\n```\nls\n```", "thought": "A demo.",
             "action": "ls\n", "agent": "primary", "is_demo": True},
            {"role": "user", "content": "README.md\n(Open file: n/a)\nbash-$", "agent": "primary", "is_demo": True}]
    run["history"][1:1] = demo
    (traj,) = _convert(_fixture_record(run))
    assert [s.exclude for s in traj.steps] == [[ExcludeReason.demonstration], [], [], [], []]
    assert traj.steps[0].observations == [2] and traj.steps[0].actions[0].command == "ls\n"
    # the four real turns are still matched to their trajectory steps (their state comes along)
    assert all("state_before" in s.extra for s in traj.steps[1:])
    assert traj.provenance.messages == "recorded"


def test_a_requery_without_a_recorded_prompt_is_rebuilt_and_said_so() -> None:
    run = orjson.loads((FIXTURES / "example__lines-1.traj").read_bytes())
    for step in run["trajectory"]:
        del step["query"]
    (traj,) = _convert(_fixture_record(run))
    assert traj.provenance.source_version == "1.x"
    requery = traj.steps[1]
    assert requery.exclude == [ExcludeReason.requery] and requery.observations == []
    assert traj.messages[requery.output].content == "I think I am done, submitting now."
    assert traj.provenance.messages == "reconstructed"
    assert [s.exclude for s in traj.steps].count([]) == 3


XARRAY = "pydata__xarray-4695.traj"


def convert_data(data: dict, name: str = "run.traj") -> Trajectory:
    raw = orjson.dumps(data)
    record = SourceRecord(raw=raw, data=orjson.loads(raw), file=name, offset=0)
    (traj,) = convert_record(record, *choose_converter(record))
    return traj


def test_text_mode_actions_are_classified_as_function_calls_are(corpus: Path) -> None:
    traj = sa(corpus, XARRAY)  # SWE-agent 1.1 text actions: "str_replace_editor view /testbed", "bash grep ..."
    kinds = [(a.command.split()[:2], a.kind) for step in traj.steps for a in step.actions]
    assert (["str_replace_editor", "view"], ActionKind.view) in kinds
    assert (["str_replace_editor", "str_replace"], ActionKind.edit) in kinds
    assert (["bash", "grep"], ActionKind.search) in kinds
    assert sum(kind is ActionKind.bash for _, kind in kinds) < len(kinds) // 2


def test_run_cost_and_api_calls_are_kept(corpus: Path) -> None:
    traj = sa(corpus, XARRAY)
    assert traj.usage.cost == pytest.approx(0.33886) and traj.usage.prompt_tokens == 187836
    assert traj.provenance.api_calls == 17 == len(traj.steps)
    mini = one(corpus_file(corpus, "mini-swe-agent", "astropy-12907"))
    assert mini.usage.cost == pytest.approx(0.04282166) and mini.provenance.api_calls == 64


def test_a_failed_model_call_is_not_a_step(corpus: Path) -> None:
    """The xarray run as SWE-agent 1.1 writes it when the first model call fails (agents.py
    handle_error_with_autosubmission): an 'assistant' turn the scaffold wrote, empty action, no API call."""
    data = orjson.loads(corpus_file(corpus, "swe-agent", XARRAY).read_bytes())
    error = "Exit due to unknown error: litellm.APIError: APIError: OpenAIException - Connection error."
    first = data["trajectory"][0]
    data["history"] = [*data["history"][:2], {
        "role": "assistant", "content": error, "thought": error, "action": "", "agent": "main",
        "tool_calls": None, "message_type": "action", "thinking_blocks": []}]
    data["trajectory"] = [{**first, "action": "", "observation": "", "response": error, "thought": error}]
    data["info"].update(exit_status="exit_error", model_stats={**data["info"]["model_stats"], "api_calls": 0})
    traj = convert_data(data)
    assert check_trajectory(traj) == []
    assert traj.steps == [] and [m.role for m in traj.messages] == [Role.system, Role.user]
    assert traj.outcome.extra["scaffold_exit"]["history"][0]["content"] == error
    assert traj.provenance.api_calls == 0 and traj.outcome.exit_status == "exit_error"
