"""``srft export``: a dataset as training files for other trainers, with the policy's per-message flags."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

import click

from srft_format.trainers.export import TARGETS
from srft_format.trainers.masks import MaskOptions

from .options import mask_options, mask_options_from, policy_for, policy_from_options, policy_options, take_arguments
from .output import write_document

AXOLOTL_OPTIONS = ("chat_template", "tool_calls")
"""The mask options that shape axolotl rows (with --tokenizer: the template they are converted for)."""


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--to", "target", type=click.Choice(TARGETS), required=True, help="The trainer's format.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="JSONL file to write (.gz / .zst compress); OUTPUT.srft.json records policy and counts.")
@click.option("--tokenizer", help="Model directory or .gguf whose tokenizer and chat template you train with "
              "(trl: required; axolotl: checks the template and converts the rows for it).")
@click.option("--max-length", type=click.IntRange(8), help="trl: tokens per row at most, as srft train cuts them "
              "(a trained step the cut reaches is dropped whole, never half-trained, and counted).")
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
                (axolotl config: field_messages: messages, message_field_training: training);
                with --tokenizer, tool calls the template cannot render are written as text
      trl       pre-tokenised input_ids / attention_mask / labels (-100 = no loss) for --tokenizer;
                use it (not the openai rows) with TRL, which cannot weigh messages
      sharegpt  "conversations" of from/value; gpt turns carry "train": true/false

    \b
    Examples:
      srft export my-dataset --to openai --policy srft -o train.jsonl
      srft export my-dataset --to axolotl --policy rft --tokenizer ./my-model -o axolotl.jsonl.zst
      srft export my-dataset --to trl --tokenizer SmolLM2-135M-Instruct.Q4_1.gguf --max-length 8192 -o t.jsonl
    """
    from srft_format.trainers.export import export as run_export
    from srft_format.trainers.loading import load_tokenizer

    policy = policy_for(policy_from_options(**take_arguments(options, policy_from_options)), [dataset])
    masks = mask_options_from(options, max_length)
    changed = {f.name for f in fields(MaskOptions) if getattr(masks, f.name) != getattr(MaskOptions, f.name)}
    changed -= {"context"}  # every target is built from the contexts the steps were sent
    if target in ("openai", "sharegpt") and (tokenizer or changed):
        raise click.UsageError("--tokenizer, --max-length and the mask options but --context apply to --to trl "
                               "and axolotl")
    if target == "axolotl" and changed - set(AXOLOTL_OPTIONS):
        raise click.UsageError("--to axolotl takes --tokenizer, --chat-template, --tool-calls and --context only")
    if target == "axolotl" and changed and not tokenizer:
        raise click.UsageError("--chat-template and --tool-calls shape axolotl rows for a template: give --tokenizer")
    summary = run_export(dataset, target, policy, output,
                         tokenizer=load_tokenizer(tokenizer) if tokenizer else None, mask_options=masks)
    if summary.template_check and summary.template_check.startswith("skipped"):
        click.echo(f"warning: template check {summary.template_check}; pass --tokenizer to check", err=True)
    if summary.rows_without_tools:
        click.echo(f"warning: {summary.rows_without_tools} rows have tool calls but no tools list (the source "
                   "recorded no tool schemas); OpenAI's format expects tools beside function calls", err=True)
    write_document({"output": output, **asdict(summary)}, None)
