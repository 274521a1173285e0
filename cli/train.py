"""``srft train``: SFT / RFT / SRFT fine-tuning of a causal LM on a dataset."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from srft_format.trainers.chat import TOOL_CALL_MODES
from srft_format.trainers.masks import HISTORY_MODES

from .options import policy_from_options, policy_options

_MASK_OPTIONS = [
    click.option("--chat-template", type=click.Path(exists=True, dir_okay=False),
                 help="A Jinja chat template file to use instead of the tokenizer's."),
    click.option("--tool-calls", type=click.Choice(TOOL_CALL_MODES), default="auto", show_default=True,
                 help="Tool calls: native, SWE-agent style text, or native when the template can (auto)."),
    click.option("--train-on-eos/--no-train-on-eos", default=True, show_default=True,
                 help="Train the end-of-turn token of trained steps."),
    click.option("--history", type=click.Choice(HISTORY_MODES), default="refuse", show_default=True,
                 help="Templates that rewrite earlier turns: refuse, or train such steps in separate examples."),
    click.option("--recorded-tokens", is_flag=True,
                 help="Use the token ids the policy recorded (token-in/token-out) instead of rendering."),
]

MASK_DEFAULTS = {"chat_template": None, "tool_calls": "auto", "train_on_eos": True, "history": "refuse",
                 "use_recorded_tokens": False}
"""What :func:`mask_options_from` returns when no mask option is given."""


def mask_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the mask-building options (template, tool calls, end-of-turn, history, recorded tokens)."""
    for option in reversed(_MASK_OPTIONS):
        command = option(command)
    return command


def mask_options_from(options: dict[str, Any]) -> dict[str, Any]:
    """Remove the :func:`mask_options` values from ``options``, as keyword arguments of ``build_examples``."""
    template = options.pop("chat_template")
    return {"chat_template": Path(template).read_text(encoding="utf-8") if template else None,
            "tool_calls": options.pop("tool_calls"), "train_on_eos": options.pop("train_on_eos"),
            "history": options.pop("history"), "use_recorded_tokens": options.pop("recorded_tokens")}


def take_arguments(options: dict[str, Any], function: Callable[..., Any]) -> dict[str, Any]:
    """Remove from ``options`` (and return) the keyword arguments ``function`` takes."""
    return {name: options.pop(name) for name in inspect.signature(function).parameters if name in options}


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--model", required=True, help="Model directory or .gguf file to start from.")
@click.option("--tokenizer", help="Tokenizer directory or .gguf file (default: the model's).")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="The run directory.")
@policy_options
@mask_options
@click.option("--max-steps", type=click.IntRange(1), help="Optimizer steps (default: one pass over the data)")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True, help="Rows per step.")
@click.option("--lr", type=float, default=2e-5, show_default=True, help="Peak learning rate (cosine decay).")
@click.option("--warmup-steps", type=click.IntRange(0), default=0, show_default=True)
@click.option("--max-length", type=click.IntRange(8), default=4096, show_default=True,
              help="Tokens per example; steps cut by it are dropped whole, never half-trained.")
@click.option("--bf16", is_flag=True, help="bf16 mixed precision.")
@click.option("--gradient-checkpointing", is_flag=True, help="Recompute activations to save memory.")
@click.option("--lora", is_flag=True, help="Train LoRA adapters (peft, all linear layers), not all weights.")
@click.option("--lora-rank", type=click.IntRange(1), default=16, show_default=True)
@click.option("--packing", is_flag=True, help="Pack examples into rows (attention never crosses examples).")
@click.option("--save-every", type=click.IntRange(0), default=0, show_default=True,
              help="Also save a checkpoint every N steps (0: only the final one).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def train(dataset: str, model: str, tokenizer: str | None, output: str, **options: Any) -> None:
    """Fine-tune MODEL on DATASET under a training policy.

    The policy decides which steps are trained (sft: all; rft: resolved trajectories; srft: resolved ones,
    plus the steps of unresolved ones that the critic did not reject). Masked steps stay in the context and
    contribute no gradient. OUTPUT gets `final/` (weights + tokenizer), `checkpoint-N/` with --save-every,
    and `run.json`: the policy, the dataset manifest's sha256, trained-step and per-action-kind token counts,
    and the losses.

    \b
    Examples:
      srft train my-dataset --model SmolLM2-135M-Instruct.Q4_1.gguf --policy srft -o runs/srft --max-steps 100
      srft train my-dataset --model ./qwen --policy rft -o runs/rft --bf16 --lora --gradient-checkpointing
      accelerate launch --config_file fsdp.yaml -m srft_format.cli.main train my-dataset --model ./q -o x

    Multi-GPU / multi-node (FSDP with accelerate or torchrun): see trainers/README.md.
    """
    from srft_format.trainers.train import TrainConfig, train as run_training

    policy = policy_from_options(**take_arguments(options, policy_from_options))
    masks = mask_options_from(options)
    config = TrainConfig(model=model, output=output, tokenizer=tokenizer, **options)
    run = run_training(dataset, policy, config, masks, log=lambda line: click.echo(line, err=True))
    if run["main_process"]:
        click.echo(json.dumps({"output": output, "optimizer_steps": run["train"]["steps"],
                               "final_loss": run["train"]["losses"][-1], **run["data"]}, indent=2))
