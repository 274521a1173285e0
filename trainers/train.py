"""The reference SFT / RFT / SRFT training loop, in one sitting.

Data: :func:`~srft_format.trainers.data.build_examples` (masks from the policy), batched by
:class:`~srft_format.trainers.collate.Collator`. Loss: ``sum(w_t * nll_t) / sum(w_t)`` over the trained tokens
of the whole batch (all processes together), where ``w_t`` is the weight of the token's step: 1 for every
trained token under a hard policy, which makes it exactly the usual mean cross-entropy; the step's score with
``--soft``. Masked tokens (prompts, observations, rejected steps) have ``w_t = 0``: they stay in the context
and contribute no gradient.

``accelerate`` runs the loop on one CPU/GPU, or on many GPUs and nodes (DDP or FSDP) when started with
``accelerate launch`` or ``torchrun``; see ``trainers/README.md``.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from srft_format import __version__
from srft_format.dataset import MANIFEST, Dataset, file_sha256
from srft_format.errors import Problem, SrftError
from srft_format.jsonl import open_output
from srft_format.policy import TrainingPolicy

from .collate import IGNORE, Collator, as_row, pack_rows
from .data import build_examples, recorded_mask_options
from .loading import load_model, load_tokenizer


@dataclass(frozen=True)
class TrainConfig:
    model: str
    output: str
    tokenizer: str | None = None
    """Defaults to the model's own tokenizer."""
    max_steps: int | None = None
    """Optimizer steps; ``None``: one pass over the data."""
    batch_size: int = 4
    lr: float = 2e-5
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 4096
    bf16: bool = False
    gradient_checkpointing: bool = False
    lora: bool = False
    lora_rank: int = 16
    packing: bool = False
    save_every: int = 0
    """Save a checkpoint every N steps (0: only at the end)."""
    seed: int = 0
    device: str = "auto"
    """``auto`` (GPU when there is one), ``cpu`` or ``cuda``."""


def next_token_positions(labels: Any) -> Any:
    """The positions whose next token is trained in some row of the batch: the only logits the loss needs."""
    return (labels[:, 1:] != IGNORE).any(0).nonzero().squeeze(-1)


def weighted_nll(logits: Any, labels: Any, weights: Any, positions: Any = None) -> tuple[Any, Any]:
    """``(sum of w_t * nll_t, sum of w_t)`` over the tokens whose label is not ``-100``.

    Token ``t`` is predicted from the logits at ``t - 1`` (the usual shift); nothing of the masked positions
    enters the sum, so their logits get exactly zero gradient. With ``positions`` (from
    :func:`next_token_positions`), ``logits`` holds only those positions (the model ran with
    ``logits_to_keep=positions``, which spares the vocabulary projection of every untrained position).
    """
    import torch.nn.functional as F

    labels, weights = labels[:, 1:], weights[:, 1:]
    if positions is None:
        logits = logits[:, :-1]
    else:
        labels, weights = labels[:, positions], weights[:, positions]
    keep = labels != IGNORE
    nll = F.cross_entropy(logits[keep].float(), labels[keep], reduction="none")
    w = weights[keep].to(nll.dtype)
    return (w * nll).sum(), w.sum()


def _prepare_model(config: TrainConfig, dtype: Any) -> tuple[Any, bool]:
    """The model to train, and whether its forward takes ``logits_to_keep``."""
    model = load_model(config.model, dtype=dtype, trainable=True)
    keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
    model.config.use_cache = False
    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    return model, keeps_logits


def train(dataset_path: str, policy: TrainingPolicy, config: TrainConfig,
          mask_options: dict[str, Any] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``config.model`` on ``dataset_path`` under ``policy``; returns the run record (``run.json``).

    ``log`` gets one line per step, on the main process only; ``run["main_process"]`` says which one this is.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    accelerator = Accelerator(mixed_precision="bf16" if config.bf16 else "no", cpu=config.device == "cpu")
    if not accelerator.is_main_process:
        log = _quiet
    if config.device == "cuda" and accelerator.device.type != "cuda":
        raise SrftError("--device cuda: no CUDA device is available")
    set_seed(config.seed)
    output = Path(config.output)
    dataset = Dataset.open(dataset_path)

    # 1. Data: one masked example per trajectory with a trained step; optionally packed.
    tokenizer = load_tokenizer(config.tokenizer or config.model)
    options = {"max_length": config.max_length, **(mask_options or {})}
    examples, summary = build_examples(dataset, tokenizer, policy, **options)
    if not examples:
        counts = f"{summary.trajectories} trajectories, {summary.trained_steps} trained steps"
        raise SrftError(Problem(f"policy {policy.name!r} trains no token of this dataset ({counts})",
                                file=str(dataset_path)))
    rows = [as_row(e) for e in examples]
    if config.packing:
        rows = pack_rows(rows, config.max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    loader = accelerator.prepare(torch.utils.data.DataLoader(
        rows, batch_size=config.batch_size, shuffle=True, collate_fn=Collator(pad_id, packed=config.packing),
        generator=torch.Generator().manual_seed(config.seed)))
    max_steps = config.max_steps or len(loader)  # one pass: batches per process

    # 2. Model, optimizer, schedule.
    model, keeps_logits = _prepare_model(config, dtype=torch.float32)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=config.warmup_steps,
                              num_training_steps=max_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    run: dict[str, Any] = {
        "srft_version": __version__,
        "policy": policy.to_dict(),
        "dataset": {"path": str(dataset_path), "name": dataset.name,
                    "manifest_sha256": file_sha256(dataset.path / MANIFEST)},
        "config": asdict(config),
        "mask_options": recorded_mask_options(options),
        "data": summary.to_dict(),
        # tokens: padding included
        "train": {"steps": 0, "tokens": 0, "trained_tokens": 0, "losses": [], "seconds": 0.0},
        "checkpoints": [],
    }
    log(f"{summary.examples} examples from {summary.trajectories} trajectories; policy {policy.name} trains "
        f"{summary.trained_steps}/{summary.steps} steps, {summary.trained_tokens} tokens; {len(rows)} rows")
    cut = summary.trained_steps - summary.trained_steps_in_examples
    if cut:
        log(f"--max-length {config.max_length} cut {cut} trained steps (dropped whole, never half-trained)")

    # 3. The loop.
    model.train()
    started = time.perf_counter()
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    for step in range(1, max_steps + 1):
        batch = next(batches)
        labels, weights = batch.pop("labels"), batch.pop("loss_weights")
        positions = next_token_positions(labels) if keeps_logits else None
        kept = {"logits_to_keep": positions} if keeps_logits else {}
        logits = model(**batch, use_cache=False, **kept).logits  # no KV cache: packed rows need it off
        weighted_sum, weight_total = weighted_nll(logits, labels, weights, positions)
        # Normalise by the weight of the whole batch across processes, so that DDP/FSDP's gradient averaging
        # gives sum(w * nll) / sum(w) over everything.
        global_total = accelerator.reduce(weight_total.detach(), reduction="sum").clamp_min(1e-8)
        loss = weighted_sum * accelerator.num_processes / global_total
        accelerator.backward(loss)
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        step_loss = (accelerator.reduce(weighted_sum.detach(), reduction="sum") / global_total).item()
        record = run["train"]
        record["steps"] = step
        record["tokens"] += int(accelerator.reduce(batch["input_ids"].new_tensor(batch["input_ids"].numel()),
                                                   reduction="sum"))
        record["trained_tokens"] += int(accelerator.reduce((labels[:, 1:] != IGNORE).sum(), reduction="sum"))
        record["losses"].append(round(step_loss, 6))
        record["seconds"] = round(time.perf_counter() - started, 3)
        log(f"step {step}/{max_steps}  loss {step_loss:.4f}  lr {lr:.2e}")
        if not math.isfinite(step_loss):
            record["diverged"] = {"step": step, "loss": str(step_loss)}  # run.json says so, for srft experiment
            _write_run(accelerator, output, run)
            raise SrftError(f"the loss is {step_loss} at step {step}; stopping (checkpoints so far are kept)")
        if step == max_steps or (config.save_every and step % config.save_every == 0):
            name = "final" if step == max_steps else f"checkpoint-{step}"
            _save(accelerator, model, tokenizer, output / name)
            run["checkpoints"].append(name)
            _write_run(accelerator, output, run)
    return {**run, "main_process": accelerator.is_main_process}


def _quiet(line: str) -> None:
    """The log of processes other than the main one."""


def _save(accelerator: Any, model: Any, tokenizer: Any, directory: Path) -> None:
    """Save the weights (the adapters only, with ``--lora``) and the tokenizer; FSDP gathers shards first."""
    accelerator.wait_for_everyone()
    state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(directory, state_dict=state, save_function=accelerator.save)
        tokenizer.save_pretrained(directory)


def _write_run(accelerator: Any, output: Path, run: dict[str, Any]) -> None:
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        with open_output(output / "run.json") as out:
            out.write(json.dumps(run, indent=2).encode() + b"\n")
