"""``srft verdicts``: one effective label per step, resolved from several annotators by a policy."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from typing import Any

import click

from .options import policy_for, policy_from_options, policy_options

COLUMNS = ("trajectory", "step", "label", "score", "annotators", "weight")


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@policy_options
@click.option("--format", "fmt", type=click.Choice(["table", "json", "jsonl", "csv"]), default="table",
              show_default=True, help="json: one list; jsonl: one object per line.")
@click.option("--summary", is_flag=True, help="Only the number of steps per effective label and trained steps.")
@click.option("--limit", type=int, help="Only the first N trajectories.")
def verdicts(dataset: str, fmt: str, summary: bool, limit: int | None, **policy: Any) -> None:
    """Resolve every step's verdicts into one effective label, with its training weight.

    Uses the same policy objects as the trainers and exports (srft_format.policy): --annotator (repeat, in
    priority order) picks whose verdicts count (default: all, by kind: human, LLM hindsight, LLM causal, rule,
    outcome), --resolution how they combine (priority, majority, veto, threshold on the mean score); the rule
    in force is printed on stderr; 'weight' is the step's loss weight under --policy. Steps no counted
    annotator labeled show label '-'.

    \b
    Examples:
      srft verdicts data --annotator alice --annotator llm:gpt-4o-mini --annotator rules
      srft verdicts data --resolution majority --summary
      srft verdicts data --resolution threshold --threshold 0.7 --format csv > labels.csv
    """
    from itertools import islice

    from srft_format.dataset import Dataset

    training = policy_for(policy_from_options(**policy), [dataset])
    ds = Dataset.open(dataset)
    sidecar = ds.verdicts_by_trajectory()
    rows = []
    for traj in islice(ds.trajectories(), limit):
        for step, (found, weight) in zip(traj.steps, training.decisions(traj, sidecar.get(traj.id, []))):
            rows.append({"trajectory": traj.id, "step": step.index, "label": found.label.value if found else "-",
                         "score": None if found is None or found.score is None else round(found.score, 4),
                         "annotators": ",".join(found.annotators) if found else "", "weight": weight})
    if summary:
        _print_summary(rows, fmt)
    else:
        _print_rows(rows, fmt)


def _print_summary(rows: list[dict[str, Any]], fmt: str) -> None:
    counts = Counter(row["label"] for row in rows)
    out = {"steps": len(rows), "labels": dict(counts), "trained_steps": sum(1 for r in rows if r["weight"] > 0)}
    if fmt in ("json", "jsonl"):
        click.echo(json.dumps(out))
    else:
        for label, n in sorted(counts.items()):
            click.echo(f"{label}\t{n}")
        click.echo(f"steps\t{out['steps']}\ntrained\t{out['trained_steps']}")


def _print_rows(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*COLUMNS)
        for row in rows:
            table.add_row(*("" if row[c] is None else str(row[c]) for c in COLUMNS))
        Console().print(table)
