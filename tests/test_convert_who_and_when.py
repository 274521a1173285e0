"""Who&When: every file converts to one trajectory whose labeled step is the history turn the label names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convert_helpers import convert
from test_convert_lossless import is_derived, leaves
from srft_format.models import Label, Role


def _files(gold: Path) -> list[Path]:
    return sorted((gold / "who-and-when").glob("*/*.json"))


def test_every_file_converts_with_the_decisive_step_at_its_message(gold):
    files = _files(gold)
    assert len(files) == 184
    for path in files:
        source = json.loads(path.read_bytes())
        (traj,) = convert(path).trajectories
        history, mistake = source["history"], int(source["mistake_step"])
        assert len(traj.messages) == len(history), path
        for message, turn in zip(traj.messages, history):
            assert message.content == turn["content"]
            assert message.name == (turn.get("name") or turn["role"])
            assert message.role is (Role.user if message.name == "human" else Role.assistant)
        assert [s.output for s in traj.steps] == [i for i, t in enumerate(history) if t.get("role") != "human"]
        (verdict,) = traj.verdicts
        assert (verdict.label, verdict.rationale) == (Label.incorrect, source["mistake_reason"]), path
        assert traj.steps[verdict.step].output == mistake, path
        assert verdict.extra["mistake_agent"] == source["mistake_agent"]
        assert traj.annotators[0].kind.value == "human" and traj.outcome.resolved is False
        assert traj.task.problem_statement == source["question"]
        kept = "\x00".join(value for _, value in leaves(traj.model_dump(mode="json")))
        lost = [p for p, v in leaves(source) if not is_derived(p, ("mistake_step",)) and v not in kept]
        assert lost == [], f"{path}: {lost[:5]}"


def test_subsets_are_told_apart(gold):
    hand = convert(gold / "who-and-when" / "Hand-Crafted" / "1.json").trajectories[0]
    algo = convert(gold / "who-and-when" / "Algorithm-Generated" / "1.json").trajectories[0]
    assert (hand.task.dataset, hand.agent.scaffold) == ("Who&When/Hand-Crafted", "magentic-one")
    assert (algo.task.dataset, algo.agent.scaffold) == ("Who&When/Algorithm-Generated", "captainagent")
    assert algo.agent.config["system_prompt"]


@pytest.mark.parametrize("step, message", [
    ("99", "mistake_step: mistake_step 99 is beyond the history (3 turns)"),
    ("two", "mistake_step: expected an index into history (a string of digits), got 'two'"),
    ("0", "mistake_step: history[0] is the human question, not an agent turn"),
])
def test_bad_mistake_step_is_one_line_naming_the_file(tmp_path, srft, step, message):
    source = {"question": "q", "ground_truth": "a", "mistake_agent": "WebSurfer", "mistake_step": step,
              "mistake_reason": "r", "history": [{"content": "q", "role": "human"},
                                                 {"content": "plan", "role": "Orchestrator (thought)"},
                                                 {"content": "page", "role": "WebSurfer"}]}
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "7.json").write_text(json.dumps(source))
    run = srft("convert", tmp_path / "runs", "-o", tmp_path / "out")
    assert run.code == 1
    (line,) = [ln for ln in run.stderr.splitlines() if "7.json" in ln]
    assert message in line, run.stderr
