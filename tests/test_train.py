"""Training: rejected steps get zero gradient, the loss is the hand-computed one, `srft train` runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from factories import make_trajectory  # noqa: E402

from srft_format.dataset import Dataset, DatasetWriter, copy_dataset, file_sha256, write_dataset  # noqa: E402
from srft_format.models import Annotator, Verdict  # noqa: E402
from srft_format.policy import TrainingPolicy, trained_steps  # noqa: E402
from srft_format.query import open_views  # noqa: E402
from srft_format.stats import compute_stats  # noqa: E402
from srft_format.trainers.collate import IGNORE, Collator, as_row, pack_rows  # noqa: E402
from srft_format.trainers.loading import load_model, load_tokenizer  # noqa: E402
from srft_format.trainers.masks import build_example  # noqa: E402
from srft_format.trainers.tiny import write_tiny_model  # noqa: E402
from srft_format.trainers.train import weighted_nll  # noqa: E402

LABELS = ["correct", "incorrect", "correct", "incorrect"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tokenizer(tiny_model):
    return load_tokenizer(tiny_model)


@pytest.fixture(scope="session")
def model(tiny_model):
    return load_model(tiny_model, dtype=torch.float32)


def srft_example(tokenizer, weights=None, traj_id="t-1", steps=4):
    traj = make_trajectory(traj_id, steps, resolved=False, labels=LABELS[:steps])
    weights = TrainingPolicy("srft").step_weights(traj) if weights is None else weights
    return traj, build_example(traj, tokenizer, weights)


def forward(model, batch):
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "loss_weights")}
    return model(**inputs, use_cache=False).logits


def hand_loss(logits, example, weights_by_token):
    """sum(w * -log p(token | prefix)) / sum(w), one token at a time in float64."""
    total = weight = 0.0
    log_probs = torch.log_softmax(logits[0].double(), dim=-1)
    for t in range(1, len(example.input_ids)):
        if example.labels[t] != IGNORE:
            w = weights_by_token[t]
            total += w * -log_probs[t - 1, example.input_ids[t]].item()
            weight += w
    return total / weight


def test_rejected_steps_get_exactly_zero_gradient(model, tokenizer):
    traj, example = srft_example(tokenizer)
    assert [s.weight for s in example.steps] == [1.0, 0.0, 1.0, 0.0]
    rejected = [s for s in example.steps if s.weight == 0]
    accepted = [s for s in example.steps if s.weight > 0]
    assert all(s.end > s.start for s in example.steps)
    # rejected steps stay in the context: their tool calls are in the input
    rejected_text = tokenizer.decode(example.input_ids[rejected[0].start:rejected[0].end])
    assert "grep -n foo utils.py | head -2" in rejected_text

    batch = Collator(tokenizer.pad_token_id)([as_row(example)])
    logits = forward(model, batch)
    logits.retain_grad()
    total, weight = weighted_nll(logits, batch["labels"], batch["loss_weights"])
    (total / weight).backward()
    grad = logits.grad[0].abs().sum(-1)  # per position; position p predicts token p + 1

    for span in rejected:
        assert torch.count_nonzero(grad[span.start - 1:span.end - 1]) == 0
    for span in accepted:
        assert torch.all(grad[span.start - 1:span.end - 1] > 0)
    predicts_masked = [p for p in range(len(example.input_ids) - 1) if example.labels[p + 1] == IGNORE]
    assert torch.count_nonzero(grad[predicts_masked]) == 0
    assert torch.count_nonzero(grad) == example.trained_tokens


def test_loss_equals_hand_computation_and_transformers_loss(model, tokenizer):
    _, example = srft_example(tokenizer)
    batch = Collator(tokenizer.pad_token_id)([as_row(example)])
    with torch.no_grad():
        logits = forward(model, batch)
        total, weight = weighted_nll(logits, batch["labels"], batch["loss_weights"])
        builtin = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
    ones = [1.0] * len(example.input_ids)
    assert weight.item() == example.trained_tokens
    assert (total / weight).item() == pytest.approx(hand_loss(logits, example, ones), rel=1e-6)
    assert (total / weight).item() == pytest.approx(builtin.item(), rel=1e-6)  # hard policy: plain CE


def test_soft_weights_weigh_each_token_by_its_step(model, tokenizer):
    traj, example = srft_example(tokenizer, weights=[0.25, 0.0, 1.0, 0.5])
    batch = Collator(tokenizer.pad_token_id)([as_row(example)])
    with torch.no_grad():
        logits = forward(model, batch)
        total, weight = weighted_nll(logits, batch["labels"], batch["loss_weights"])
    by_token = [0.0] * len(example.input_ids)
    for span in example.steps:
        by_token[span.start:span.end] = [span.weight] * (span.end - span.start)
    assert (total / weight).item() == pytest.approx(hand_loss(logits, example, by_token), rel=1e-6)
    assert weight.item() == pytest.approx(sum(s.weight * (s.end - s.start) for s in example.steps))


def test_padding_and_packing_do_not_change_the_loss(model, tokenizer):
    _, short = srft_example(tokenizer, weights=[1.0, 0.0], steps=2)
    _, long = srft_example(tokenizer)
    rows = [as_row(short), as_row(long)]
    assert len(rows[0]) < len(rows[1])
    with torch.no_grad():
        alone = [weighted_nll(forward(model, b), b["labels"], b["loss_weights"])
                 for b in (Collator(tokenizer.pad_token_id)([r]) for r in rows)]
        padded_batch = Collator(tokenizer.pad_token_id)(rows)
        padded = weighted_nll(forward(model, padded_batch), padded_batch["labels"],
                              padded_batch["loss_weights"])
        packed_rows = pack_rows(rows, max_length=len(rows[0]) + len(rows[1]) + 5)
        assert len(packed_rows) == 1
        packed_batch = Collator(tokenizer.pad_token_id, packed=True, pad_to_multiple_of=64)(packed_rows)
        packed = weighted_nll(forward(model, packed_batch), packed_batch["labels"],
                              packed_batch["loss_weights"])
    expected_total = sum(t.item() for t, _ in alone)
    expected_weight = sum(w.item() for _, w in alone)
    for total, weight in (padded, packed):
        assert weight.item() == expected_weight
        assert total.item() == pytest.approx(expected_total, rel=1e-5)
    assert pack_rows(rows, max_length=len(rows[1])) == rows  # no room: one example per row


def test_logits_of_trained_positions_only_give_the_same_loss_and_gradients(model, tokenizer):
    from srft_format.trainers.train import next_token_positions

    rows = [as_row(srft_example(tokenizer, steps=2)[1]), as_row(srft_example(tokenizer)[1])]
    batch = Collator(tokenizer.pad_token_id)(rows)
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "loss_weights")}
    positions = next_token_positions(batch["labels"])
    assert 0 < len(positions) < batch["input_ids"].shape[1] // 2  # most positions need no logits
    results = []
    for kept in ({}, {"logits_to_keep": positions}):
        model.zero_grad()
        logits = model(**inputs, use_cache=False, **kept).logits
        total, weight = weighted_nll(logits, batch["labels"], batch["loss_weights"],
                                     kept.get("logits_to_keep"))
        (total / weight).backward()
        results.append((total.item(), weight.item(), [p.grad.clone() for p in model.parameters()]))
    (full_total, full_weight, full_grads), (kept_total, kept_weight, kept_grads) = results
    assert kept_weight == full_weight and kept_total == pytest.approx(full_total, rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(full_grads, kept_grads))


# ------------------------------------------------------------------------------------------ srft train


@pytest.fixture(scope="session")
def critic_dataset(tmp_path_factory, corpus_dataset) -> Path:
    """The converted corpus plus a rule critic's sidecar verdicts: odd steps incorrect, even ones correct."""
    path = tmp_path_factory.mktemp("train") / "critic-dataset"
    copy_dataset(corpus_dataset, path)
    trajectories = list(Dataset.open(path).trajectories())
    with DatasetWriter(path, mode="append") as out:
        out.declare_annotator(Annotator(id="odd-steps", kind="rule"))
        for traj in trajectories:
            for step in traj.steps:
                out.add_verdict(traj.id, Verdict(step=step.index, annotator="odd-steps",
                                                 label="incorrect" if step.index % 2 else "correct"))
    return path


def expected_trained_steps(path: Path, policy: TrainingPolicy) -> int:
    dataset = Dataset.open(path)
    sidecar = dataset.verdicts_by_trajectory()
    return sum(trained_steps(policy.step_weights(t, sidecar.get(t.id, ()))) for t in dataset.trajectories())


@pytest.mark.parametrize("policy", ["sft", "rft", "srft"])
def test_srft_train_runs_three_steps_per_policy(srft, critic_dataset, tiny_model, tmp_path, policy):
    out = tmp_path / "run"
    run = srft("train", critic_dataset, "--model", tiny_model, "--policy", policy, "--unlabeled", "train",
               "-o", out, "--max-steps", "3", "--batch-size", "1", "--max-length", "1100", "--device", "cpu")
    assert run.code == 0, run.stderr
    record = json.loads((out / "run.json").read_text())
    data = record["data"]
    declared = Dataset.open(critic_dataset).manifest.annotators
    assert record["policy"] == TrainingPolicy(policy, unlabeled="train").for_annotators(declared).to_dict()
    assert record["dataset"]["manifest_sha256"] == file_sha256(critic_dataset / "manifest.json")
    assert record["mask_options"] == {"chat_template": None, "tool_calls": "auto", "train_on_eos": True,
                                      "history": "refuse", "use_recorded_tokens": False, "context": "recorded",
                                      "max_length": 1100}
    training_policy = TrainingPolicy(policy, unlabeled="train")
    assert data["trained_steps"] == expected_trained_steps(critic_dataset, training_policy)
    assert 0 < data["trained_steps_in_examples"] <= data["trained_steps"]
    assert sum(data["trained_tokens_by_kind"].values()) == data["trained_tokens"] > 0
    assert sum(data["trained_steps_by_kind"].values()) == data["trained_steps_in_examples"]
    assert record["train"]["steps"] == 3 and all(math.isfinite(x) for x in record["train"]["losses"])
    assert (out / "final" / "config.json").is_file() and (out / "final" / "model.safetensors").is_file()
    assert json.loads(run.stdout)["trained_steps"] == data["trained_steps"]
    # ... and the same number as `srft stats`' training-signal table for that policy
    signal = compute_stats(open_views([str(critic_dataset)], policy=training_policy))
    assert {row["policy"]: row["steps"] for row in signal["training_signal"]}[policy] == data["trained_steps"]


def test_lora_packing_and_gradient_checkpointing(tiny_model, tmp_path):
    from srft_format.trainers.train import TrainConfig, train

    dataset = tmp_path / "ds"
    write_dataset(dataset, [make_trajectory(f"t-{i}", 4, resolved=False, labels=LABELS) for i in range(3)])
    config = TrainConfig(model=str(tiny_model), output=str(tmp_path / "run"), max_steps=2, batch_size=2,
                         lora=True, lora_rank=4, gradient_checkpointing=True, packing=True, device="cpu")
    lines: list[str] = []
    run = train(str(dataset), TrainingPolicy("srft"), config, log=lines.append)
    assert "3 examples from 3 trajectories; policy srft trains 6/12 steps" in lines[0]
    assert "1 rows" in lines[0]  # packed
    assert run["train"]["steps"] == 2 and run["checkpoints"] == ["final"]
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["lora"] is True


def test_nothing_to_train_is_one_clear_error(srft, tiny_model, tmp_path):
    dataset = tmp_path / "ds"
    write_dataset(dataset, [make_trajectory("t-0", 2, resolved=False)])
    run = srft("train", dataset, "--model", tiny_model, "--policy", "rft", "-o", tmp_path / "run")
    assert run.code == 1
    assert run.stderr.strip().splitlines() == [
        f"error: {dataset}: policy 'rft' trains no token of this dataset (1 trajectories, 0 trained steps)"]
    assert not (tmp_path / "run").exists()


def test_a_template_refusal_names_the_dataset_and_trajectory(srft, tiny_model, tmp_path):
    dataset = tmp_path / "ds"
    write_dataset(dataset, [make_trajectory("t-0", 2, resolved=True)])
    run = srft("train", dataset, "--model", tiny_model, "--tool-calls", "native", "-o", tmp_path / "run")
    assert run.code == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"error: {dataset}: trajectory t-0") and "does not render tool calls" in line


def test_the_fsdp_config_is_a_ready_accelerate_config():
    from importlib.resources import files

    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(files("srft_format.trainers") / "configs" / "fsdp.yaml"))
    assert config.distributed_type.value == "FSDP" and config.mixed_precision == "bf16"
    # checkpoints gather the full state dict, so they load with from_pretrained
    assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


@pytest.mark.slow
def test_real_smollm2_from_gguf_trains_two_steps(srft, tmp_path):
    """The real SmolLM2-135M-Instruct (GGUF, dequantised): its loss is far below a random model's ~10.8."""
    from srft_format.trainers.loading import bundled_smollm2

    dataset = tmp_path / "ds"
    write_dataset(dataset, [make_trajectory(f"t-{i}", 4, resolved=False, labels=LABELS) for i in range(2)])
    out = tmp_path / "run"
    run = srft("train", dataset, "--model", bundled_smollm2(), "--policy", "srft", "-o", out,
               "--max-steps", "2", "--batch-size", "2", "--lr", "1e-5", "--device", "cpu")
    assert run.code == 0, run.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["data"]["trained_steps"] == 4 and record["train"]["steps"] == 2
    assert all(math.isfinite(x) and x < 8 for x in record["train"]["losses"])
    assert (out / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_two_process_ddp_step_equals_one_process_step(tiny_model, tmp_path):
    """torchrun with 2 CPU processes x batch 2 updates the weights exactly as 1 process x batch 4: the loss is
    normalised by the trained weight of the whole batch across processes."""
    import subprocess
    import sys

    from safetensors.torch import load_file

    dataset = tmp_path / "ds"
    write_dataset(dataset, [make_trajectory(f"t-{i}", 2 + i % 3, resolved=i == 0, labels=LABELS[:2 + i % 3])
                            for i in range(8)])
    common = ["train", str(dataset), "--model", str(tiny_model), "--policy", "srft", "--max-steps", "1",
              "--lr", "1e-3", "--device", "cpu"]
    single = subprocess.run([sys.executable, "-m", "srft_format.cli.main", *common,
                             "-o", str(tmp_path / "one"), "--batch-size", "4"],
                            capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m",
                          "srft_format.cli.main", *common, "-o", str(tmp_path / "two"), "--batch-size", "2"],
                         capture_output=True, text=True)
    assert ddp.returncode == 0, ddp.stderr
    one, two = (json.loads((tmp_path / d / "run.json").read_text())["train"] for d in ("one", "two"))
    assert one["trained_tokens"] == two["trained_tokens"]  # the same 4 rows (padding differs)
    assert two["losses"][0] == pytest.approx(one["losses"][0], rel=1e-5)
    start = load_file(tiny_model / "model.safetensors")
    a, b = (load_file(tmp_path / d / "final" / "model.safetensors") for d in ("one", "two"))
    assert max((a[k] - start[k]).abs().max().item() for k in a) > 1e-4  # the step did move the weights
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6


# ------------------------------------------------------------------------- resuming, gradient accumulation


@pytest.fixture(scope="session")
def dropout_model(tmp_path_factory) -> Path:
    """The tiny model with attention dropout: its losses depend on the RNG stream, which a resume must restore."""
    return write_tiny_model(tmp_path_factory.mktemp("tiny-dropout") / "model", attention_dropout=0.2)


def small_dataset(path: Path, n: int) -> Path:
    write_dataset(path, [make_trajectory(f"t-{i}", 2 + i % 3, resolved=i == 0, labels=LABELS[:2 + i % 3])
                         for i in range(n)])
    return path


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_losses_of_an_uninterrupted_one(dropout_model, tmp_path):
    """Kill -9 after step 5 of 8 (checkpoints every 2 steps), resume: the 8 losses and the final weights are those
    of a run that never stopped (3 batches per epoch, so the resumed run also crosses epochs)."""
    import signal
    import subprocess
    import sys

    from safetensors.torch import load_file

    from srft_format.trainers.train import TrainConfig, resume, train

    dataset = small_dataset(tmp_path / "ds", 6)
    options = dict(model=str(dropout_model), max_steps=8, batch_size=2, lr=1e-3, warmup_steps=2, save_every=2,
                   device="cpu", max_length=1024)
    whole = train(str(dataset), TrainingPolicy("srft"), TrainConfig(output=str(tmp_path / "whole"), **options),
                  log=lambda line: None)

    killed = tmp_path / "killed"
    args = ["train", str(dataset), "-o", str(killed), "--policy", "srft"] + [
        f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    proc = subprocess.Popen([sys.executable, "-m", "srft_format.cli.main", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        if line.startswith("step 5/8"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (killed / "final").exists()
    assert (killed / "checkpoint-4" / "training_state.0.pt").is_file()
    assert not (tmp_path / "whole" / "final" / "training_state.0.pt").exists()  # nothing resumes a finished run

    lines: list[str] = []
    resumed = resume(killed, log=lines.append)
    assert any(line.startswith("resuming from checkpoint-") for line in lines)
    assert resumed["train"]["steps"] == 8 and resumed["resumed"]
    assert resumed["train"]["losses"] == pytest.approx(whole["train"]["losses"], abs=1e-5)
    assert resumed["train"]["trained_tokens"] == whole["train"]["trained_tokens"]
    a, b = (load_file(d / "final" / "model.safetensors") for d in (tmp_path / "whole", killed))
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6
    record = json.loads((killed / "run.json").read_text())
    assert record["checkpoints"][-1] == "final" and record["train"]["losses"] == resumed["train"]["losses"]


def test_resume_refuses_a_finished_run_and_a_run_without_checkpoints(srft, tmp_path):
    (tmp_path / "done" / "final").mkdir(parents=True)
    run = srft("train", "--resume", tmp_path / "done")
    assert run.code == 1 and "this run finished (final/ is written): nothing to resume" in run.stderr
    (tmp_path / "empty").mkdir()
    run = srft("train", "--resume", tmp_path / "empty")
    assert run.code == 1 and "no checkpoint with a training state" in run.stderr
    run = srft("train", "--resume", tmp_path / "empty", "--lr", "1")
    assert run.code == 2 and "drop lr" in run.stderr


@pytest.mark.slow
def test_gradient_accumulation_equals_a_larger_batch(tiny_model, tmp_path):
    """2 steps of 2 batches x 2 rows update the weights as 2 steps of 1 batch x 4 rows (the same 8 rows)."""
    from srft_format.trainers.train import TrainConfig, train

    dataset = small_dataset(tmp_path / "ds", 8)
    runs = {}
    for name, batch, accum in (("big", 4, 1), ("accum", 2, 2)):
        config = TrainConfig(model=str(tiny_model), output=str(tmp_path / name), max_steps=2, batch_size=batch,
                             grad_accum=accum, lr=1e-3, device="cpu", max_length=1024)
        runs[name] = train(str(dataset), TrainingPolicy("srft"), config, log=lambda line: None)["train"]
    assert runs["big"]["trained_tokens"] == runs["accum"]["trained_tokens"]
    assert runs["accum"]["losses"] == pytest.approx(runs["big"]["losses"], rel=1e-5)
    from safetensors.torch import load_file

    start = load_file(tiny_model / "model.safetensors")
    a, b = (load_file(tmp_path / name / "final" / "model.safetensors") for name in ("big", "accum"))
    assert max((a[k] - start[k]).abs().max().item() for k in a) > 1e-4
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6
