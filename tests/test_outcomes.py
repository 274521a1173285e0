"""Joining ``resolved`` from SWE-bench evaluation output (``--eval``)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pytest

from srft_format.converters.outcomes import EvalResult, apply_outcomes, evaluation_refusal, load_outcomes
from srft_format.errors import SrftError
from srft_format.models import FORMAT_VERSION, Evaluation, Outcome, Task, Trajectory

EVAL = Path(__file__).parent / "fixtures" / "eval"
REPORT = EVAL / "run_evaluation" / "run1" / "openhands" / "acme__widgets-17" / "report.json"
SUMMARY = EVAL / "openhands.run1.json"
OPENHANDS = EVAL / "output.swebench_eval.jsonl"


def trajectory(instance_id: str, resolved: bool | None = None) -> Trajectory:
    return Trajectory(format_version=FORMAT_VERSION, id=f"t-{instance_id}",
                      task=Task(instance_id=instance_id), outcome=Outcome(resolved=resolved))


def test_per_instance_report() -> None:
    result = load_outcomes([REPORT])["acme__widgets-17"]
    assert result.resolved is True and result.source == str(REPORT)
    assert result.fail_to_pass == ["tests/test_core.py::test_size_empty"]
    assert result.pass_to_pass == ["tests/test_core.py::test_size", "tests/test_core.py::test_copy"]
    assert result.tests_failed == []
    assert result.extra["patch_successfully_applied"] is True
    assert "FAIL_TO_FAIL" in result.extra["tests_status"]


def test_run_summary() -> None:
    outcomes = load_outcomes([SUMMARY])
    assert {k: v.resolved for k, v in outcomes.items()} == {
        "acme__widgets-17": True, "acme__widgets-21": False, "acme__widgets-30": False}
    assert outcomes["acme__widgets-30"].source.endswith("(empty_patch_ids)")


def test_openhands_swebench_eval_jsonl() -> None:
    outcomes = load_outcomes([OPENHANDS])
    assert {k: v.resolved for k, v in outcomes.items()} == {
        "ponylang__ponyc-4595": False, "ponylang__ponyc-4593": False, "ponylang__ponyc-4588": True}
    assert outcomes["ponylang__ponyc-4593"].extra["empty_generation"] is True


def test_directory_is_searched_and_compressed_files_read(tmp_path: Path) -> None:
    shutil.copytree(EVAL, tmp_path / "eval")
    with gzip.open(tmp_path / "eval" / "output.swebench_eval.jsonl.gz", "wb") as compressed:
        compressed.write(OPENHANDS.read_bytes())
    (tmp_path / "eval" / "output.swebench_eval.jsonl").unlink()
    (tmp_path / "eval" / "metadata.json").write_text('{"agent_class": "CodeActAgent"}')  # skipped
    outcomes = load_outcomes([tmp_path / "eval"])
    assert len(outcomes) == 6
    assert outcomes["ponylang__ponyc-4588"].resolved is True


def test_apply_sets_resolved_and_evaluation() -> None:
    outcomes = load_outcomes([SUMMARY, REPORT])  # the detailed report, named last, wins
    traj = apply_outcomes(trajectory("acme__widgets-17"), outcomes)
    assert traj.outcome.resolved is True
    assert traj.outcome.evaluation.source == str(REPORT)
    assert traj.outcome.evaluation.fail_to_pass == ["tests/test_core.py::test_size_empty"]
    assert apply_outcomes(trajectory("acme__widgets-21"), outcomes).outcome.resolved is False


def test_instance_not_evaluated_stays_unknown() -> None:
    traj = apply_outcomes(trajectory("acme__widgets-99"), load_outcomes([SUMMARY]))
    assert traj.outcome.resolved is None and traj.outcome.evaluation is None


def test_contradicted_source_value_is_kept() -> None:
    traj = trajectory("acme__widgets-21", resolved=True)
    traj.outcome.evaluation = Evaluation(source="test_result.report")
    outcomes = {"acme__widgets-21": EvalResult(resolved=False, source="summary.json (unresolved_ids)")}
    apply_outcomes(traj, outcomes)
    assert traj.outcome.resolved is False
    assert traj.outcome.evaluation.extra == {"source_resolved": True,
                                             "source_evaluation": {"source": "test_result.report"}}


def test_named_file_that_is_not_an_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    path.write_text('{"agent_class": "CodeActAgent"}')
    with pytest.raises(SrftError, match=r"metadata.json: not a SWE-bench evaluation file"):
        load_outcomes([path])


def test_truncated_json_is_located(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"acme__widgets-17": {"resolved": tr')
    with pytest.raises(SrftError, match=r"report.json: truncated JSON"):
        load_outcomes([path])
    lines = tmp_path / "output.swebench_eval.jsonl"
    good = '{"instance_id": "a", "test_result": {"report": {"resolved": true}}}'
    lines.write_text(f'{good}\n{{"instance_id": \n')
    with pytest.raises(SrftError, match=r"output.swebench_eval.jsonl:2: truncated JSON"):
        load_outcomes([lines])


def test_wrong_resolved_type(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text('{"instance_id": "a", "report": {"resolved": "yes"}}\n')
    with pytest.raises(SrftError, match=r"eval.jsonl:1: report.resolved: expected true/false, got 'yes'"):
        load_outcomes([path])


def test_evaluation_files_are_recognised_for_refusal() -> None:
    """``srft convert`` can say an evaluation file belongs to --eval (not "not a trajectory format")."""
    for path in (REPORT, SUMMARY):
        assert "give it to --eval" in evaluation_refusal(orjson.loads(path.read_bytes()))
    first_line = OPENHANDS.read_bytes().splitlines()[0]
    assert "give it to --eval" in evaluation_refusal(orjson.loads(first_line))
    evaluated_row = {"instance_id": "a", "history": [], "report": {"resolved": True}}  # a trajectory
    assert evaluation_refusal(evaluated_row) is None and evaluation_refusal([evaluated_row]) is None
    assert evaluation_refusal({"agent_class": "CodeActAgent"}) is None
