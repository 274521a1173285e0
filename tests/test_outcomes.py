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


def test_swe_smith_harness_output_by_directory_and_by_file(corpus: Path) -> None:
    run = corpus / "swe-smith" / "run_evaluation"
    outcomes = load_outcomes([run])
    assert outcomes.skipped == [] and len(outcomes) == 53
    detailed = outcomes["pandas-dev__pandas.95280573.pr_53856"]  # bare report, instance named by its folder
    assert detailed.resolved is False and detailed.source.endswith("pr_53856/report.json")
    assert detailed.extra["patch_successfully_applied"] is False and detailed.fail_to_pass
    assert outcomes["pydantic__pydantic.acb0f10f.pr_8316"].source.endswith("(ids_resolved)")
    named = load_outcomes([run / "getmoto__moto.694ce1f4.pr_7331" / "report.json"])
    assert list(named) == ["getmoto__moto.694ce1f4.pr_7331"] and named["getmoto__moto.694ce1f4.pr_7331"].resolved
    summary = load_outcomes([run / "report.json"])
    assert sum(r.resolved for r in summary.values()) == 3 and len(summary) == 53


def test_a_timed_out_instance_is_not_resolved(tmp_path: Path) -> None:
    report = tmp_path / "run" / "acme__widgets-5" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text('{"timed_out": true, "timeout": 1800}')
    result = load_outcomes([report])["acme__widgets-5"]
    assert result.resolved is False and result.extra == {"timed_out": True, "timeout": 1800}
    assert evaluation_refusal({"timed_out": True, "timeout": 1800}) is not None


def test_files_in_a_directory_that_are_no_evaluation_are_listed(tmp_path: Path) -> None:
    shutil.copytree(EVAL, tmp_path / "eval")
    (tmp_path / "eval" / "metadata.json").write_text('{"agent_class": "CodeActAgent"}')
    outcomes = load_outcomes([tmp_path / "eval"])
    assert [Path(name).name for name, _ in outcomes.skipped] == ["metadata.json"]


def test_srft_outcomes_joins_into_a_dataset_atomically_and_idempotently(corpus: Path, tmp_path: Path, srft) -> None:
    from srft_format.converters.pipeline import convert_paths
    from srft_format.dataset import Dataset

    smith = corpus / "swe-smith"
    traj = next(smith.glob("*pr_53856.traj"))
    convert_paths([str(traj)], tmp_path / "ds")
    (before,) = Dataset.open(tmp_path / "ds").trajectories()
    assert before.outcome.resolved is None
    first = srft("outcomes", tmp_path / "ds", "--eval", smith / "run_evaluation")
    assert first.code == 0, first.stderr
    assert "1 trajectories evaluated: 1 changed (1 resolved set where it was unknown)" in first.stderr
    assert "52 evaluated instance(s) match no trajectory" in first.stderr
    (after,) = Dataset.open(tmp_path / "ds").trajectories()
    assert after.outcome.resolved is False and after.outcome.evaluation.fail_to_pass
    assert after.model_copy(update={"outcome": before.outcome}) == before
    again = srft("outcomes", tmp_path / "ds", "--eval", smith / "run_evaluation")
    assert "1 trajectories evaluated: 0 changed" in again.stderr
    assert list(Dataset.open(tmp_path / "ds").trajectories()) == [after]


def test_convert_says_what_eval_skipped_and_did_not_match(corpus: Path, tmp_path: Path) -> None:
    from srft_format.converters.pipeline import convert_paths

    shutil.copytree(EVAL, tmp_path / "eval")
    (tmp_path / "eval" / "metadata.json").write_text('{"agent_class": "CodeActAgent"}')
    summary = convert_paths([str(next((corpus / "swe-smith").glob("*pr_53856.traj")))], tmp_path / "ds",
                            eval_paths=[str(tmp_path / "eval"), str(corpus / "swe-smith" / "run_evaluation")])
    lines = "\n".join(summary.lines())
    assert "--eval: skipped" in lines and "metadata.json" in lines
    assert "--eval: 58 evaluated instance(s) match no trajectory converted here" in lines
    assert summary.evaluated == {"pandas-dev__pandas.95280573.pr_53856"}
