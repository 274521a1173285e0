"""Does training work on this device (CPU or GPU)? ``srft train`` end to end, and the zero-gradient property.

    python bench/train_check.py                                   # CPU (or the GPU, when there is one)
    python bench/train_check.py --device cuda --bf16 --hidden-size 512 --layers 4 --steps 40

1. ``gradients``: on the device (and under bf16 autocast with ``--bf16``), one padded batch of SRFT-masked
   examples whose odd steps a critic rejected: the gradient of the logits is exactly zero at every position
   whose next token belongs to a rejected step (or to a prompt / observation / padding), non-zero at every
   trained one; the ``logits_to_keep`` path gives the same loss. The logic of ``tests/test_train.py``.
2. ``srft train``: the real command line (a subprocess) on a random Llama of the given shape and a synthetic
   dataset (``bench/train.py``'s trajectories, resolved and unresolved), ``--policy srft``, ``--lr 1e-3`` so
   that a random model visibly learns: every loss finite, the last losses below the first, ``run.json`` and
   ``final/`` written; prints steps/s and tokens/s.

Exits non-zero on the first failed check. ``--workdir`` keeps the model, the dataset and the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from transformers.utils.logging import disable_progress_bar

from train import synthetic_trajectory, tiny_shape  # bench/train.py

from srft_format.dataset import write_dataset
from srft_format.models import Outcome
from srft_format.policy import TrainingPolicy
from srft_format.trainers.collate import IGNORE, Collator, as_row
from srft_format.trainers.loading import load_model, load_tokenizer
from srft_format.trainers.masks import build_example
from srft_format.trainers.tiny import write_tiny_model
from srft_format.trainers.train import next_token_positions, weighted_nll


def device(args: argparse.Namespace) -> str:
    """``srft train --device``: ``cuda`` or ``cpu``."""
    return "cuda" if args.device.startswith("cuda") else "cpu"


def check(condition: bool, what: str) -> None:
    print(f"  {'ok  ' if condition else 'FAIL'} {what}", flush=True)
    if not condition:
        sys.exit(f"check failed: {what}")


def gradients(model_path: Path, args: argparse.Namespace) -> None:
    """The logits' gradient is exactly zero wherever the next token is untrained (rejected steps included)."""
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, dtype=torch.float32).to(args.device)
    model.config.use_cache = False
    examples = [build_example(t, tokenizer, TrainingPolicy("srft").step_weights(t))  # rows of unequal length
                for t in (synthetic_trajectory(i, steps) for i, steps in enumerate((4, 6, 3)))]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch = {k: v.to(args.device) for k, v in Collator(pad)([as_row(e) for e in examples]).items()}
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "loss_weights")}
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16) if args.bf16 else nullcontext()

    with autocast:
        logits = model(**inputs).logits
    logits.retain_grad()
    total, weight = weighted_nll(logits, batch["labels"], batch["loss_weights"])
    (total / weight).backward()
    grad = logits.grad.abs().sum(-1).cpu()  # [row, position]; position p predicts token p + 1
    print(f"gradients on {args.device} ({logits.dtype} logits): batch {tuple(batch['input_ids'].shape)}")

    rejected = accepted = 0
    for row, example in enumerate(examples):
        for span in example.steps:
            g = grad[row, span.start - 1:span.end - 1]
            if span.weight == 0:
                rejected += span.end - span.start
                check(torch.count_nonzero(g) == 0, f"row {row}: rejected step {span.step}: "
                      f"{span.end - span.start} tokens, zero gradient")
            else:
                accepted += span.end - span.start
                check(bool(torch.all(g > 0)), f"row {row}: trained step {span.step}: "
                      f"{span.end - span.start} tokens, non-zero gradient")
    labels = batch["labels"][:, 1:].cpu()
    check(torch.count_nonzero(grad[:, :-1][labels == IGNORE]) == 0,
          f"every position whose next token is masked ({int((labels == IGNORE).sum())}, padding included): "
          "zero gradient")
    trained = sum(e.trained_tokens for e in examples)
    check(int(torch.count_nonzero(grad)) == trained == accepted,
          f"{trained} positions with a gradient = the trained tokens; "
          f"{rejected} rejected-step tokens in the context")

    positions = next_token_positions(batch["labels"])
    with torch.no_grad(), autocast:
        kept = model(**inputs, logits_to_keep=positions).logits
    kept_total, kept_weight = weighted_nll(kept, batch["labels"], batch["loss_weights"], positions)
    full, part = (total / weight).item(), (kept_total / kept_weight).item()
    close = math.isclose(full, part, rel_tol=1e-2 if args.bf16 else 1e-5)
    check(kept_weight.item() == weight.item() and close,
          f"logits_to_keep ({len(positions)} of {batch['input_ids'].shape[1]} positions): loss {part:.5f} "
          f"= full logits' {full:.5f}")


def dataset(path: Path, count: int, steps: int) -> None:
    """``count`` trajectories: every third resolved, the others unresolved with their odd steps rejected."""
    trajs = []
    for i in range(count):
        traj = synthetic_trajectory(i, steps)
        if i % 3 == 0:
            traj = traj.model_copy(update={"outcome": Outcome(resolved=True), "verdicts": []})
        trajs.append(traj)
    write_dataset(path, trajs)


def train(model_path: Path, data: Path, out: Path, args: argparse.Namespace) -> None:
    """``srft train`` as a user runs it; checks the losses and the run directory."""
    command = [sys.executable, "-m", "srft_format.cli.main", "train", str(data), "--model", str(model_path),
               "--policy", "srft", "-o", str(out), "--max-steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
               "--lr", "1e-3", "--warmup-steps", "2", "--device", device(args)]
    if args.bf16:
        command.append("--bf16")
    print("$ srft " + " ".join(command[3:]), flush=True)
    started = time.perf_counter()
    # run from the work folder: `python -m` puts the current folder first on sys.path, and the repo root's
    # srft_format/ is not the installed package (the trainers and the CLI live in other folders of the repo)
    proc = subprocess.run(command, capture_output=True, text=True, cwd=out.parent)
    wall = time.perf_counter() - started
    lines = proc.stderr.strip().splitlines()
    lines = [line for line in lines if "it/s]" not in line and line.strip()]  # no progress bars
    for line in lines if len(lines) <= 12 else [*lines[:6], "...", *lines[-5:]]:
        print("  | " + line)
    check(proc.returncode == 0, f"srft train exits 0 (got {proc.returncode}) in {wall:.1f} s")
    run = json.loads((out / "run.json").read_text())
    record, losses = run["train"], run["train"]["losses"]
    check(record["steps"] == args.steps and len(losses) == args.steps, f"{args.steps} optimizer steps")
    check(all(math.isfinite(x) for x in losses), "every loss finite")
    k = max(1, min(5, args.steps // 4))
    first, last = statistics.mean(losses[:k]), statistics.mean(losses[-k:])
    check(last < first, f"loss decreases: mean of the first {k} {first:.3f} -> of the last {k} {last:.3f}")
    check((out / "final" / "model.safetensors").is_file(), "final/model.safetensors written")
    config = run["config"]
    check(config["device"] == device(args) and config["bf16"] == args.bf16,
          f"run.json: device {config['device']}, bf16 {config['bf16']}")
    data_ = run["data"]
    print(f"srft train: {data_['trained_steps']}/{data_['steps']} steps trained, {record['tokens']} tokens "
          f"({record['trained_tokens']} trained) in {record['seconds']:.2f} s of loop: "
          f"{record['steps'] / record['seconds']:.2f} steps/s, "
          f"{record['tokens'] / record['seconds']:.0f} tokens/s "
          f"(the first step included); losses {losses[0]:.3f} -> {losses[-1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 (autocast; srft train --bf16)")
    parser.add_argument("--tokenizer", help="tokenizer of the random model (default: SmolLM2's)")
    parser.add_argument("--hidden-size", type=int, help="width of the random model (default 64)")
    parser.add_argument("--layers", type=int, help="depth of the random model (default 2)")
    parser.add_argument("--steps", type=int, default=20, help="srft train --max-steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--trajectories", type=int, default=24)
    parser.add_argument("--steps-per-trajectory", type=int, default=8)
    parser.add_argument("--workdir", help="keep the model, dataset and run here (default: a temporary one)")
    args = parser.parse_args()
    disable_progress_bar()

    with tempfile.TemporaryDirectory(prefix="srft-check-") as tmp:
        work = Path(args.workdir or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        shape = tiny_shape(args.hidden_size, args.layers)
        model_path = write_tiny_model(work / "model", args.tokenizer, **shape)
        print(f"torch {torch.__version__}, device {args.device}"
              + (f" [{torch.cuda.get_device_name(args.device)}]" if args.device.startswith("cuda") else "")
              + f"; random Llama {shape or 'tiny'}", flush=True)
        gradients(model_path, args)
        dataset(work / "dataset", args.trajectories, args.steps_per_trajectory)
        train(model_path, work / "dataset", work / "run", args)
        if args.device.startswith("cuda"):
            peak = torch.cuda.max_memory_allocated() / 2**20
            print(f"peak GPU memory of the gradient check: {peak:.0f} MiB")
    print("all checks passed")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
