"""``srft masks``: see exactly which tokens of a trajectory a policy trains."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from srft_format.dataset import Dataset
from srft_format.trainers.chat import ChatTemplate, to_chat
from srft_format.trainers.loading import load_tokenizer
from srft_format.trainers.masks import IGNORE_INDEX, MaskedExample, build_examples

from .options import mask_options, mask_options_from, policy_for, policy_from_options, policy_options, take_arguments

STYLES = {"trained": "bold green", "rejected": "red", "masked": "bright_black"}


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(exists=True),
              help="A model directory or .gguf file whose tokenizer (and chat template) to use.")
@click.option("--trajectory", "-t", "trajectory_id", help="The trajectory to show (default: the first).")
@mask_options
@click.option("--max-length", type=click.IntRange(1), help="Cut examples to this many tokens.")
@click.option("--counts-only", is_flag=True, help="Print only the counts, not the coloured text.")
@policy_options
def masks(dataset: str, tokenizer_path: str, trajectory_id: str | None, max_length: int | None,
          counts_only: bool, **options: Any) -> None:
    """Show a trajectory as the model will see it: trained tokens green, rejected steps red, the rest grey.

    \b
    Examples:
      srft masks my-dataset --tokenizer SmolLM2-135M-Instruct.Q4_1.gguf
      srft masks my-dataset --tokenizer model-dir/ -t swe-agent-3f2a... --policy sft
      srft masks my-dataset --tokenizer model-dir/ --chat-template qwen3.jinja --history split
      srft masks my-dataset --tokenizer model-dir/ --annotator human --annotator critic --counts-only
    """
    ds = Dataset.open(dataset)
    policy = policy_for(policy_from_options(**take_arguments(options, policy_from_options)), [dataset])
    mask = mask_options_from(options, max_length)
    traj = ds.trajectory(trajectory_id) if trajectory_id else next(iter(ds.trajectories()), None)
    if traj is None:
        raise click.UsageError(f"{dataset} holds no trajectories")
    weights = policy.step_weights(traj, ds.verdicts_by_trajectory().get(traj.id, ()))
    tokenizer = load_tokenizer(tokenizer_path)
    examples = build_examples(traj, tokenizer, weights, mask)
    console = Console()
    for number, example in enumerate(examples):
        if len(examples) > 1:
            console.rule(f"example {number + 1} of {len(examples)}")
        if not counts_only:
            console.print(_coloured(example, tokenizer), end="\n\n")
    console.print(_counts(traj.id, policy.name, weights, examples))
    if not mask.use_recorded_tokens and to_chat(
            traj, ChatTemplate.for_tokenizer(tokenizer, mask.chat_template), mask.tool_calls).text_tool_calls:
        console.print("note: tool calls are written as text (<function=NAME><parameter=KEY>...): the "
                      "template cannot render them, or --tool-calls text asked so (spec/masks.md)",
                      style="yellow")


def token_classes(example: MaskedExample) -> list[str]:
    """``trained``, ``rejected`` (a located step that is not trained) or ``masked``, per token."""
    classes = ["trained" if label != IGNORE_INDEX else "masked" for label in example.labels]
    for span in example.steps:
        if span.weight <= 0:
            classes[span.start:span.end] = ["rejected"] * (span.end - span.start)
    return classes


def _coloured(example: MaskedExample, tokenizer) -> Text:
    text = Text()
    classes = token_classes(example)
    start = 0
    for end in range(1, len(classes) + 1):
        if end == len(classes) or classes[end] != classes[start]:
            piece = tokenizer.decode(example.input_ids[start:end], skip_special_tokens=False)
            text.append(piece, style=STYLES[classes[start]])
            start = end
    return text


def _counts(trajectory_id: str, policy: str, weights: list[float], examples: list[MaskedExample]) -> Table:
    table = Table(title=f"{trajectory_id} under {policy}", title_justify="left")
    for column in ("example", "tokens", "trained", "rejected", "masked", "steps trained", "steps cut"):
        table.add_column(column, justify="right")
    for number, example in enumerate(examples, 1):
        classes = token_classes(example)
        trained_steps = sum(1 for span in example.steps if span.weight > 0)
        table.add_row(str(number), str(len(classes)), *(str(classes.count(c)) for c in STYLES),
                      str(trained_steps), str(len(example.truncated_steps)))
    table.caption = (f"{sum(1 for w in weights if w > 0)} of {len(weights)} steps have a positive weight; "
                     "green: trained, red: rejected or masked step, grey: context")
    return table
