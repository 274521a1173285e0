"""`srft eval-critic`: metrics against hand-computed cases and scikit-learn, bootstrap coverage, real critics."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from chat_server import ChatServer, Reply
from click.testing import CliRunner
from factories import make_trajectory

from srft_format.annotators.evaluation import (LABELS, Evaluation, Pair, TrajectoryLabels, bootstrap, evaluate,
                                               interval, metrics_from_matrices, resample_weights)
from srft_format.cli.main import cli
from srft_format.dataset import write_dataset
from srft_format.models import Annotator, AnnotatorKind, Verdict


def _pair(traj: str, step: int, critic: str, gold: str, score: float | None = None) -> Pair:
    return Pair(traj, step, critic, gold, score, None, None, "bash", 0, "octo/utils")


def _matrix(critic: list[str], gold: list[str]) -> np.ndarray:
    m = np.zeros((4, 4))
    for c, g in zip(critic, gold):
        m[LABELS.index(c), LABELS.index(g)] += 1
    return m


def test_metrics_match_a_hand_computed_case():
    critic = ["incorrect"] * 3 + ["correct"] * 5
    gold = ["incorrect", "incorrect", "correct", "incorrect", "correct", "correct", "correct", "correct"]
    got = {k: float(v) for k, v in metrics_from_matrices(_matrix(critic, gold)).items()}
    # tp 2, fp 1, fn 1, 6 of 8 agree; chance agreement (3*3 + 5*5) / 64
    assert got["precision"] == pytest.approx(2 / 3) and got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3) and got["accuracy"] == pytest.approx(0.75)
    assert got["kappa"] == pytest.approx((0.75 - 34 / 64) / (1 - 34 / 64))


def test_undefined_metrics_are_nan_not_zero():
    got = metrics_from_matrices(_matrix(["correct"] * 4, ["correct"] * 4))
    assert np.isnan(got["precision"]) and np.isnan(got["recall"]) and np.isnan(got["kappa"])
    assert got["accuracy"] == 1


@pytest.mark.parametrize("seed", range(5))
def test_metrics_agree_with_scikit_learn_on_random_labels(seed):
    from sklearn import metrics as sk  # the dev extra
    rng = np.random.default_rng(seed)
    critic = list(rng.choice(LABELS, 300, p=[0.5, 0.3, 0.1, 0.1]))
    gold = list(rng.choice(LABELS, 300, p=[0.6, 0.25, 0.1, 0.05]))
    got = metrics_from_matrices(_matrix(critic, gold))
    binary = dict(y_true=gold, y_pred=critic, labels=["incorrect"], average=None)
    assert got["precision"] == pytest.approx(sk.precision_score(**binary)[0])
    assert got["recall"] == pytest.approx(sk.recall_score(**binary)[0])
    assert got["f1"] == pytest.approx(sk.f1_score(**binary)[0])
    assert got["kappa"] == pytest.approx(sk.cohen_kappa_score(gold, critic))
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(gold, critic))


def _simulated(rng: np.random.Generator, trajectories: int = 30, steps: int = 8) -> Evaluation:
    """A critic whose accuracy varies by trajectory (uniform 0.6..1.0, so 0.8 overall): steps are correlated."""
    out = []
    for t in range(trajectories):
        p = rng.uniform(0.6, 1.0)
        pairs = [_pair(f"t{t}", s, "correct" if rng.random() < p else "incorrect", "correct")
                 for s in range(steps)]
        out.append(TrajectoryLabels(f"t{t}", pairs, judged=True))
    return Evaluation("sim", out)


def test_bootstrap_by_trajectory_covers_the_true_accuracy_at_about_the_nominal_rate():
    rng = np.random.default_rng(7)
    runs, covered = 200, 0
    for i in range(runs):
        ev = _simulated(rng)
        low, high = interval(bootstrap(ev, resample_weights(len(ev.trajectories), 300, i))["accuracy"])
        covered += low <= 0.8 <= high
    assert 0.88 <= covered / runs <= 0.99, covered


def test_first_error_localisation_exact_and_within_k():
    trajs = [TrajectoryLabels("a", [_pair("a", 3, "incorrect", "incorrect")], critic_first=3, gold_first=3,
                              judged=True),
             TrajectoryLabels("b", [_pair("b", 5, "incorrect", "incorrect")], critic_first=4, gold_first=5,
                              judged=True),
             TrajectoryLabels("c", [_pair("c", 2, "correct", "incorrect")], critic_first=None, gold_first=2,
                              judged=True),
             TrajectoryLabels("d", [_pair("d", 9, "incorrect", "incorrect")], critic_first=1, gold_first=9,
                              judged=True)]
    result = evaluate([Evaluation("c", trajs, k=1)], resamples=200)
    first = result["critics"][0]["first_error"]
    assert (first["exact"]["value"], first["within_k"]["value"]) == (0.25, 0.5)
    assert (first["earlier"], first["later"], first["never"]) == (2, 0, 1)


def test_localisation_needs_the_critic_to_have_labeled_up_to_the_gold_first_error():
    from srft_format.annotators.evaluation import collect

    def traj(traj_id: str, critic_steps: list[int]):
        t = make_trajectory(traj_id, 4)
        t.verdicts = [Verdict(step=2, annotator="gold", label="incorrect"),
                      *(Verdict(step=s, annotator="critic", label="correct") for s in critic_steps)]
        return t

    full, partial = collect([traj("a", [0, 1, 2]), traj("b", [0, 2, 3])], {}, "critic", "gold")
    assert (full.judged, partial.judged) == (True, False)
    (filled,) = collect([traj("c", [])], {}, "critic", "gold", missing="correct")
    assert filled.judged and filled.pairs[0].critic == "correct"
    first = evaluate([Evaluation("critic", [full, partial])], resamples=100)["critics"][0]["first_error"]
    assert (first["trajectories"], first["not_covered"], first["never"]) == (1, 1, 1)


def test_two_critics_get_a_paired_difference_interval():
    rng = np.random.default_rng(1)
    strong, weak = _simulated(rng), _simulated(rng)
    weak.critic = "weak"
    result = evaluate([strong, weak], resamples=300)
    (diff,) = result["differences"]
    acc = diff["metrics"]["accuracy"]
    assert acc["low"] <= acc["value"] <= acc["high"]
    assert acc["value"] == pytest.approx(result["critics"][1]["metrics"]["accuracy"]["value"]
                                         - result["critics"][0]["metrics"]["accuracy"]["value"], abs=1e-6)


GOLD = {"t-0": ["correct", "incorrect", "correct", "correct"], "t-1": ["correct", "correct", "incorrect", "neutral"],
        "t-2": ["incorrect", "correct", "correct", "correct"], "t-3": ["correct", "correct", "correct", "incorrect"]}
HUMAN = Annotator(id="alice", kind=AnnotatorKind.human)


@pytest.fixture
def gold_dataset(tmp_path):
    trajectories = []
    for traj_id, labels in GOLD.items():
        traj = make_trajectory(traj_id, n_steps=len(labels))
        traj.messages[1].content = f"Fix the bug of ticket {traj_id} in utils.py"
        traj.annotators = [HUMAN]
        traj.verdicts = [Verdict(step=i, annotator="alice", label=label, rationale=f"alice on {i}")
                         for i, label in enumerate(labels)]
        trajectories.append(traj)
    path = tmp_path / "gold"
    write_dataset(path, trajectories, storage="jsonl")
    return path


def _server(answer) -> ChatServer:
    def script(request, n):
        prompt = request["messages"][0]["content"]
        traj = re.search(r"ticket (t-\d+)", prompt).group(1)
        step = int(re.search(r"Judge ONE step, step (\d+)", prompt).group(1))
        label = answer(traj, step)
        return Reply(content=json.dumps({"label": label, "score": 0.1 if label == "incorrect" else 0.9,
                                         "rationale": f"server on {traj}/{step}"}))
    return ChatServer(script)


def _label_and_score(data, server, monkeypatch, *extra):
    monkeypatch.setenv("CRITIC_KEY", "sk-test")
    runner = CliRunner()
    done = runner.invoke(cli, ["annotate", str(data), "--critic", "openai", "--model", "m", "--base-url",
                               server.base_url, "--api-key-env", "CRITIC_KEY", "--annotator-id", "llm"])
    assert done.exit_code == 0, done.output
    scored = runner.invoke(cli, ["eval-critic", str(data), "--critic", "llm", "--gold", "alice", "--format", "json",
                                 "--resamples", "200", *extra])
    assert scored.exit_code == 0, scored.output
    return json.loads(scored.stdout)


def test_a_perfect_critic_scores_one(gold_dataset, monkeypatch):
    with _server(lambda traj, step: GOLD[traj][step]) as server:
        result = _label_and_score(gold_dataset, server, monkeypatch)
    (critic,) = result["critics"]
    assert (critic["trajectories"], critic["steps"]) == (4, 16)
    for name in ("precision", "recall", "f1", "kappa", "accuracy"):
        assert critic["metrics"][name] == {"value": 1.0, "low": 1.0, "high": 1.0}, name
    assert critic["first_error"]["exact"]["value"] == 1.0 and critic["worst"] == []
    assert critic["calibration"]["ece"] == pytest.approx(0.1)


def test_a_constant_critic_scores_kappa_zero(gold_dataset, monkeypatch):
    with _server(lambda traj, step: "correct") as server:
        result = _label_and_score(gold_dataset, server, monkeypatch)
    (critic,) = result["critics"]
    assert critic["metrics"]["kappa"]["value"] == 0.0
    assert critic["metrics"]["recall"]["value"] == 0.0 and critic["metrics"]["precision"]["value"] is None
    assert critic["first_error"]["never"] == 4
    worst = critic["worst"]
    assert len(worst) == 5 and all(w["gold"] != "correct" for w in worst)  # the 4 missed errors, then neutral
    assert worst[0]["gold_rationale"].startswith("alice on") and worst[0]["critic_rationale"].startswith("server")


def test_table_shows_two_critics_side_by_side(gold_dataset, srft):
    run = srft("eval-critic", gold_dataset, "--critic", "alice", "--critic", "nobody", "--gold", "alice",
               "--missing", "correct", "--resamples", "100")
    assert run.code == 0, run.stderr
    assert "nobody - alice" in run.stdout and "has no verdicts in this dataset" in run.stdout


def test_resolved_trajectories_are_left_out_unless_all(tmp_path, srft):
    trajs = [make_trajectory("r", 2, resolved=True, labels=["correct", "incorrect"], annotator="alice"),
             make_trajectory("u", 2, resolved=False, labels=["correct", "incorrect"], annotator="alice")]
    write_dataset(tmp_path / "d", trajs, storage="jsonl")
    default = json.loads(srft("eval-critic", tmp_path / "d", "--critic", "alice", "--gold", "alice",
                              "--format", "json", "--resamples", "100").stdout)
    every = json.loads(srft("eval-critic", tmp_path / "d", "--critic", "alice", "--gold", "alice", "--all",
                            "--format", "json", "--resamples", "100").stdout)
    assert (default["critics"][0]["steps"], default["resolved_left_out"]) == (2, 1)
    assert every["critics"][0]["steps"] == 4


def test_gold_with_nothing_in_common_is_one_line(tmp_path, srft):
    trajs = [make_trajectory("x", 3, labels=["correct"], annotator="critic"),
             make_trajectory("y", 3, labels=["correct", "incorrect", "correct"], annotator="alice")]
    trajs[0].verdicts = []
    trajs[1].annotators[0].kind = AnnotatorKind.human
    trajs[0].annotators, trajs[0].verdicts = [Annotator(id="critic", kind=AnnotatorKind.llm)], []
    write_dataset(tmp_path / "d", trajs, storage="jsonl")
    run = srft("eval-critic", tmp_path / "d", "--critic", "critic", "--gold", "alice")
    assert run.code == 1
    assert run.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'd'}: gold annotator 'alice' labeled no step in common with critic 'critic' on "
        "unresolved trajectories (--all for every one); --missing counts steps the critic left unlabeled"]


def test_report_gets_a_critic_section_with_plots(gold_dataset, tmp_path, srft):
    run = srft("report", gold_dataset, "--critic", "alice", "--gold", "alice", "-o", tmp_path / "r.html")
    assert run.code == 0, run.stderr
    page = (tmp_path / "r.html").read_text()
    section = page[page.index("<h2>Critics vs gold alice (unresolved trajectories)</h2>"):]
    assert section.count('src="data:image/png;base64,') == 3
    assert "<td>1.000 [1.00, 1.00]</td>" in section  # alice agrees with herself
    assert srft("report", gold_dataset, "--critic", "alice", "-o", tmp_path / "x.html").code == 2
