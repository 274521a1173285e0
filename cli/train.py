"""``srft train``: SFT / RFT / SRFT fine-tuning of a causal LM on a dataset."""

from __future__ import annotations

import json
from typing import Any

import click

from .options import mask_options, mask_options_from, policy_for, policy_from_options, policy_options, take_arguments

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

    policy = policy_for(policy_from_options(**take_arguments(options, policy_from_options)), [dataset])
    masks = mask_options_from(options)
    config = TrainConfig(model=model, output=output, tokenizer=tokenizer, **options)
    run = run_training(dataset, policy, config, masks, log=lambda line: click.echo(line, err=True))
    if run["main_process"]:
        click.echo(json.dumps({"output": output, "optimizer_steps": run["train"]["steps"],
                               "final_loss": run["train"]["losses"][-1], **run["data"]}, indent=2))
