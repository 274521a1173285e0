"""``srft export``: a dataset as training files for other trainers, with the policy's per-message flags."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

import click

from srft_format.trainers.export import TARGETS
from srft_format.trainers.masks import MaskOptions

from .options import mask_options, mask_options_from, policy_for, policy_from_options, policy_options, take_arguments


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--to", "target", type=click.Choice(TARGETS), required=True, help="The trainer's format.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="JSONL file to write (.gz / .zst compress); OUTPUT.srft.json records policy and counts.")
@click.option("--tokenizer", help="Model directory or .gguf whose tokenizer and template to use (trl only, "
              "like --max-length and the mask options).")
@click.option("--max-length", type=click.IntRange(8), help="Tokens per row (cut steps are dropped whole).")
@policy_options
@mask_options
def export(dataset: str, target: str, output: str, tokenizer: str | None, max_length: int | None,
           **options: Any) -> None:
    """Export DATASET for another trainer, one row per trajectory with a trained step.

    Steps the policy does not train are kept in the conversation and flagged off; every row is checked
    against the target's documented fields before it is written.

    \b
      openai    fine-tuning JSONL; assistant messages carry "weight": 0 or 1
      axolotl   type: chat_template rows; every message carries "training": true/false
                (axolotl config: field_messages: messages, message_field_training: training)
      trl       pre-tokenised input_ids / attention_mask / labels (-100 = no loss) for --tokenizer
      sharegpt  "conversations" of from/value; gpt turns carry "train": true/false

    \b
    Examples:
      srft export my-dataset --to openai --policy srft -o train.jsonl
      srft export my-dataset --to axolotl --policy rft -o axolotl.jsonl.zst
      srft export my-dataset --to trl --tokenizer SmolLM2-135M-Instruct.Q4_1.gguf --max-length 8192 -o t.jsonl
    """
    from srft_format.trainers.export import export as run_export
    from srft_format.trainers.loading import load_tokenizer

    policy = policy_for(policy_from_options(**take_arguments(options, policy_from_options)), [dataset])
    masks = mask_options_from(options, max_length)
    if target != "trl" and (tokenizer or replace(masks, context=MaskOptions.context) != MaskOptions()):
        raise click.UsageError("--tokenizer, --max-length and the mask options but --context apply to "
                               "--to trl only")
    summary = run_export(dataset, target, policy, output,
                         tokenizer=load_tokenizer(tokenizer) if tokenizer else None, mask_options=masks)
    click.echo(json.dumps({"output": output, **asdict(summary)}, indent=2))
