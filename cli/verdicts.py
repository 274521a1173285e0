"""``srft verdicts``: one effective label per step, resolved from several annotators by a policy."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from .options import policy_for, policy_from_options, policy_options
from .output import output_options, write_document, write_rows

COLUMNS = ("trajectory", "step", "label", "score", "annotators", "weight")


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@policy_options
@output_options(help="json: one list; jsonl: one object per line.")
@click.option("--summary", is_flag=True, help="Only the number of steps per effective label and trained steps.")
@click.option("--limit", type=int, help="Only the first N trajectories.")
def verdicts(dataset: str, fmt: str, output: Path | None, summary: bool, limit: int | None, **policy: Any) -> None:
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
      srft verdicts data --resolution threshold --threshold 0.7 --format csv -o labels.csv
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
        counts = Counter(row["label"] for row in rows)
        totals = {"steps": len(rows), "labels": dict(sorted(counts.items())),
                  "trained_steps": sum(1 for r in rows if r["weight"] > 0)}
        if fmt in ("json", "jsonl"):
            write_document(totals, output)
        else:
            write_rows([{"label": label, "steps": n} for label, n in totals["labels"].items()]
                       + [{"label": "(all)", "steps": totals["steps"]},
                          {"label": "(trained)", "steps": totals["trained_steps"]}], fmt, output,
                       columns=["label", "steps"])
    else:
        write_rows(rows, fmt, output, columns=list(COLUMNS))
