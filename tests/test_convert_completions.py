"""OpenHands completion logs (``llm_completions/<instance>/*.json``): a folder is one trajectory, each call a step
whose recorded input is kept exactly."""

from __future__ import annotations

from pathlib import Path

import orjson

from srft_format.converters.openhands_completions import _sent
from srft_format.converters.conversion import convert_file
from srft_format.converters.reader import expand_inputs
from srft_format.inputs import step_input
from srft_format.validate import check_trajectory

LOGS = "openhands/v0.15-llm_completions/astropy__astropy-13033"


def test_a_folder_of_completion_logs_is_one_trajectory_with_each_exact_input(corpus: Path) -> None:
    (source,) = [f for f in expand_inputs([str(corpus / "openhands")]) if f.members]
    assert source.name == "v0.15-llm_completions/astropy__astropy-13033" and len(source.members) == 11
    result = convert_file(source)
    assert result.errors == []
    (traj,) = result.trajectories
    assert check_trajectory(traj) == []
    assert traj.task.instance_id == "astropy__astropy-13033"
    assert traj.provenance.source_format == "openhands-completions" and traj.provenance.api_calls == 11
    assert len(traj.steps) == 11 and traj.agent.tools and traj.agent.model.endswith("claude-3-5-sonnet-20241022-v2:0")
    calls = [orjson.loads(Path(member).read_bytes()) for member in source.members]
    for step, call in zip(traj.steps, calls):
        recorded, _ = _sent(call["messages"], "")
        assert step_input(traj.messages, step) == recorded  # the exact input, cache_control markers aside
        text = call["response"]["choices"][0]["message"]["content"]
        assert traj.messages[step.output].content == text
        assert step.usage.cost == call["cost"]
        assert step.usage.prompt_tokens == call["response"]["usage"]["prompt_tokens"]
    assert abs(traj.usage.cost - sum(call["cost"] for call in calls)) < 1e-9
    assert traj.steps[-1].actions[0].kind.value == "submit"  # the finish call
    # the markers are kept per input position: call 2 cached its third message
    assert traj.steps[1].extra["cache_control"]["3"] == {"message": {"type": "ephemeral"}}


def test_one_completion_file_is_a_trajectory_of_one_step(corpus: Path) -> None:
    path = sorted((corpus / LOGS).iterdir())[0]
    (source,) = expand_inputs([str(path)])
    (traj,) = convert_file(source).trajectories
    assert len(traj.steps) == 1 and traj.steps[0].input is None and traj.provenance.api_calls == 1
