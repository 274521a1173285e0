"""SWE-Gym sampled trajectories and ADP's SFT rendering of them (real corpus files)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from convert_helpers import convert

from srft_format.converters import swe_gym
from srft_format.converters.conversion import FileResult, convert_file
from srft_format.converters.reader import InputFile
from srft_format.models import ActionKind, Role

RAW = "zhu-yiqi__agent-data-protocol__datasets__swe-gym_openhands_sampled_trajectories__sample_raw.json"
SFT = ("zhu-yiqi__agent-data-protocol__datasets__swe-gym_openhands_sampled_trajectories__sample_sft__"
       "sample_sft_openhands.json")


@pytest.fixture(scope="module")
def raw(corpus: Path) -> FileResult:
    return convert(corpus / "openhands" / RAW)


def test_rows(raw: FileResult) -> None:
    assert set(raw.detections) == {("swe-gym", "sampled-trajectories")}
    assert [t.task.instance_id for t in raw.trajectories] == [
        "python__mypy-15976", "Project-MONAI__MONAI-5686", "Project-MONAI__MONAI-6849", "getmoto__moto-6387",
        "Project-MONAI__MONAI-3715"]
    assert [len(t.steps) for t in raw.trajectories] == [17, 11, 12, 18, 30]
    assert [t.agent.sampling["temperature"] for t in raw.trajectories] == [0.0, 0.8, 1.0, 0.4, 0.8]
    assert [t.outcome.exit_status for t in raw.trajectories] == ["finish"] * 4 + [None]
    assert all(t.outcome.resolved is True for t in raw.trajectories)


def test_first_row_content(raw: FileResult) -> None:
    traj = raw.trajectories[0]
    assert traj.task.extra == {"source_instance_id": "python__mypy-15976_0", "sample": 0}
    assert traj.agent.model == "gpt-4o-2024-08-06" and traj.agent.scaffold_version == "CodeActAgent v2.1"
    assert traj.agent.extra == {"run_id": "gpt-4o-2024-08-06_maxiter_50_N_v2.1-no-hint-train-t0-run_1",
                                "max_iterations": 50}
    tools = [t["function"]["name"] for t in traj.agent.tools]
    assert tools == ["execute_bash", "finish", "str_replace_editor"]
    assert traj.provenance.messages == "recorded"
    first, last = traj.steps[0].actions[0], traj.steps[-1].actions[-1]
    assert (first.kind, first.tool, first.tool_call_id) == (ActionKind.view, "str_replace_editor",
                                                            "call_wmUMCvkWsBrXZdFlTSwE3sy6")
    assert (last.kind, last.tool_call_id) == (ActionKind.submit, "call_EcwAiBKjBdR3vksPM0y7LVA0")
    assert traj.steps[-1].observations == []  # finish gets no tool reply
    assert traj.messages[traj.steps[0].observations[0]].content.startswith("OBSERVATION:\nERROR:")
    assert traj.outcome.patch.startswith("diff --git a/mypy/plugins/attrs.py")
    assert traj.outcome.evaluation.extra["failed_apply_patch"] is False
    assert traj.outcome.extra["apply_patch_output"].endswith("APPLY_PATCH_PASS")


def test_parallel_calls_and_fake_user_turns(raw: FileResult) -> None:
    traj = raw.trajectories[0]
    widest = max(traj.steps, key=lambda s: len(s.actions))
    calls = [c.id for c in traj.messages[widest.output].tool_calls]
    assert len(calls) == 4 == len(widest.observations)
    assert [traj.messages[i].tool_call_id for i in widest.observations] == calls
    continues = [i for i, m in enumerate(traj.messages)
                 if m.role is Role.user and str(m.content).startswith("Please continue working on the task")]
    assert len(continues) == 2
    for i in continues:  # each answers a text-only reply: an observation of that message step
        (owner,) = [s for s in traj.steps if i in s.observations]
        assert owner.actions[0].kind is ActionKind.message


def test_adp_sft_rendering(corpus: Path) -> None:
    result = convert(corpus / "openhands" / SFT)
    assert set(result.detections) == {("adp-sft", "openhands-sft")}
    assert [len(t.steps) for t in result.trajectories] == [23, 11, 13, 18, 31]
    traj = result.trajectories[0]
    assert traj.task.instance_id == "python__mypy-15976"
    assert traj.provenance.messages == "reconstructed"
    assert traj.messages[0].role is Role.system and traj.messages[1].role is Role.user
    first, last = traj.steps[0].actions[0], traj.steps[-1].actions[-1]
    assert (first.kind, first.tool) == (ActionKind.view, "str_replace_editor")
    assert "/workspace/python__mypy__1.6" in first.command
    assert (last.kind, last.tool) == (ActionKind.submit, "finish")
    first_result = traj.messages[traj.steps[0].observations[0]].content
    assert first_result.startswith("EXECUTION RESULT of [str_replace_editor]")
    assert not any(m.role is Role.tool for m in traj.messages)


def test_run_id_parsing() -> None:
    assert swe_gym.parse_run_id("claude-3-5-sonnet_maxiter_100_N_v2.2-no-hint-train-t08-run_2") == {
        "model": "claude-3-5-sonnet", "max_iterations": 100, "agent_version": "2.2", "temperature": 0.8}
    assert swe_gym.parse_run_id("not a run id") == {}


def test_bad_rows_are_located(tmp_path: Path) -> None:
    good = {"instance_id": "a-1", "run_id": "r", "messages": [], "tools": [], "test_result": {}}
    bad_messages = {**good, "messages": "oops"}
    bad_tools = {**good, "tools": [{"type": "function"}, "execute_bash"]}
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in (good, bad_messages, bad_tools)))
    result = convert_file(InputFile(str(path), path.name), fail_fast=False)
    assert [str(p) for p in result.errors] == [
        "rows.jsonl:2: messages: expected a list of messages, got str (swe-gym sampled-trajectories)",
        "rows.jsonl:3: tools[1]: expected an object, got str (swe-gym sampled-trajectories)"]
    assert len(result.trajectories) == 1
