"""`srft experiment`: a task split that never leaks, runs that resume, and the margin ordering SRFT predicts.

The dataset is derived from the real corpus (tests/experiment_data.py): rejected steps are a marker phrase,
so SFT, which trains on them, must find them likelier on held-out trajectories than SRFT, which masks them:
SFT's margin (accepted − rejected) comes out below SRFT's, and the paired interval excludes 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from experiment_data import write_marker_dataset  # noqa: E402

from srft_format.converters.pipeline import convert_paths  # noqa: E402
from srft_format.dataset import Dataset, file_sha256  # noqa: E402
from srft_format.errors import SrftError  # noqa: E402
from srft_format.policy import TrainingPolicy  # noqa: E402
from srft_format.query import open_views  # noqa: E402
from srft_format.report_experiment import experiment_section, interval_text  # noqa: E402
from srft_format.split import GROUP_KEYS  # noqa: E402
from srft_format.stats import compute_stats  # noqa: E402
from srft_format.trainers.experiment import Experiment, Settings, rerun_argv  # noqa: E402
from srft_format.trainers.tiny import write_tiny_model  # noqa: E402

TRAIN = {"max_steps": 10, "batch_size": 4, "lr": 1e-2, "warmup_steps": 0, "max_length": 1024, "bf16": False,
         "gradient_checkpointing": False, "lora": False, "lora_rank": 16, "packing": False, "device": "cpu"}
POLICY = {"annotators": [], "resolution": "priority", "threshold": 0.5, "unlabeled": "mask", "soft": False}
MASKS = {"chat_template": None, "tool_calls": "auto", "train_on_eos": True, "history": "refuse",
         "use_recorded_tokens": False}


@pytest.fixture(scope="module")
def marker_dataset(corpus, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("experiment")
    # the corpus also holds files that are no trajectories (reports, raw LLM calls): listed, not converted
    summary = convert_paths([str(corpus)], root / "corpus", on_error="skip")
    assert summary.trajectories > 30
    return write_marker_dataset(root / "corpus", root / "marker")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def settings(dataset: Path, model: Path, **changes) -> Settings:
    base = dict(dataset=str(dataset), model=str(model), tokenizer=None, policies=("sft", "srft"), seeds=(0, 1),
                train=dict(TRAIN), policy_options=dict(POLICY), mask_options=dict(MASKS), draws=500)
    return Settings(**{**base, **changes})


@pytest.mark.slow
def test_killed_experiment_resumes_and_finds_sft_margin_below_srft(marker_dataset, tiny, tmp_path):
    # `srft experiment` as a user runs it, killed with SIGKILL mid-training of its second run (srft:0)
    argv = rerun_argv(settings(marker_dataset, tiny), tmp_path / "exp")[2:]
    proc = subprocess.Popen([sys.executable, "-m", "srft_format.cli.main", "experiment", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    fifth_steps = 0
    for line in proc.stderr:
        fifth_steps += line.startswith("step 5/")
        if fifth_steps == 2:
            proc.kill()  # SIGKILL: nothing of the process runs after it
            break
    assert proc.wait() == -9
    exp = Experiment.open(tmp_path / "exp")
    first, second = exp.runs[0], exp.runs[1]
    assert [exp.status(r) for r in exp.runs] == ["done", "pending", "pending", "pending"]
    kept = {p: p.stat().st_mtime_ns for p in (exp.run_dir(first) / "run.json", exp.run_dir(first) / "eval.json")}

    # the split never leaks a task, and every trajectory is in exactly one part
    parts = {name: list(Dataset.open(exp.split_dir / name).trajectories()) for name in ("train", "test")}
    tasks = {name: {GROUP_KEYS["task"](t) for t in trajs} for name, trajs in parts.items()}
    assert tasks["train"] and tasks["test"] and not tasks["train"] & tasks["test"]
    source = list(Dataset.open(marker_dataset).trajectories())
    assert sorted(t.id for ts in parts.values() for t in ts) == sorted(t.id for t in source)
    assert len({t.task.instance_id for t in source}) < len(source)  # some tasks have several trajectories
    record = json.loads(exp.record_path.read_text())
    assert record["split"]["tasks_in_both"] == 0
    assert record["split"]["parts"]["test"]["manifest_sha256"] == file_sha256(exp.split_dir / "test/manifest.json")
    assert record["dataset"]["manifest_sha256"] == file_sha256(marker_dataset / "manifest.json")
    assert record["rerun"][:3] == ["srft", "experiment", str(marker_dataset)]

    # another setting refuses to resume; the same settings resume at the first unfinished run
    with pytest.raises(SrftError, match="was run with train=.*'lr': 0.01"):
        Experiment(exp.root, settings(marker_dataset, tiny, train={**TRAIN, "lr": 1e-3})).run_all(print)
    lines: list[str] = []
    resumed = Experiment.open(exp.root)
    resumed.run_all(lines.append)
    assert lines[0] == f"[1/4] {first.key}: done, kept"
    assert f"[2/4] {second.key}: training" in lines
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert all(resumed.status(r) == "done" for r in resumed.runs)

    results = resumed.collect()
    held = results["held_out"]
    test_ids = [t.id for t in parts["test"]]
    assert held["trajectories"] == len(test_ids) and held["steps"]["rejected"] > 0
    assert sum(held["skipped_steps"].values()) == 0
    evaluated = json.loads((resumed.run_dir(first) / "eval.json").read_text())
    assert [t["id"] for t in evaluated["trajectories"]] == test_ids

    sft, srft = (results["policies"][p]["figures"]["margin"] for p in ("sft", "srft"))
    assert sft["low"] <= sft["mean"] <= sft["high"] and srft["low"] <= srft["mean"] <= srft["high"]
    assert sft["mean"] < srft["mean"]
    difference = results["differences"]["srft-sft"]
    assert difference["seeds"] == [0, 1]
    assert difference["figures"]["margin"]["low"] > 0  # the whole interval says SRFT's margin is larger
    # SFT learned the rejected marker: it finds rejected actions likelier than SRFT does
    assert difference["figures"]["rejected"]["high"] < 0
    for run in results["runs"]:
        assert run["status"] == "done" and run["train"]["steps"] == TRAIN["max_steps"]
        assert run["figures"]["margin"]["low"] <= run["figures"]["margin"]["high"]
    # the `srft report --experiment` section: the table and two plots
    section = experiment_section(json.loads(json.dumps(results)))
    assert section.count("data:image/png;base64,") == 2
    assert f"<td>{interval_text(results['policies']['srft']['figures']['margin'])}</td>" in section
    # trained steps per policy are `srft stats`' numbers for the train split
    signal = compute_stats(open_views([str(exp.split_dir / "train")], policy=TrainingPolicy("srft")))
    steps = {row["policy"]: row["steps"] for row in signal["training_signal"]}
    assert {p: results["policies"][p]["trained_steps"] for p in ("sft", "srft")} == \
        {"sft": steps["sft"], "srft": steps["srft"]}


@pytest.mark.slow
def test_a_diverged_run_is_reported_never_averaged(srft, marker_dataset, tiny, tmp_path):
    out = tmp_path / "exp"
    common = [marker_dataset, "--model", tiny, "-o", out, "--policies", "srft", "--seeds", "1", "--max-steps", "3",
              "--lr", "1e30", "--device", "cpu", "--max-length", "512"]
    run = srft("experiment", *common, "--dry-run")
    assert run.code == 0, run.stderr
    assert "srft:0 (pending)" in run.stdout and "budget: 1 runs, 3 optimizer steps" in run.stdout
    assert not out.exists()  # a dry run writes nothing
    run = srft("experiment", *common, "--format", "json")
    assert run.code == 0, run.stderr
    results = json.loads(run.stdout)
    (entry,) = results["runs"]
    assert entry["status"] == "diverged" and entry["train"]["diverged"]["loss"] in ("nan", "inf")
    assert results["policies"]["srft"]["finished"] == 0 and results["policies"]["srft"]["diverged"] == [0]
    assert results["policies"]["srft"]["figures"]["margin"]["mean"] is None
    table = srft("experiment", "-o", out, "--collect")
    assert table.code == 0, table.stderr
    assert "srft seed 0: diverged (loss" in table.stdout and "left out of the means" in table.stdout


def test_the_accelerate_launcher_runs_srft_train_with_the_experiment_settings(tmp_path):
    """Each run's `accelerate launch ... srft train` command parses to the settings the local launcher uses."""
    from srft_format.cli.train import train as train_command

    exp = Experiment(tmp_path / "exp", settings(tmp_path / "ds", tmp_path / "m", policy_options={
        **POLICY, "annotators": ["a", "b"], "unlabeled": "train"}, mask_options={**MASKS, "train_on_eos": False}))
    run = exp.runs[1]
    argv = exp.train_argv(run, ["--num_processes", "2"])
    assert argv[1:5] == ["-m", "accelerate.commands.launch", "--num_processes", "2"]
    assert argv[5:9] == ["-m", "srft_format.cli.main", "train", str(exp.split_dir / "train")]
    (tmp_path / "exp" / "split" / "train").mkdir(parents=True)
    ctx = train_command.make_context("train", argv[8:])
    params = ctx.params
    assert params["policy"] == run.policy and params["seed"] == run.seed and params["output"] == str(exp.run_dir(run))
    assert params["annotators"] == ("a", "b") and params["unlabeled"] == "train" and params["train_on_eos"] is False
    assert {k: params[k] for k in TRAIN} == TRAIN
