"""``srft stats``: reject rates and the SFT / RFT / SRFT training signal of datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from srft_format.policy import TrainingPolicy
from srft_format.query import open_views
from srft_format.stats import BY_CHOICES, FIGURES, prepare, run_figure

from .options import policy_for, policy_from_options, policy_options
from .output import console, output_options, render_table, write_document

TITLES = {
    "overview": "Trajectories",
    "verdicts": "Verdicts by annotator (inline and sidecar)",
    "reject_rate": "Step reject rate: incorrect / (correct + incorrect)",
    "reject_by_position": "Reject rate by relative position in the trajectory (deciles)",
    "training_signal": "Training signal: assistant steps and completion tokens trained",
    "recorded_inputs": "Recorded inputs: trained steps sent another context than the final chat, the examples "
                       "that makes (--context recorded) and the size of their conversations against final",
}

FORMATS = {"resolved_rate": ".1%", "reject_rate": ".1%", "steps_share": ".1%", "tokens_share": ".1%",
           "steps_per_trajectory": ".2f", "cost": ".4f", "mean_score": ".3f", "weighted_steps": ".1f",
           "overhead": ".3f"}


@click.command()
@click.argument("datasets", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--by", type=click.Choice(BY_CHOICES),
              help="Break the figures down by this (agent: the scaffold; annotator: the reject rates; evidence: the "
              "reject rates of hindsight vs causal critics, by the evidence each annotator declared).")
@output_options("table", "json", help="table: one table per figure; json: every figure's rows.")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(exists=True),
              help="Measure the recorded-input overhead in this tokenizer's tokens (default: characters).")
@policy_options
def stats(datasets: tuple[str, ...], by: str | None, fmt: str, output: Path | None, tokenizer_path: str | None,
          **policy: Any) -> None:
    """Reject rates and training signal: how many steps the critic rejects, where, and how much
    signal SRFT keeps that RFT throws away.

    Figures: trajectories, resolved rate, steps and tokens; the verdict distribution; the step reject rate
    under the chosen policy; the reject rate by relative position (deciles); and the assistant steps and
    tokens trainable under SFT, RFT and SRFT. Each figure is one SQL file you can read and reuse:
    srft_format/sql/stats_*.sql, over the views of `srft query`. Last, per policy, the trained steps whose
    recorded input (format 1.1) differs from the final chat, the examples `--context recorded` makes of them
    and the size of those examples' conversations against `--context final` (overhead: the ratio; the
    messages' characters, or tokens with --tokenizer; not grouped by --by).

    \b
    Examples:
      srft stats my-dataset
      srft stats my-dataset --by repo
      srft stats my-dataset --annotator critic-a --annotator rules --resolution priority
      srft stats my-dataset --by annotator --format json -o stats.json
      srft stats my-dataset --tokenizer SmolLM2-135M-Instruct.Q4_1.gguf
    """
    training = policy_for(policy_from_options(**policy), datasets)
    con = open_views(datasets, policy=training)
    figures = {}
    with Console(stderr=True).status("resolving verdicts and weighing steps...") as status:  # on a terminal
        prepare(con, by)
        for name in FIGURES:
            status.update(f"computing {TITLES[name].split(':')[0].lower()}...")
            figures[name] = run_figure(con, name, by)
        status.update("weighing the recorded inputs...")
        figures["recorded_inputs"] = recorded_inputs(datasets, training, tokenizer_path)
    if fmt == "json":
        write_document({"datasets": list(datasets), "by": by, "policy": training.to_dict(), **figures}, output)
        return
    with console(output) as out:
        out.print(f"[bold]policy[/bold] {describe_policy(training)}", highlight=False)
        for name, rows in figures.items():
            out.print()
            if rows:
                columns = list(rows[0])
                out.print(render_table(columns, [tuple(r.values()) for r in rows], TITLES[name], FORMATS))
            else:
                out.print(f"[bold]{TITLES[name]}[/bold]: nothing to count")
        if by is None:
            out.print()
            out.print(signal_summary(figures["training_signal"]), highlight=False)


def recorded_inputs(datasets: tuple[str, ...], policy: TrainingPolicy,
                    tokenizer_path: str | None) -> list[dict[str, Any]]:
    """The ``recorded_inputs`` figure: :func:`srft_format.trainers.data.context_costs` as rows."""
    from srft_format.dataset import Dataset
    from srft_format.trainers.data import context_costs, message_chars, message_text

    measure, unit = message_chars, "chars"
    if tokenizer_path:
        from srft_format.trainers.loading import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_path)
        measure, unit = (lambda m: len(tokenizer(message_text(m), add_special_tokens=False)["input_ids"])), "tokens"
    return [cost.row(unit) for cost in context_costs((Dataset.open(d) for d in datasets), policy, measure)]


def describe_policy(policy: TrainingPolicy) -> str:
    return (f"{policy.name}; verdicts: {policy.verdicts.describe()}; "
            f"unlabeled steps: {policy.unlabeled}{'; soft weights' if policy.soft else ''}")


def signal_summary(rows: list[dict[str, Any]]) -> str:
    """One sentence: what RFT discards and what SRFT keeps of it."""
    steps = {row["policy"]: row["steps"] for row in rows}
    discarded = steps["sft"] - steps["rft"]
    kept = steps["srft"] - steps["rft"]
    share = f" ({kept / discarded:.1%} of them)" if discarded else ""
    return (f"RFT trains {steps['rft']} of the {steps['sft']} steps SFT trains, discarding {discarded}; "
            f"SRFT trains {steps['srft']}: it keeps {kept} of the steps RFT discards{share}.")
