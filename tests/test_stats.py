"""srft stats: every figure by hand on a small dataset, and against plain Python on random data and corpus."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from query_data import CRITIC_A, CRITIC_B, verdict, write_random_dataset, write_small_dataset

from srft_format.cli.stats import stats
from srft_format.dataset import Dataset, DatasetWriter, copy_dataset
from srft_format.errors import SrftError
from srft_format.models import Label, Trajectory, Verdict
from srft_format.policy import Resolution, TrainingPolicy, VerdictPolicy
from srft_format.query import open_views
from srft_format.stats import FIGURES, compute_stats


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return write_small_dataset(tmp_path_factory.mktemp("s") / "small")


# ------------------------------------------------------------------------- by hand, small dataset


def test_figures_by_hand(small):
    got = compute_stats(open_views([small]))
    assert got["overview"] == [{"trajectories": 4, "resolved": 1, "evaluated": 3,
                                "resolved_rate": pytest.approx(1 / 3), "steps": 21,
                                "steps_per_trajectory": 5.25, "prompt_tokens": 1900,
                                "completion_tokens": 135, "cost": pytest.approx(0.19)}]
    assert got["verdicts"] == [
        {"annotator": "critic-a", "verdicts": 8, "correct": 4, "incorrect": 3, "neutral": 1, "unknown": 0,
         "mean_score": None},
        {"annotator": "critic-b", "verdicts": 4, "correct": 2, "incorrect": 2, "neutral": 0, "unknown": 0,
         "mean_score": 0.9}]
    # effective (priority, critic-a first): t1 c i c c; t2 c i i n c; t3 step 1 i
    assert got["reject_rate"] == [{"labeled": 10, "correct": 5, "incorrect": 4, "neutral": 1, "unknown": 0,
                                   "reject_rate": 4 / 9}]
    assert [(r["decile"], r["decided"], r["incorrect"]) for r in got["reject_by_position"]] == [
        (0, 2, 0), (2, 2, 2), (4, 1, 1), (5, 2, 1), (6, 0, 0), (7, 1, 0), (8, 1, 0)]
    # SFT: 21 steps less t3's excluded one; RFT: t1; SRFT: t1 + t2's steps 0, 3 (neutral), 4
    assert [(r["policy"], r["steps"], r["tokens"], r["steps_vs_rft"], r["tokens_vs_rft"])
            for r in got["training_signal"]] == [("sft", 20, 135, 16, 35), ("rft", 4, 100, 0, 0),
                                                 ("srft", 7, 115, 3, 15)]
    assert got["training_signal"][2]["steps_share"] == 7 / 21


def test_figures_follow_the_policy(small):
    con = open_views([small], policy=TrainingPolicy(verdicts=VerdictPolicy(resolution=Resolution.veto),
                                                    unlabeled="train"))
    # veto: t2 step 0 (a correct, b incorrect) becomes incorrect
    assert compute_stats(con, names=("reject_rate",))["reject_rate"][0]["incorrect"] == 5
    # SRFT: t1 (4) + t2 steps 3, 4 (2) + t4's 10 unlabeled steps, now trained
    assert compute_stats(con, names=("training_signal",))["training_signal"][2]["steps"] == 16


def test_grouping_by_repo_and_annotator(small):
    con = open_views([small])
    by_repo = {r["repo"]: r for r in compute_stats(con, "repo", ("reject_rate",))["reject_rate"]}
    assert (by_repo["o/alpha"]["incorrect"], by_repo["o/beta"]["incorrect"]) == (3, 1)
    per_annotator = compute_stats(con, "annotator", ("reject_rate",))["reject_rate"]
    by_annotator = {r["annotator"]: r["reject_rate"] for r in per_annotator}
    assert by_annotator == {"critic-a": 3 / 7, "critic-b": 2 / 4}
    assert "annotator" not in compute_stats(con, "annotator", ("overview",))["overview"][0]
    with pytest.raises(SrftError, match="cannot group by 'colour'"):
        compute_stats(con, "colour", ("overview",))["overview"]


# ---------------------------------------------------------------------- the same figures in Python


GROUP_OF = {"repo": lambda t: t.task.repo, "model": lambda t: t.agent.model,
            "agent": lambda t: t.agent.scaffold, "exit_status": lambda t: t.outcome.exit_status}
POLICIES = ("sft", "rft", "srft")


def total(values: list) -> Any:
    """SQL ``sum``: nulls ignored, null when nothing is left."""
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def count(labels: list[Label], *wanted: str) -> int:
    return sum(1 for label in labels if label.value in wanted)


def overview_row(ts: list[Trajectory]) -> dict[str, Any]:
    def usage(field: str) -> Any:  # the run's total as the source counted it (1.1), else the steps' sum
        run = [getattr(t.usage, field) if t.usage else None for t in ts]
        return total([r if r is not None else total([getattr(s.usage, field) for s in t.steps if s.usage])
                      for r, t in zip(run, ts)])

    resolved = sum(1 for t in ts if t.outcome.resolved is True)
    evaluated = sum(1 for t in ts if t.outcome.resolved is not None)
    steps = sum(len(t.steps) for t in ts)
    return {"trajectories": len(ts), "resolved": resolved, "evaluated": evaluated,
            "resolved_rate": rate(resolved, evaluated), "steps": steps,
            "steps_per_trajectory": steps / len(ts),
            "prompt_tokens": usage("prompt_tokens"), "completion_tokens": usage("completion_tokens"),
            "cost": usage("cost")}


def verdicts_row(annotator: str, vs: list[Verdict]) -> dict[str, Any]:
    scores = [v.score for v in vs if v.score is not None]
    return {"annotator": annotator, "verdicts": len(vs),
            **{label.value: sum(1 for v in vs if v.label is label) for label in Label},
            "mean_score": sum(scores) / len(scores) if scores else None}


def reject_row(labels: list[Label]) -> dict[str, Any]:
    return {"labeled": len(labels), **{label.value: count(labels, label.value) for label in Label},
            "reject_rate": rate(count(labels, "incorrect"), count(labels, "correct", "incorrect"))}


def position_row(decile: int, labels: list[Label]) -> dict[str, Any]:
    decided, incorrect = count(labels, "correct", "incorrect"), count(labels, "incorrect")
    return {"decile": decile, "decided": decided, "incorrect": incorrect,
            "reject_rate": rate(incorrect, decided)}


def signal_rows(per_policy: dict[str, list[tuple[float, int | None]]]) -> list[dict[str, Any]]:
    """``per_policy``: (weight, completion tokens) of every step under each policy."""
    trained = {name: (sum(1 for w, _ in ws if w > 0), sum(n or 0 for w, n in ws if w > 0))
               for name, ws in per_policy.items()}
    rows = []
    for name in POLICIES:
        ws, (steps, tokens) = per_policy[name], trained[name]
        rows.append({"policy": name, "steps": steps, "steps_share": steps / len(ws), "tokens": tokens,
                     "tokens_share": rate(tokens, sum(n or 0 for _, n in ws)),
                     "weighted_steps": sum(w for w, _ in ws),
                     "steps_vs_rft": steps - trained["rft"][0], "tokens_vs_rft": tokens - trained["rft"][1]})
    return rows


def python_stats(path: Path, policy: TrainingPolicy, by: str | None) -> dict[str, list[dict[str, Any]]]:
    """Every figure of ``srft stats``, computed by iterating the records with srft_format.policy."""
    ds = Dataset.open(path)
    sidecar = ds.verdicts_by_trajectory()
    trajectories, verdicts, labels, by_decile = (defaultdict(list) for _ in range(4))
    signal: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for traj in ds.trajectories():
        extra = sidecar.get(traj.id, [])
        everything = [*traj.verdicts, *extra]
        group = (GROUP_OF[by](traj) or "(none)") if by in GROUP_OF else "all"
        trajectories[group].append(traj)
        for v in everything:
            verdicts[(group, v.annotator)].append(v)
        counted = [(v.annotator, v.step, v.label) for v in everything] if by == "annotator" else \
            [(group, step, ev.label) for step, ev in policy.verdicts.resolve(everything).items()]
        for label_group, step, label in counted:
            labels[label_group].append(label)
            by_decile[(label_group, 10 * step // len(traj.steps))].append(label)
        for name in POLICIES:
            weights = replace(policy, name=name).step_weights(traj, extra)
            signal[group][name] += [(w, s.usage.completion_tokens if s.usage else None)
                                    for w, s in zip(weights, traj.steps)]
    figures = {  # name -> [(group, row)]
        "overview": [(g, overview_row(ts)) for g, ts in sorted(trajectories.items())],
        "verdicts": [(g, verdicts_row(a, vs)) for (g, a), vs in sorted(verdicts.items())],
        "reject_rate": [(g, reject_row(ls)) for g, ls in sorted(labels.items())],
        "reject_by_position": [(g, position_row(d, ls)) for (g, d), ls in sorted(by_decile.items())],
        "training_signal": [(g, row) for g, per_policy in sorted(signal.items())
                            for row in signal_rows(per_policy)],
    }
    grouped = {name: by in GROUP_OF or (by == "annotator" and name in ("reject_rate", "reject_by_position"))
               for name in figures}
    return {name: [{by: g, **row} if grouped[name] else row for g, row in rows]
            for name, rows in figures.items()}


def assert_same_figures(got: dict, expected: dict) -> None:
    for name in FIGURES:
        assert len(got[name]) == len(expected[name]), name
        for g, e in zip(got[name], expected[name]):
            assert g == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in e.items()}, name


CASES = [(TrainingPolicy(), None), (TrainingPolicy(), "repo"), (TrainingPolicy(), "annotator"),
         (TrainingPolicy(verdicts=VerdictPolicy(("critic-b", "critic-a"), Resolution.majority)), "model"),
         (TrainingPolicy(verdicts=VerdictPolicy(resolution=Resolution.threshold, threshold=0.6),
                         unlabeled="train", soft=True), "exit_status")]


@pytest.mark.parametrize("policy,by", CASES)
def test_figures_equal_plain_python_on_random_data(tmp_path_factory, policy, by):
    path = write_random_dataset(tmp_path_factory.mktemp("random") / "r", seed=7, n=60)
    assert_same_figures(compute_stats(open_views([path], policy=policy), by), python_stats(path, policy, by))


@pytest.fixture(scope="module")
def corpus_with_verdicts(tmp_path_factory, corpus_dataset) -> Path:
    """The converted corpus plus a rule's sidecar verdicts (every third step incorrect, every fifth neutral)
    and a scored critic on first steps."""
    path = tmp_path_factory.mktemp("corpus") / "ds"
    copy_dataset(corpus_dataset, path)
    trajectories = list(Dataset.open(path).trajectories())
    with DatasetWriter(path, mode="append") as out:
        out.declare_annotator(CRITIC_A)
        out.declare_annotator(CRITIC_B)
        for traj in trajectories:
            for step in traj.steps:
                label = ("incorrect" if step.index % 3 == 1 else "neutral" if step.index % 5 == 4
                         else "correct")
                out.add_verdict(traj.id, verdict(step.index, "critic-b", label))
            if traj.steps:
                out.add_verdict(traj.id, verdict(0, "critic-a", "incorrect", 0.25))
    return path


@pytest.mark.parametrize("policy,by", CASES)
def test_figures_equal_plain_python_on_the_corpus(corpus_with_verdicts, policy, by):
    got = compute_stats(open_views([corpus_with_verdicts], policy=policy), by)
    assert_same_figures(got, python_stats(corpus_with_verdicts, policy, by))


# ------------------------------------------------------------------------------------------ the command


def test_stats_command(small):
    run = CliRunner().invoke(stats, [str(small), "--by", "repo", "--format", "json", "--resolution", "veto"])
    assert run.exit_code == 0, run.output
    doc = orjson.loads(run.stdout)
    assert doc["policy"]["verdicts"]["resolution"] == "veto" and doc["by"] == "repo"
    assert run.stderr.startswith("verdicts: veto: any incorrect verdict wins; all annotators, by kind")
    assert doc == {**doc, **compute_stats(open_views([small], policy=TrainingPolicy(
        verdicts=VerdictPolicy(resolution=Resolution.veto))), "repo")}
    table = CliRunner().invoke(stats, [str(small)], env={"COLUMNS": "200"}).output
    assert "44.4%" in table  # the reject rate
    assert "SRFT trains 7: it keeps 3 of the steps RFT discards (18.8% of them)" in table


def test_stats_bad_input(small, srft, tmp_path):
    run = srft("stats", tmp_path)
    assert run.code == 1 and "not an srft dataset" in run.stderr and "Traceback" not in run.stderr
    run = CliRunner().invoke(stats, [str(small), "--by", "colour"])
    assert run.exit_code == 2 and "Invalid value for '--by'" in run.output
    run = CliRunner().invoke(stats, [str(small), "--threshold", "2"])
    assert run.exit_code == 2 and "--threshold" in run.output
