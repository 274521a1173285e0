"""The offline evaluation of `srft experiment` against one plain forward pass over the same held-out tokens.

    python bench/experiment.py                                  # tiny random model, CPU
    python bench/experiment.py --model SmolLM2.gguf --device cuda --trajectories 64

- ``forward``: the held-out examples (same batches, same padding) through ``model(input_ids,
  attention_mask)`` once, full logits, no gradient: the floor any evaluation pays.
- ``evaluate``: :func:`srft_format.trainers.evaluate.score`: logits at the scored positions only, log-softmax,
  gather, per-step sums by category (accepted / rejected / resolved).

Goal: evaluate / forward <= 1.5. The two take turns after a warm-up; medians are printed with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import synthetic_trajectory  # noqa: E402  (bench/train.py: unresolved, odd steps rejected)

from srft_format.dataset import Dataset, write_dataset  # noqa: E402
from srft_format.policy import VerdictPolicy  # noqa: E402
from srft_format.trainers.collate import Collator, as_row  # noqa: E402
from srft_format.trainers.evaluate import mask_held_out, score  # noqa: E402
from srft_format.trainers.loading import load_model, load_tokenizer  # noqa: E402
from srft_format.trainers.tiny import write_tiny_model  # noqa: E402


def plain_forward(model, held, pad_id: int, batch_size: int, device: str) -> float:
    """Seconds for one no-grad forward pass (full logits) over the held-out examples, batched as ``score``."""
    collate = Collator(pad_id)
    order = sorted(range(len(held.examples)), key=lambda i: len(held.examples[i].input_ids))
    started = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(order), batch_size):
            batch = collate([as_row(held.examples[i]) for i in order[first:first + batch_size]])
            model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                  use_cache=False).logits.float().sum().item()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model directory or .gguf (default: a tiny random Llama)")
    parser.add_argument("--trajectories", type=int, default=24)
    parser.add_argument("--steps", type=int, default=10, help="steps per trajectory")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model or write_tiny_model(Path(tmp) / "tiny")
        write_dataset(Path(tmp) / "held-out", [synthetic_trajectory(i, args.steps) for i in range(args.trajectories)])
        tokenizer = load_tokenizer(model_path)
        held = mask_held_out(Dataset.open(Path(tmp) / "held-out"), tokenizer, VerdictPolicy())
        model = load_model(model_path, dtype=torch.float32).eval().to(args.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    scored = sum(len(c) for c in held.categories)
    print(f"held out: {len(held.examples)} examples, {held.tokens} tokens, {scored} scored steps; "
          f"batch {args.batch_size}, device {args.device}")

    plain_forward(model, held, pad, args.batch_size, args.device)  # warm-up
    score(model, held, pad, args.batch_size, args.device)
    forward, evaluate = [], []
    for _ in range(args.repeats):
        forward.append(plain_forward(model, held, pad, args.batch_size, args.device))
        evaluate.append(score(model, held, pad, args.batch_size, args.device)["seconds"])
    f, e = statistics.median(forward), statistics.median(evaluate)
    print(f"forward   {f:.3f}s  ({held.tokens / f:,.0f} tokens/s)")
    print(f"evaluate  {e:.3f}s  ({held.tokens / e:,.0f} tokens/s)")
    print(f"ratio evaluate / forward = {e / f:.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
