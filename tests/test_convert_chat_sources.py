"""mini-swe-agent, SWE-smith SFT records and nebius SWE-agent rows: real content comes through."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from srft_format.converters.base import SourceRecord
from srft_format.converters.conversion import choose_converter, convert_record
from srft_format.models import ActionKind, Role
from srft_format.validate import check_trajectory

from convert_helpers import corpus_file, one, trajectories

FIXTURES = Path(__file__).parent / "fixtures"


def test_mini_swe_agent_v2_tool_calls(corpus: Path) -> None:
    traj = one(corpus_file(corpus, "mini-swe-agent", ".traj.json"))
    assert check_trajectory(traj) == []
    assert (traj.provenance.source_format, traj.provenance.source_version) == ("mini-swe-agent", "2.x")
    assert traj.task.instance_id == "astropy__astropy-12907"
    assert traj.agent.scaffold_version == "2.3.0"
    assert len(traj.steps) == 64
    first, last = traj.steps[0].actions[0], traj.steps[-1].actions[0]
    assert first.command == 'cd /testbed && find . -path "*/separable*" -type f | head -20'
    assert first.tool_call_id == "call_00_KVNoGhlWmTJUowwDsUa74968"
    assert last.kind is ActionKind.submit and "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT" in last.command
    tool_results = [m for m in traj.messages if m.role is Role.tool]
    assert len(tool_results) == 63 and tool_results[0].extra["returncode"] == 0
    assert traj.steps[-1].observations == []  # the submission ends the run (an exit message, no tool result)
    assert traj.outcome.exit_status == "Submitted"
    # info.submission is the runner's (repaired) patch; the agent's own exit message is kept beside it
    assert traj.outcome.patch.startswith("--- a/astropy/modeling/separable.py")
    assert traj.extra["exit_message"]["content"].startswith("diff --git a/astropy/modeling/separable.py")
    assert traj.outcome.extra["patch_repair"]["rounds_used"] == 2
    assert traj.steps[0].usage is not None and traj.steps[0].usage.prompt_tokens > 0
    total = sum(s.usage.cost for s in traj.steps if s.usage and s.usage.cost)
    assert total == pytest.approx(traj.outcome.extra["model_stats"]["instance_cost"], rel=1e-6)


def test_mini_swe_agent_v1_text_actions() -> None:
    submit = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff"
    data = {"info": {"exit_status": "Submitted", "submission": "diff --git a/x b/x\n", "mini_version": "1.9",
                     "model_stats": {"instance_cost": 0.01, "api_calls": 2}},
            "messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": "<pr_description>Fix x</pr_description>"},
                         {"role": "assistant", "content": "THOUGHT: look\n\n```bash\nls -la\n```"},
                         {"role": "user", "content": "<returncode>0</returncode>\n<output>\nx\n</output>"},
                         {"role": "assistant", "content": f"THOUGHT: done\n\n```bash\n{submit}\n```"},
                         {"role": "user", "content": "diff --git a/x b/x\n"}],
            "trajectory_format": "mini-swe-agent-1"}
    raw = orjson.dumps(data)
    record = SourceRecord(raw=raw, data=data, file="x.traj.json", offset=0)
    converter, detection = choose_converter(record)
    (traj,) = convert_record(record, converter, detection)
    assert detection.version == "1.x"
    assert [s.actions[0].command for s in traj.steps] == ["ls -la", submit]
    assert traj.steps[1].actions[0].kind is ActionKind.submit
    assert traj.steps[1].observations == [5] and traj.task.instance_id == "x"


def test_swe_smith_ft_records(corpus: Path) -> None:
    trajs = trajectories(corpus_file(corpus, "swe-smith", "ft_xml_example.jsonl"))
    assert [len(t.steps) for t in trajs] == [37, 44, 22]
    assert [t.task.instance_id for t in trajs] == ["pandas-dev__pandas.95280573.pr_53652",
                                                   "getmoto__moto.694ce1f4.pr_7331",
                                                   "pydantic__pydantic.acb0f10f.pr_8316"]
    first = trajs[0]
    assert first.task.repo == "pandas-dev/pandas"
    assert first.provenance.messages == "reconstructed"  # SWE-smith rewrote the chat for training
    assert first.steps[0].actions[0].tool == "bash"
    assert first.steps[0].actions[0].command.startswith('find /testbed -type f -name "*.py"')
    assert all(t.steps[-1].actions[0].kind is ActionKind.submit for t in trajs)
    assert all(t.outcome.resolved is None for t in trajs)


def test_swe_smith_collected_records_carry_resolved_and_model(corpus: Path) -> None:
    trajs = trajectories(corpus_file(corpus, "swe-smith", "run_evaluation.xml.jsonl"))
    assert [t.outcome.resolved for t in trajs] == [True, False, True, True]
    assert [len(t.steps) for t in trajs] == [37, 17, 44, 22]
    assert {t.agent.model for t in trajs} == {"claude-3-7-sonnet-20250219"}
    assert trajs[0].extra["traj_id"] == "pandas-dev__pandas.95280573.pr_53652.qsz9msx7"
    assert all(t.outcome.patch is None for t in trajs)  # the records hold an empty patch


def test_swe_smith_messages_as_a_json_string(corpus: Path) -> None:
    line = corpus_file(corpus, "swe-smith", "run_evaluation.xml.jsonl").read_bytes().splitlines()[1]
    data = orjson.loads(line)
    data["messages"] = orjson.dumps(data["messages"]).decode()
    record = SourceRecord(raw=orjson.dumps(data), data=data, file="hf.jsonl", offset=0, line=1)
    converter, detection = choose_converter(record)
    (traj,) = convert_record(record, converter, detection)
    assert "JSON string" in detection.reason
    assert len(traj.steps) == 17 and traj.outcome.resolved is False


def test_swe_smith_dataset_rows_with_grown_columns(corpus: Path) -> None:
    """An HF SWE-smith-trajectories row: the collect_trajs columns plus ``id`` (and any column added later)."""
    line = corpus_file(corpus, "swe-smith", "run_evaluation.xml.jsonl").read_bytes().splitlines()[1]
    data = {"id": "a1b2c3", **orjson.loads(line), "split": "xml"}
    record = SourceRecord(raw=orjson.dumps(data), data=data, file="train.jsonl", offset=0, line=1)
    converter, detection = choose_converter(record)
    assert (converter.name, detection.version) == ("swe-smith", "collect_trajs")
    assert "column(s) id, split, kept in extra" in detection.reason
    (traj,) = convert_record(record, converter, detection)
    assert traj.extra == {"id": "a1b2c3", "traj_id": data["traj_id"], "split": "xml"}
    assert len(traj.steps) == 17 and traj.outcome.resolved is False


def test_swe_smith_tool_style_links_calls() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}
    data = {"instance_id": "o__r.abc.1", "resolved": True, "model": "m", "traj_id": "o__r.abc.1.x",
            "patch": "",
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"},
                         {"role": "assistant", "content": "look", "thought": "look", "action": "ls",
                          "tool_calls": [call]},
                         {"role": "tool", "content": [{"type": "text", "text": "OBSERVATION:\na"}],
                          "tool_call_ids": ["t1"], "message_type": "observation"}]}
    record = SourceRecord(raw=orjson.dumps(data), data=data, file="tool.jsonl", offset=0, line=1)
    (traj,) = convert_record(record, *choose_converter(record))
    assert traj.messages[3].role is Role.tool and traj.messages[3].tool_call_id == "t1"
    assert traj.provenance.messages == "recorded"
    assert traj.steps[0].actions[0].command == "ls"


def test_nebius_swe_agent_rows() -> None:
    trajs = trajectories(FIXTURES / "nebius_swe_agent" / "rows.jsonl")
    assert [t.outcome.resolved for t in trajs] == [True, False]
    assert [len(t.steps) for t in trajs] == [4, 2]
    first = trajs[0]
    assert first.messages[0].role is Role.system and first.messages[0].content.startswith("SETTING:")
    assert first.messages[2].role is Role.assistant and first.messages[2].extra["mask"] is True
    assert first.steps[0].actions[0].command == 'search_dir "def path" src'
    assert first.steps[2].actions[0].command == "edit 1:1\nx = 2\nend_of_edit"
    assert first.steps[-1].actions[0].kind is ActionKind.submit
    assert first.outcome.patch.startswith("\ndiff --git")
    assert trajs[1].outcome.exit_status == "submitted (exit_context)"
    assert "___TESTS_SECTION___" in first.outcome.evaluation.extra["eval_logs"]
    assert trajs[1].agent.model == "swe-agent-llama-8b"
    (encoded,) = trajectories(FIXTURES / "nebius_swe_agent" / "rows_json_string.jsonl")
    assert len(encoded.steps) == 4 and encoded.task.instance_id == "marshmallow-code__apispec-383"
