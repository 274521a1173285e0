"""Training step time: plain SFT batches vs. SRFT-masked batches, same model, same tokens.

    python bench/train.py                                   # tiny random model, CPU, fp32
    python bench/train.py --model SmolLM2.gguf --bf16 --device cuda --batch-size 8 --max-length 2048
    python bench/train.py --hidden-size 1024 --layers 8 --bf16 --device cuda   # a bigger random model

Both sides train on the same trajectories rendered by the same chat template, so the token ids are identical;
only the masks and the loss differ:

- ``sft``: the usual SFT recipe. Labels = the ids of every assistant turn, transformers'
  ``DataCollatorForSeq2Seq`` padding, and the model's built-in cross-entropy (``model(..., labels=...)``).
- ``srft``: srft's masks for the ``srft`` policy (rejected steps masked, kept in context), srft's
  :class:`~srft_format.trainers.collate.Collator` and its weighted loss (``weighted_nll``), full logits:
  the cost of the masks alone (goal: ratio 1.0 within noise).
- ``srft-kept``: the same, as ``srft train`` runs it: logits only at the positions whose next token is trained
  (``logits_to_keep``), which spares most of the vocabulary projection on agent data.

The variants take turns (after warm-up) so drift hits all alike; the median step time, tokens/s and the ratio
to ``sft`` are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from srft_format.models import (FORMAT_VERSION, Action, Annotator, Message, Outcome, Step, ToolCall,
                                Trajectory, Verdict)
from srft_format.policy import TrainingPolicy
from srft_format.trainers.collate import Collator, as_row
from srft_format.trainers.loading import load_model, load_tokenizer
from srft_format.trainers.masks import MaskOptions, build_example
from srft_format.trainers.tiny import write_tiny_model
from srft_format.trainers.train import next_token_positions, weighted_nll


def synthetic_trajectory(index: int, steps: int) -> Trajectory:
    """An unresolved tool-calling trajectory whose odd steps a critic rejected."""
    messages = [Message(role="system", content="You are a software engineering agent."),
                Message(role="user", content=f"Issue {index}: the parser drops trailing commas. Fix it.")]
    step_list, verdicts = [], []
    for s in range(steps):
        call = ToolCall(id=f"c{index}-{s}", name="bash",
                        arguments=json.dumps({"command": f"grep -rn 'comma' src/parser_{s}.py | head -20"}))
        messages.append(Message(role="assistant", tool_calls=[call],
                                content=f"Step {s}: I will look at parser_{s}.py for the bug."))
        messages.append(Message(role="tool", tool_call_id=call.id,
                                content=f"src/parser_{s}.py:{s}: x = y,\n" * 8))
        step_list.append(Step(index=s, output=len(messages) - 2, observations=[len(messages) - 1],
                              actions=[Action(kind="bash", tool="bash", tool_call_id=call.id)]))
        verdicts.append(Verdict(step=s, annotator="critic", label="incorrect" if s % 2 else "correct"))
    return Trajectory(format_version=FORMAT_VERSION, id=f"bench-{index}", outcome=Outcome(resolved=False),
                      messages=messages, steps=step_list,
                      annotators=[Annotator(id="critic", kind="rule")], verdicts=verdicts)


def tiny_shape(hidden_size: int | None, layers: int | None) -> dict[str, int]:
    """``write_tiny_model`` overrides for a random Llama of that width and depth (64-dim heads, 2 queries per
    key/value head, MLP 3x wide); ``{}``: the default tiny shape."""
    shape: dict[str, int] = {}
    if hidden_size:
        heads = max(1, hidden_size // 64)
        shape.update(hidden_size=hidden_size, intermediate_size=3 * hidden_size, num_attention_heads=heads,
                     num_key_value_heads=max(1, heads // 2))
    if layers:
        shape["num_hidden_layers"] = layers
    return shape


def batches(tokenizer, args):
    """The same trajectories as an ``sft`` batch (HF collator) and an ``srft`` batch (srft collator)."""
    from transformers import DataCollatorForSeq2Seq

    trajs = [synthetic_trajectory(i, args.steps_per_trajectory) for i in range(args.batch_size)]
    options = MaskOptions(max_length=args.max_length)
    sft = [build_example(t, tokenizer, TrainingPolicy("sft").step_weights(t), options) for t in trajs]
    srft = [build_example(t, tokenizer, TrainingPolicy("srft").step_weights(t), options) for t in trajs]
    assert [e.input_ids for e in sft] == [e.input_ids for e in srft], "both sides must see the same tokens"
    hf = DataCollatorForSeq2Seq(tokenizer, padding=True, return_tensors="pt")
    sft_batch = hf([{"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels}
                    for e in sft])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    srft_batch = Collator(pad)([as_row(e) for e in srft])
    return dict(sft_batch), srft_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model directory or .gguf (default: a tiny random Llama)")
    parser.add_argument("--tokenizer", help="default: the model's (the random model's: SmolLM2's)")
    parser.add_argument("--hidden-size", type=int, help="width of the random model (default 64)")
    parser.add_argument("--layers", type=int, help="depth of the random model (default 2)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--steps-per-trajectory", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=10, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="srft-bench-") as tmp:
        shape = tiny_shape(args.hidden_size, args.layers)
        run(args, args.model or write_tiny_model(tmp, args.tokenizer, **shape))


def run(args: argparse.Namespace, model_path: str | Path) -> None:
    tokenizer = load_tokenizer(args.tokenizer or model_path)
    model = load_model(model_path, dtype=torch.float32, trainable=True).to(args.device)
    model.config.use_cache = False
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    sft_batch, srft_batch = batches(tokenizer, args)
    sft_batch = {k: v.to(args.device) for k, v in sft_batch.items()}
    srft_batch = {k: v.to(args.device) for k, v in srft_batch.items()}
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16) if args.bf16 else nullcontext()

    inputs = {k: v for k, v in srft_batch.items() if k not in ("labels", "loss_weights")}
    positions = next_token_positions(srft_batch["labels"])

    def sft_loss():
        return model(**sft_batch).loss

    def srft_loss():
        logits = model(**inputs).logits
        total, weight = weighted_nll(logits, srft_batch["labels"], srft_batch["loss_weights"])
        return total / weight

    def srft_kept_loss():
        logits = model(**inputs, logits_to_keep=positions).logits
        total, weight = weighted_nll(logits, srft_batch["labels"], srft_batch["loss_weights"], positions)
        return total / weight

    def step(loss_fn) -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = loss_fn()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    variants = {"sft": sft_loss, "srft": srft_loss, "srft-kept": srft_kept_loss}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(args.warmup + args.iterations):
        order = list(variants.items())
        for name, fn in order[i % 3:] + order[:i % 3]:  # rotate, so drift hits every variant alike
            elapsed = step(fn)
            if i >= args.warmup:
                times[name].append(elapsed)

    tokens = sft_batch["input_ids"].numel()
    srft_trained = int((srft_batch["labels"] != -100).sum())
    trained = {"sft": int((sft_batch["labels"] != -100).sum()), "srft": srft_trained, "srft-kept": srft_trained}
    precision = "bf16" if args.bf16 else "fp32"
    device = f" [{torch.cuda.get_device_name(args.device)}]" if args.device.startswith("cuda") else ""
    params = sum(p.numel() for p in model.parameters())
    length = sft_batch["input_ids"].shape[1]
    print(f"model {model_path} ({params / 1e6:.1f}M parameters) on {args.device}{device} ({precision}); "
          f"batch {args.batch_size} x {length} = {tokens} tokens; {args.iterations} timed steps each; "
          f"srft-kept projects {len(positions)} of {length} positions")
    medians = {name: statistics.median(times[name]) for name in variants}
    for name in variants:
        spread = statistics.stdev(times[name]) if len(times[name]) > 1 else 0.0
        print(f"  {name:9s} step {medians[name] * 1000:8.1f} ms (sd {spread * 1000:.1f})  "
              f"{tokens / medians[name]:10.0f} tokens/s  trained tokens {trained[name]:6d}  "
              f"ratio to sft {medians[name] / medians['sft']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
