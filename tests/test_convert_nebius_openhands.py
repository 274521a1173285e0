"""nebius SWE-rebench-openhands-trajectories rows (fixtures written from the dataset's documentation)."""

from __future__ import annotations

from pathlib import Path

from srft_format.converters.conversion import convert_file
from srft_format.converters.reader import InputFile
from srft_format.models import ActionKind, Role
from srft_format.validate import check_trajectory

ROWS = Path(__file__).parent / "fixtures" / "nebius_openhands" / "rows.jsonl"


def test_rows() -> None:
    result = convert_file(InputFile(str(ROWS), ROWS.name))
    assert result.errors == []
    assert set(result.detections) == {("nebius-openhands", "hf-rows")}
    resolved, failed = result.trajectories
    for traj in result.trajectories:
        assert check_trajectory(traj) == []
        assert traj.provenance.messages == "recorded" and traj.task.repo == "acme/widgets"
    assert [len(t.steps) for t in result.trajectories] == [4, 2]
    assert [a.kind for s in resolved.steps for a in s.actions] == [
        ActionKind.think, ActionKind.view, ActionKind.search, ActionKind.edit, ActionKind.submit]
    parallel = resolved.steps[1]
    assert [resolved.messages[i].tool_call_id for i in parallel.observations] == [
        "chatcmpl-tool-b1", "chatcmpl-tool-b2"]
    assert resolved.steps[-1].observations == []
    assert (resolved.outcome.resolved, resolved.outcome.exit_status) == (True, "submit")
    assert resolved.outcome.patch.startswith("diff --git a/widgets/core.py")
    assert resolved.outcome.evaluation.extra == {"gen_tests_correct": 1.0, "pred_passes_gen_tests": 1.0}
    assert resolved.extra == {"trajectory_id": "chatcmpl-eb27c5fe3baa10d5272928b4e016d84f"}
    assert len(resolved.agent.tools) == 4
    assert (failed.outcome.resolved, failed.outcome.exit_status) == (False, "max_turns_reached")
    assert failed.steps[-1].actions[0].kind is ActionKind.message
    assert failed.messages[-1].role is Role.assistant
