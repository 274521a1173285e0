"""``srft train``: SFT / RFT / SRFT fine-tuning of a causal LM on a dataset."""

from __future__ import annotations

import json
from typing import Any

import click

from .options import mask_options, mask_options_from, policy_for, policy_from_options, policy_options, take_arguments

@click.command()
@click.argument("dataset", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--model", help="Model directory or .gguf file to start from (required unless --resume).")
@click.option("--tokenizer", help="Tokenizer directory or .gguf file (default: the model's).")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="The run directory (required unless --resume).")
@click.option("--resume", metavar="RUN_DIR", type=click.Path(exists=True, file_okay=False),
              help="Continue a killed run from its latest checkpoint, with the data, policy and options it "
                   "started with (give no other option).")
@policy_options
@mask_options
@click.option("--max-steps", type=click.IntRange(1), help="Optimizer steps (default: one pass over the data)")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True, help="Rows per batch.")
@click.option("--grad-accum", type=click.IntRange(1), default=1, show_default=True,
              help="Batches per optimizer step (the update of one batch N times larger).")
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
              help="Also save a checkpoint every N steps (0: only the final one); --resume starts from the last.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.pass_context
def train(ctx: click.Context, dataset: str | None, model: str | None, tokenizer: str | None, output: str | None,
          resume: str | None, **options: Any) -> None:
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
      srft train my-dataset --model ./qwen -o runs/q --batch-size 2 --grad-accum 8 --save-every 50
      srft train --resume runs/q                               # after a crash: continue from checkpoint-N
      accelerate launch --config_file fsdp.yaml -m srft_format.cli.main train my-dataset --model ./q -o x

    Multi-GPU / multi-node (FSDP with accelerate or torchrun): see trainers/README.md.
    """
    from srft_format.trainers.train import TrainConfig, resume as resume_training, train as run_training

    log = lambda line: click.echo(line, err=True)  # noqa: E731
    if resume:
        given = [name for name in ctx.params if name != "resume"
                 and ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise click.UsageError(f"--resume continues a run with the options it started with; drop "
                                   f"{', '.join(given)}")
        _report(resume_training(resume, log=log), resume)
        return
    missing = [flag for flag, value in (("DATASET", dataset), ("--model", model), ("--output", output)) if not value]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or --resume RUN_DIR)")
    policy = policy_for(policy_from_options(**take_arguments(options, policy_from_options)), [dataset])
    masks = mask_options_from(options)
    config = TrainConfig(model=model, output=output, tokenizer=tokenizer, **options)
    _report(run_training(dataset, policy, config, masks, log=log), output)


def _report(run: dict[str, Any], output: str) -> None:
    if run["main_process"]:
        click.echo(json.dumps({"output": output, "optimizer_steps": run["train"]["steps"],
                               "final_loss": run["train"]["losses"][-1], **run["data"]}, indent=2))
