"""The reference SFT / RFT / SRFT training loop, in one sitting.

Data: :func:`~srft_format.trainers.data.build_examples` (masks from the policy), batched by
:class:`~srft_format.trainers.collate.Collator`. Loss: ``sum(w_t * nll_t) / sum(w_t)`` over the trained tokens
of the whole batch (all processes together), where ``w_t`` is the weight of the token's step: 1 for every
trained token under a hard policy, which makes it exactly the usual mean cross-entropy; the step's score with
``--soft``. Masked tokens (prompts, observations, rejected steps) have ``w_t = 0``: they stay in the context
and contribute no gradient.

With ``grad_accum`` N an optimizer step takes N batches and normalises by their trained weight together: the same
update as one batch N times larger. Every checkpoint also holds ``training_state.P.pt`` per process P: optimizer,
scheduler, RNG states and the data position (batches consumed; each epoch's order depends only on the seed and the
epoch), so :func:`resume` continues a killed run as if it had never stopped.

``accelerate`` runs the loop on one CPU/GPU, or on many GPUs and nodes (DDP or FSDP) when started with
``accelerate launch`` or ``torchrun``; see ``trainers/README.md``.
"""

from __future__ import annotations

import inspect
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from srft_format import __version__
from srft_format.dataset import MANIFEST, Dataset, file_sha256
from srft_format.errors import Problem, SrftError
from srft_format.jsonl import open_output
from srft_format.policy import TrainingPolicy

from .collate import IGNORE, Collator, as_row, pack_rows
from .data import build_examples
from .loading import load_model, load_tokenizer
from .masks import MaskOptions


@dataclass(frozen=True)
class TrainConfig:
    model: str
    output: str
    tokenizer: str | None = None
    """Defaults to the model's own tokenizer."""
    max_steps: int | None = None
    """Optimizer steps; ``None``: one pass over the data."""
    batch_size: int = 4
    """Rows per batch (per process)."""
    grad_accum: int = 1
    """Batches per optimizer step: the same update as one batch this many times larger."""
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


def _prepare_model(config: TrainConfig, dtype: Any, checkpoint: Path | None = None) -> tuple[Any, bool]:
    """The model to train (with ``checkpoint``: its weights or adapters), and whether its forward takes
    ``logits_to_keep``."""
    full_weights = checkpoint is not None and not config.lora
    model = load_model(checkpoint if full_weights else config.model, dtype=dtype, trainable=True)
    keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
    model.config.use_cache = False
    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.lora and checkpoint is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, checkpoint, is_trainable=True)
    elif config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    return model, keeps_logits


class EpochShuffle:
    """Row indices in an order that depends only on the seed and the epoch (``set_epoch``), so that a resumed run
    sees the batches the killed one would have seen."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        import torch

        yield from torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()

    def __len__(self) -> int:
        return self.n


def train(dataset_path: str, policy: TrainingPolicy, config: TrainConfig,
          mask_options: MaskOptions = MaskOptions(), log: Callable[[str], None] = print, *,
          state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``config.model`` on ``dataset_path`` under ``policy``; returns the run record (``run.json``).

    ``mask_options``: how examples are built (its ``max_length`` is ``config.max_length``).

    ``log`` gets one line per step, on the main process only; ``run["main_process"]`` says which one this is.
    ``state``: a checkpoint's training state (from :func:`resume`), to continue from.
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
    policy = policy.for_annotators(dataset.manifest.annotators)  # the default priority by kind, in run.json

    # 1. Data: one masked example per trajectory with a trained step; optionally packed.
    tokenizer = load_tokenizer(config.tokenizer or config.model)
    options = replace(mask_options, max_length=config.max_length)
    examples, summary = build_examples(dataset, tokenizer, policy, options)
    if not examples:
        counts = f"{summary.trajectories} trajectories, {summary.trained_steps} trained steps"
        raise SrftError(Problem(f"policy {policy.name!r} trains no token of this dataset ({counts})",
                                file=str(dataset_path)))
    rows = [as_row(e) for e in examples]
    if config.packing:
        rows = pack_rows(rows, config.max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    loader = accelerator.prepare(torch.utils.data.DataLoader(
        rows, batch_size=config.batch_size, sampler=EpochShuffle(len(rows), config.seed),
        collate_fn=Collator(pad_id, packed=config.packing),
        generator=torch.Generator().manual_seed(config.seed)))  # starting an epoch draws from it, not the global RNG
    max_steps = config.max_steps or -(-len(loader) // config.grad_accum)  # one pass: batches per process

    # 2. Model, optimizer, schedule.
    checkpoint = output / state["checkpoint"] if state else None
    model, keeps_logits = _prepare_model(config, dtype=torch.float32, checkpoint=checkpoint)
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
        "mask_options": options.recorded(),
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
    first = 1
    if state:
        run = _restore(state, run, accelerator, optimizer, scheduler)
        first = run["train"]["steps"] + 1
        log(f"resuming from {state['checkpoint']} at step {first}/{max_steps}")

    # 3. The loop.
    model.train()
    started = time.perf_counter() - run["train"]["seconds"]
    batches = _batches(accelerator, loader, position=(first - 1) * config.grad_accum)
    for step in range(first, max_steps + 1):
        micro = [next(batches) for _ in range(config.grad_accum)]
        # Normalise by the weight of all the step's batches across processes, so that accumulation and
        # DDP/FSDP's gradient averaging give sum(w * nll) / sum(w) over everything the step sees.
        weight_total = sum((b["loss_weights"][:, 1:] * (b["labels"][:, 1:] != IGNORE)).sum() for b in micro)
        global_total = accelerator.reduce(weight_total, reduction="sum").clamp_min(1e-8)
        step_sum = 0.0
        for i, batch in enumerate(micro):
            labels, weights = batch.pop("labels"), batch.pop("loss_weights")
            positions = next_token_positions(labels) if keeps_logits else None
            kept = {"logits_to_keep": positions} if keeps_logits else {}
            with accelerator.no_sync(model) if i < len(micro) - 1 else nullcontext():
                logits = model(**batch, use_cache=False, **kept).logits  # no KV cache: packed rows need it off
                weighted_sum, _ = weighted_nll(logits, labels, weights, positions)
                accelerator.backward(weighted_sum * accelerator.num_processes / global_total)
            step_sum += weighted_sum.detach()
            record = run["train"]
            record["tokens"] += int(accelerator.reduce(
                batch["input_ids"].new_tensor(batch["input_ids"].numel()), reduction="sum"))
            record["trained_tokens"] += int(accelerator.reduce((labels[:, 1:] != IGNORE).sum(), reduction="sum"))
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        step_loss = (accelerator.reduce(step_sum, reduction="sum") / global_total).item()
        record = run["train"]
        record["steps"] = step
        record["losses"].append(round(step_loss, 6))
        record["seconds"] = round(time.perf_counter() - started, 3)
        log(f"step {step}/{max_steps}  loss {step_loss:.4f}  lr {lr:.2e}")
        if not math.isfinite(step_loss):
            record["diverged"] = {"step": step, "loss": str(step_loss)}  # run.json says so, for srft experiment
            _write_run(accelerator, output, run)
            raise SrftError(f"the loss is {step_loss} at step {step}; stopping (checkpoints so far are kept)")
        if step == max_steps or (config.save_every and step % config.save_every == 0):
            name = "final" if step == max_steps else f"checkpoint-{step}"
            run["checkpoints"].append(name)
            _save(accelerator, model, tokenizer, output / name)
            if name != "final":  # a finished run is not resumed
                _save_state(accelerator, output / name, optimizer, scheduler, run, policy, options)
            _write_run(accelerator, output, run)
    return {**run, "main_process": accelerator.is_main_process}


def _batches(accelerator: Any, loader: Any, position: int) -> Iterator[dict[str, Any]]:
    """Batches from ``position`` (batches already consumed) on, epoch after epoch."""
    epoch, skip = divmod(position, len(loader))
    while True:
        loader.set_epoch(epoch)
        yield from accelerator.skip_first_batches(loader, skip) if skip else loader
        epoch, skip = epoch + 1, 0


# ------------------------------------------------------------------------------------------- resuming

STATE_FILE = "training_state.{}.pt"
"""Per process (its index): optimizer, scheduler, RNG states, the run record so far and how to restart it."""


def _save_state(accelerator: Any, directory: Path, optimizer: Any, scheduler: Any, run: dict[str, Any],
                policy: TrainingPolicy, mask_options: MaskOptions) -> None:
    """Everything a resumed run needs besides the weights, in one file per process (each holds its own
    optimizer shard under FSDP and its own RNG streams), written atomically."""
    import numpy as np
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "checkpoint": directory.name,
        "processes": accelerator.num_processes,
        "dataset": str(Path(run["dataset"]["path"]).resolve()),
        "policy": policy.to_dict(),
        "config": {**run["config"], **{key: str(Path(value).resolve()) for key in ("model", "tokenizer")
                                       if (value := run["config"][key]) and Path(value).exists()}},
        "mask_options": asdict(mask_options),
        "run": run,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {"python": random.getstate(), "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
    }
    path = directory / STATE_FILE.format(accelerator.process_index)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)
    accelerator.wait_for_everyone()


def _restore(state: dict[str, Any], run: dict[str, Any], accelerator: Any, optimizer: Any,
             scheduler: Any) -> dict[str, Any]:
    """Load a checkpoint's optimizer, scheduler and RNG states; the run record continues the saved one."""
    import numpy as np
    import torch

    if state["processes"] != accelerator.num_processes:
        raise SrftError(f"the checkpoint was written by {state['processes']} processes; resume it with as many "
                        f"(this run has {accelerator.num_processes})")
    if state["run"]["dataset"]["manifest_sha256"] != run["dataset"]["manifest_sha256"]:
        raise SrftError(Problem("the dataset changed since the run started (its manifest's sha256 differs); "
                                "a resumed run must see the same data", file=run["dataset"]["path"]))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    random.setstate(_tuples(rng["python"]))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["torch"])
    if rng["cuda"]:
        torch.cuda.set_rng_state_all(rng["cuda"])
    saved = state["run"]
    return {**run, "train": saved["train"], "checkpoints": saved["checkpoints"],
            "resumed": [*saved.get("resumed", []), state["checkpoint"]]}


def _tuples(value: Any) -> Any:
    """``random.getstate()`` as saved (lists may come back where tuples went in)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def latest_state(run_dir: str | Path, process: int = 0) -> dict[str, Any]:
    """The training state of ``run_dir``'s latest checkpoint (read with ``weights_only``: no code runs)."""
    import torch

    run_dir = Path(run_dir)
    if (run_dir / "final").is_dir():
        raise SrftError(Problem("this run finished (final/ is written): nothing to resume", file=str(run_dir)))
    found = []
    for path in run_dir.glob(f"checkpoint-*/{STATE_FILE.format(process)}"):
        step = path.parent.name[len("checkpoint-"):]
        if step.isdigit():
            found.append((int(step), path))
    if not found:
        raise SrftError(Problem("no checkpoint with a training state to resume from (save some with "
                                "--save-every N)", file=str(run_dir)))
    _, path = max(found)
    try:
        return torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001  (a damaged or foreign file: say which)
        raise SrftError(Problem(f"cannot read the training state: {exc}", file=str(path))) from None


def resume(run_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its latest checkpoint, with the dataset, policy, options and
    config it started with; the losses continue as if it had never stopped."""
    from accelerate import PartialState

    state = latest_state(run_dir, PartialState().process_index)
    config = TrainConfig(**{**state["config"], "output": str(run_dir)})
    return train(state["dataset"], TrainingPolicy.from_dict(state["policy"]), config,
                 MaskOptions(**state["mask_options"]), log, state=state)


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
