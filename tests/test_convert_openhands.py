"""OpenHands / OpenDevin conversion, file by file over the real corpus, plus hand-made event lists."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from convert_helpers import convert

from srft_format.converters import openhands
from srft_format.converters.base import SourceRecord
from srft_format.converters.conversion import FileResult, convert_file
from srft_format.converters.pipeline import convert_paths
from srft_format.converters.reader import InputFile
from srft_format.dataset import Dataset
from srft_format.models import ActionKind, Role, Trajectory
from srft_format.validate import check_trajectory

FIXTURES = Path(__file__).parent / "fixtures"
MULTI_SWE = "All-Hands-AI__OpenHands__evaluation__benchmarks__multi_swe_bench__examples__output.jsonl"
PRONTOQA = ("All-Hands-AI__OpenHands__evaluation__evaluation_outputs__outputs__logic_reasoning__"
            "CodeActAgent__ProntoQA__gpt-4o-2024-05-13_maxiter_10_N_v1.5__output.jsonl")
TRAJS = "All-Hands-AI__OpenHands__tests__runtime__trajs__"
RESOLVER = "All-Hands-AI__OpenHands__tests__unit__resolver__mock_output__output.jsonl"
PREDICTIONS = ("All-Hands-AI__OpenHands__evaluation__benchmarks__swe_bench__examples__"
               "example_model_output.json")


def versions(result: FileResult) -> set[str]:
    return {version for _, version in result.detections}


def assert_calls_linked(traj: Trajectory) -> None:
    """Every tool message answers a call of the step that owns it; every call id is unique."""
    calls = [c.id for m in traj.messages for c in m.tool_calls]
    assert len(calls) == len(set(calls))
    for step in traj.steps:
        made = {c.id for c in traj.messages[step.output].tool_calls}
        assert {a.tool_call_id for a in step.actions if a.tool_call_id} <= made
        for i in step.observations:
            if traj.messages[i].role is Role.tool:
                assert traj.messages[i].tool_call_id in made


def kinds(traj: Trajectory) -> list[str]:
    return [a.kind.value for s in traj.steps for a in s.actions]


def test_flat_event_output_jsonl(corpus: Path) -> None:
    result = convert(corpus / "openhands" / MULTI_SWE)
    assert versions(result) == {"eval-events"}
    first, second, third = result.trajectories
    assert [len(t.steps) for t in result.trajectories] == [23, 33, 49]
    assert [t.task.instance_id for t in result.trajectories] == [
        "ponylang__ponyc-4595", "ponylang__ponyc-4593", "ponylang__ponyc-4588"]
    assert first.task.repo == "ponylang/ponyc"
    assert first.agent.model == "openai/openrouter-llama-4-maverick"
    assert first.agent.scaffold_version == "0.35.0"
    assert [t["function"]["name"] for t in first.agent.tools][:1] == ["execute_bash"]
    assert first.messages[0].role is Role.system
    assert first.messages[0].content.startswith("You are OpenHands agent")
    step0 = first.steps[0]
    assert step0.actions[0].kind is ActionKind.search  # `ls`: classified by the shell command's first word
    assert step0.actions[0].command == "ls -l /workspace/ponylang__ponyc__0.1"
    assert step0.actions[0].tool_call_id == "toolu_01"
    assert first.messages[step0.output].content.startswith("The task involves fixing an issue")
    shown = first.messages[step0.observations[0]]  # rendered as ConversationMemory showed it to the model
    assert shown.content.endswith("drwxr-xr-x  7 root root   4096 Apr 30 08:32 test\n"
                                   "[The command completed with exit code 0.]\n"
                                   "[Current working directory: /workspace/ponylang__ponyc__0.1]\n"
                                   "[Command finished with exit code 0]")
    assert shown.extra["event"]["content"].endswith("Apr 30 08:32 test")  # the event's own text is kept
    assert step0.usage.prompt_tokens == 5920 and step0.usage.completion_tokens == 128
    assert step0.started_at is not None and step0.extra["model_response"]["id"].startswith("gen-1746001974")
    last = first.steps[-1].actions[-1]
    assert last.kind is ActionKind.submit and last.tool == "finish" and "single-element tuple" in last.command
    assert first.outcome.exit_status == "finish" and second.outcome.exit_status == "finish"
    assert third.outcome.exit_status.startswith("RuntimeError: Agent reached maximum iteration")
    assert third.steps[-1].actions[-1].command == "apt-get install -y libgtest-dev"
    assert first.outcome.patch.startswith("diff --git a/src/libponyc/ast/parser.c")
    assert first.outcome.resolved is None  # no evaluation in the row
    assert first.extra["dropped_event_counts"] == {"recall": 2}
    assert first.provenance.messages == "reconstructed"
    for traj in result.trajectories:
        assert_calls_linked(traj)


def test_error_event_without_tool_call_is_a_user_turn(corpus: Path) -> None:
    traj = convert(corpus / "openhands" / MULTI_SWE).trajectories[1]
    errors = [i for i, m in enumerate(traj.messages)
              if m.extra.get("event", {}).get("observation") == "error"]
    assert len(errors) == 1
    message = traj.messages[errors[0]]
    assert message.role is Role.user and message.content.startswith("Parameter 'command' is expected")
    assert message.content.endswith("\n[Error occurred in processing last action]")
    owner = [s for s in traj.steps if errors[0] in s.observations]
    assert len(owner) == 1 and owner[0].output < errors[0]


def test_legacy_pair_history(corpus: Path) -> None:
    result = convert(corpus / "openhands" / PRONTOQA)
    assert versions(result) == {"eval-pairs"}
    assert len(result.trajectories) == 6
    traj = result.trajectories[0]
    assert traj.task.instance_id == "ProntoQA_1" and traj.task.dataset == "ProntoQA"
    assert traj.agent.model == "gpt-4o-2024-05-13"
    assert kinds(traj) == ["other", "other", "message", "submit"]
    assert traj.steps[0].actions[0].command == "%pip install scitools-pyke"
    rendered = traj.messages[traj.steps[0].output].content
    assert "<execute_ipython>\n%pip install scitools-pyke\n</execute_ipython>" in rendered
    assert all(m.role is not Role.tool for m in traj.messages)  # text-tag CodeAct: observations are user
    assert traj.extra["dropped_event_counts"] == {"null": 4}
    assert traj.outcome.exit_status == "finish"
    assert [t.outcome.resolved for t in result.trajectories] == [False, True, True, True, True, True]
    assert traj.extra["final_message"] == "'A'"


@pytest.mark.parametrize("name, n_steps, actions, exit_status", [
    ("basic.json", 2, ["edit", "submit"], "finish"),
    ("basic_interactions.json", 3, ["message", "message", "submit"], "finish"),
    ("wrong_initial_state.json", 4, ["view", "bash", "view", "submit"], "finish"),
    ("basic_gui_mode.json", 5, ["bash", "edit", "edit", "bash", "message"], "awaiting_user_input"),
])
def test_saved_trajectories(corpus: Path, name: str, n_steps: int, actions: list[str],
                            exit_status: str) -> None:
    result = convert(corpus / "openhands" / f"{TRAJS}{name}")
    (traj,) = result.trajectories
    assert len(traj.steps) == n_steps
    assert kinds(traj) == actions
    assert traj.outcome.exit_status == exit_status
    assert traj.messages[0].role is Role.user
    assert_calls_linked(traj)


def test_oh_aci_edit_shows_the_formatted_output(corpus: Path) -> None:
    (traj,) = convert(corpus / "openhands" / f"{TRAJS}basic.json").trajectories
    edit = traj.messages[traj.steps[0].observations[0]]
    assert edit.content == "File created successfully at: /workspace/game_2048.py"
    assert edit.extra["event"]["content"].startswith("--- /workspace/game_2048.py")  # the diff, kept


def test_saved_trajectory_content(corpus: Path) -> None:
    (traj,) = convert(corpus / "openhands" / f"{TRAJS}wrong_initial_state.json").trajectories
    assert traj.messages[0].content == "Please rename game_2048.py to 2048.py"
    assert traj.steps[1].actions[0].command == "mv /workspace/game_2048.py /workspace/2048.py"
    assert traj.steps[0].actions[0].tool_call_id == "toolu_01USom24cuiyvAembLhEryrn"
    assert traj.steps[-1].observations == []  # finish has no observation


def test_gui_export_drops_and_counts_environment_events(corpus: Path) -> None:
    result = convert(corpus / "openhands" / f"{TRAJS}basic_gui_mode.json")
    assert versions(result) == {"gui-export"}
    (traj,) = result.trajectories
    counts = {"agent_state_changed": 4, "change_agent_state": 1, "null": 3}
    assert traj.extra["dropped_event_counts"] == counts
    assert len(traj.extra["dropped_events"]) == 8
    assert not any(m.extra.get("event", {}).get("source") == "environment" for m in traj.messages)
    assert len(traj.messages) == 10  # 18 events - 8 dropped
    assert traj.messages[-1].content.startswith("I've created a complete Vue.js todo application")


def test_resolver_output(corpus: Path) -> None:
    result = convert(corpus / "openhands" / RESOLVER)
    assert versions(result) == {"resolver"}
    first, second = result.trajectories
    assert first.task.instance_id == "neubig/pr-viewer#5" and first.task.repo == "neubig/pr-viewer"
    assert [len(t.steps) for t in result.trajectories] == [4, 22]
    assert first.steps[0].actions[0].command == "touch LICENSE"
    assert first.steps[-1].actions[-1].kind is ActionKind.submit
    assert first.outcome.patch.startswith("diff --git a/LICENSE b/LICENSE")
    assert first.outcome.extra["success"] is True and first.outcome.resolved is None
    assert second.steps[1].actions[0].command == "open_file('/workspace/src/App.css')"


def test_predictions_file_is_recognised_not_converted(corpus: Path) -> None:
    result = convert_file(InputFile(str(corpus / "openhands" / PREDICTIONS), PREDICTIONS))
    assert result.trajectories == [] and "predictions file" in result.refused and "--eval" in result.refused


def test_parallel_tool_calls_share_one_step() -> None:
    result = convert(FIXTURES / "openhands" / "parallel_calls.json")
    assert versions(result) == {"trajectory"}
    (traj,) = result.trajectories
    assert [m.role.value for m in traj.messages] == [
        "system", "user", "assistant", "tool", "tool", "user", "assistant", "tool", "assistant", "user",
        "assistant", "tool", "assistant"]
    parallel = traj.steps[0]
    assert [a.tool_call_id for a in parallel.actions] == ["toolu_A", "toolu_B"]
    assert [a.kind.value for a in parallel.actions] == ["search", "view"]
    assert traj.messages[parallel.output].content.startswith("Let me look at the repository and the failing")
    assert [traj.messages[i].tool_call_id for i in parallel.observations[:2]] == ["toolu_A", "toolu_B"]
    assert traj.messages[parallel.observations[2]].content.startswith("Parameter 'command'")  # the error
    assert parallel.usage.cached_tokens == 4000 and traj.steps[1].usage.cached_tokens == 4100
    assert len(parallel.extra["events"]) == 2
    edit = traj.steps[3]  # its observation carries no tool_call_metadata: linked by cause
    assert traj.messages[edit.observations[0]].tool_call_id == "toolu_D"
    assert kinds(traj) == ["search", "view", "think", "message", "edit", "submit"]
    assert traj.agent.scaffold_version == "0.40.0" and len(traj.agent.tools) == 4
    assert traj.extra["dropped_event_counts"] == {"recall": 2}
    assert_calls_linked(traj)


def test_recorded_completions_are_preferred() -> None:
    """A row with ``raw_completions`` (combine_final_completions.py) keeps the chat the model saw."""
    events = orjson.loads((FIXTURES / "openhands" / "parallel_calls.json").read_bytes())
    chat = [{"role": "system", "content": [{"type": "text", "text": "You are OpenHands agent.",
                                            "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "Fix size()."},
            {"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "toolu_A", "type": "function",
                 "function": {"name": "execute_bash", "arguments": "{\"command\": \"ls\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_A", "name": "execute_bash", "content": "README.md"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "toolu_E", "type": "function", "function": {"name": "finish", "arguments": "{}"}}]}]
    row = {"instance_id": "acme__widgets-17", "instruction": "Fix size().", "history": events,
           "test_result": {"git_patch": "diff --git a/x b/x\n"}, "metadata": {"llm_config": {"model": "m"}},
           "raw_completions": {"messages": chat,
                               "tools": [{"type": "function", "function": {"name": "finish"}}]},
           "report": {"resolved": True, "empty_generation": False}}
    record = SourceRecord(raw=orjson.dumps(row), data=row, file="output.jsonl", offset=0, line=1)
    detection = openhands.CONVERTER.detect(record)
    (traj,) = openhands.CONVERTER.convert(record, detection)
    assert check_trajectory(traj) == []
    assert traj.provenance.messages == "recorded"
    assert len(traj.messages) == 5 and len(traj.steps) == 2
    assert traj.messages[0].extra["content_parts"] == {"0": {"cache_control": {"type": "ephemeral"}}}
    assert kinds(traj) == ["search", "submit"]
    assert traj.outcome.resolved is True and traj.outcome.evaluation.source == "report"
    assert traj.extra["history"] == events


def test_llm_completions_list_of_2024() -> None:
    """Rows of 2024-09..10 log every call in ``llm_completions``: the chat is the last request + response."""
    system = {"role": "system", "content": "You are OpenHands agent."}
    user = {"role": "user", "content": "Fix size()."}
    call = {"role": "assistant", "content": "Looking.", "tool_calls": [
        {"id": "toolu_01", "type": "function",
         "function": {"name": "execute_bash", "arguments": "{\"command\": \"cat core.py\"}"}}]}
    result = {"role": "tool", "tool_call_id": "toolu_01", "name": "execute_bash",
              "content": "def size(): ..."}
    finish = {"role": "assistant", "content": "Done.", "tool_calls": [
        {"id": "toolu_02", "type": "function", "function": {"name": "finish", "arguments": "{}"}}]}
    logs = [{"messages": [system, user], "response": {"id": "r1", "choices": [{"message": call}]},
             "timestamp": 1727000000.0, "cost": 0.01},
            {"messages": [system, user, call, result], "timestamp": 1727000009.5, "cost": 0.02,
             "response": {"id": "r2", "choices": [{"message": finish, "finish_reason": "tool_calls"}]},
             "kwargs": {"tools": [{"type": "function", "function": {"name": "finish"}}]}}]
    version, traj = convert_one({"instance_id": "acme__widgets-17", "instruction": "Fix size().",
                                 "history": [], "metadata": {"agent_class": "CodeActAgent"},
                                 "llm_completions": logs})
    assert version == "eval-events" and traj.provenance.messages == "recorded"
    assert [m.role.value for m in traj.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert kinds(traj) == ["view", "submit"] and traj.agent.tools[0]["function"]["name"] == "finish"
    kept = traj.extra["llm_completions"]
    assert kept[0] == logs[0] and "messages" not in kept[1]
    assert kept[1]["response"] == {"id": "r2", "choices": [{"finish_reason": "tool_calls"}]}
    assert kept[1]["cost"] == 0.02 and "instruction" not in traj.task.extra


def test_bad_events_are_located(tmp_path: Path) -> None:
    message = {"action": "message", "source": "user", "args": {"content": "hi"}}
    rows = [{"instance_id": "x", "history": [message, 42]},
            {"instance_id": "x", "history": [[message, {"observation": "null", "extras": []}]]},
            {"instance_id": "x", "history": [{**message, "args": {"content": {"text": "hi"}}}]},
            {"instance_id": "x", "history": [message], "metadata": {"llm_config": "gpt-4o"}}]
    path = tmp_path / "output.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = convert_file(InputFile(str(path), path.name), fail_fast=False)
    assert [str(p).removesuffix(" (openhands eval-events)").removesuffix(" (openhands eval-pairs)")
            for p in result.errors] == [
        "output.jsonl:1: history[1]: expected an OpenHands event (an object with 'action' or 'observation') "
        "or an [action, observation] pair",
        "output.jsonl:2: history[0][1].extras: expected an object, got list",
        "output.jsonl:3: history[0].args.content: expected a string or null, got dict",
        "output.jsonl:4: metadata.llm_config: expected an object, got str"]


def test_an_openhands_run_directory_converts_and_explains_its_side_files(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    output = (corpus / "openhands"
              / "All-Hands-AI__OpenHands__evaluation__benchmarks__multi_swe_bench__examples__output.jsonl")
    (run / "output.jsonl").write_bytes(output.read_bytes())
    (run / "metadata.json").write_text(json.dumps({"agent_class": "CodeActAgent", "max_iterations": 30,
                                                   "llm_config": {"model": "gpt-4o"}}))
    (run / "report.json").write_text(json.dumps({"a__b-1": {"resolved": True, "tests_status": {}}}))
    (run / "output.swebench_eval.jsonl").write_text(json.dumps({"instance_id": "a__b-1", "test_result": {},
                                                                "report": {"resolved": True}}) + "\n")
    summary = convert_paths([str(run)], tmp_path / "ds")
    refused = dict((Path(name).name, reason) for name, reason in summary.refused)
    assert sorted(refused) == ["metadata.json", "output.swebench_eval.jsonl", "report.json"]
    assert "run configuration" in refused["metadata.json"]
    assert "--eval" in refused["report.json"] and "--eval" in refused["output.swebench_eval.jsonl"]
    assert summary.trajectories == Dataset.open(tmp_path / "ds").manifest.counts.trajectories > 0


def test_v1_sdk_events_are_not_claimed() -> None:
    row = {"instance_id": "x", "attempt": 1, "history": [{"kind": "MessageEvent", "source": "user"}]}
    assert openhands.CONVERTER.detect(SourceRecord(raw=b"{}", data=row, file="f", offset=0)) is None


def test_convert_paths_end_to_end_with_eval(corpus: Path, tmp_path: Path) -> None:
    summary = convert_paths([str(corpus / "openhands")], tmp_path / "ds", storage="jsonl",
                            eval_paths=[str(FIXTURES / "eval" / "output.swebench_eval.jsonl")])
    assert summary.errors == []
    assert [name for name, _ in summary.refused] == [PREDICTIONS]
    dataset = Dataset.open(tmp_path / "ds")
    converted = list(dataset.trajectories())
    trajectories = {t.task.instance_id: t for t in converted if t.provenance.source_format == "openhands"}
    assert trajectories["ponylang__ponyc-4588"].outcome.resolved is True
    assert trajectories["ponylang__ponyc-4595"].outcome.resolved is False
    assert trajectories["neubig/pr-viewer#5"].outcome.resolved is None
    source = trajectories["ponylang__ponyc-4588"].outcome.evaluation.source
    assert source.endswith("output.swebench_eval.jsonl:3")
    formats = {t.provenance.source_format for t in converted}
    assert formats == {"openhands", "swe-gym", "adp-sft", "openhands-completions"}
    assert summary.trajectories == 26


def record_of(data: object, name: str = "output.jsonl") -> SourceRecord:
    return SourceRecord(raw=orjson.dumps(data), data=data, file=name, offset=0, line=1)


def convert_one(data: object) -> tuple[str, Trajectory]:
    record = record_of(data)
    detection = openhands.CONVERTER.detect(record)
    (traj,) = openhands.CONVERTER.convert(record, detection)
    assert check_trajectory(traj) == []
    return detection.version, traj


def test_opendevin_legacy_row() -> None:
    """OpenDevin SWE-bench output (2024-05): swe_instance, top-level git_patch, id-less pair events."""
    row = {"instance_id": "sphinx-doc__sphinx-8721",
           "swe_instance": {"repo": "sphinx-doc/sphinx", "instance_id": "sphinx-doc__sphinx-8721",
                            "base_commit": "82ef497a8c88f0f6e50d84520e7276bfbf65025d",
                            "problem_statement": "viewcode creates pages for epub", "version": "3.5"},
           "instruction": "Please fix the following issue.\n<execute_bash> exit </execute_bash>.\n",
           "git_patch": "diff --git a/sphinx/ext/viewcode.py b/sphinx/ext/viewcode.py\r\n",
           "metadata": {"agent_class": "CodeActAgent", "model_name": "gpt-4-1106-preview",
                        "max_iterations": 50},
           "history": [
               [{"action": "run", "args": {"command": "grep -rn epub sphinx/ext/viewcode.py",
                                           "background": False,
                                           "thought": "Let me find where epub is handled."},
                 "message": "Running command: grep -rn epub sphinx/ext/viewcode.py"},
                {"observation": "run", "content": "57:    if app.builder.name.startswith('epub'):",
                 "extras": {"command_id": -1, "command": "grep -rn epub sphinx/ext/viewcode.py",
                            "exit_code": 0},
                 "message": "Command `grep -rn epub sphinx/ext/viewcode.py` executed with exit code 0."}],
               [{"action": "finish", "args": {"outputs": {}, "thought": ""},
                 "message": "All done! What's next on the agenda?"},
                {"observation": "null", "content": "", "extras": {}, "message": "No observation"}]],
           "test_result": {"result": {"test_errored": 0, "test_timeout": 0, "resolved": 1},
                           "test_output": "...", "result_raw": "- resolved: 1\r\n"}}
    version, traj = convert_one(row)
    assert version == "opendevin-pairs"
    assert traj.task.repo == "sphinx-doc/sphinx" and traj.task.base_commit.startswith("82ef497a")
    assert traj.agent.model == "gpt-4-1106-preview"
    assert traj.outcome.patch.startswith("diff --git a/sphinx/ext/viewcode.py")
    assert traj.outcome.resolved is True and traj.outcome.exit_status == "finish"
    assert kinds(traj) == ["search", "submit"]
    assert traj.messages[0].content == row["instruction"]  # no user message event: the task opens the chat
    assert traj.messages[0].extra == {"from": "instruction"} and "instruction" not in traj.task.extra
    assert traj.messages[1].content == ("Let me find where epub is handled.\n<execute_bash>\n"
                                        "grep -rn epub sphinx/ext/viewcode.py\n</execute_bash>")
    assert traj.messages[2].role is Role.user and traj.steps[0].observations == [2]
    assert traj.extra["dropped_event_counts"] == {"null": 1}


def test_feedback_upload_and_empty_history(corpus: Path) -> None:
    events = json.loads((corpus / "openhands" / f"{TRAJS}basic_interactions.json").read_text())
    version, traj = convert_one({"version": "1.0", "email": "a@b.c", "polarity": "positive",
                                 "feedback": "worked", "permissions": "public", "trajectory": events})
    assert version == "feedback" and len(traj.steps) == 3
    assert traj.extra["polarity"] == "positive"
    version, traj = convert_one({"instance_id": "x__y-1", "history": [], "metadata": None,
                                 "error": "RuntimeError: runtime failed to start", "test_result": None})
    assert version == "eval-events" and traj.steps == []
    assert traj.outcome.exit_status == "RuntimeError: runtime failed to start"


def test_feedback_rows_without_polarity_and_with_null_event_columns(corpus: Path) -> None:
    """A row of the HF openhands-feedback copy: every event has every column (``"action": null`` on observations),
    ``extras`` as JSON text, no ``polarity``; built from the real saved trajectory basic.json."""
    events = orjson.loads((corpus / "openhands" / "All-Hands-AI__OpenHands__tests__runtime__trajs__basic.json")
                          .read_bytes())
    columns = {key for event in events for key in event}
    rows = [{**dict.fromkeys(columns), **event} for event in events]
    for row in rows:
        if isinstance(row["extras"], dict):
            row["extras"] = orjson.dumps(row["extras"]).decode()
    data = {"version": "1.0", "feedback": "the agent fixed it", "permissions": "public", "trajectory": rows}
    detection = openhands.CONVERTER.detect(record_of(data))
    assert detection.version == "feedback"
    (traj,) = openhands.CONVERTER.convert(record_of(data), detection)
    (plain,) = openhands.CONVERTER.convert(record_of(events), openhands.CONVERTER.detect(record_of(events)))
    assert traj.messages == plain.messages and len(traj.steps) == len(plain.steps) > 0
    assert traj.task.problem_statement.startswith("Please create a simple 2048 game")
    assert traj.agent.model == "claude-3-5-sonnet-20241022"
    assert traj.extra["feedback"] == "the agent fixed it"
