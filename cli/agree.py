"""``srft agree``: how well one annotator matches another (e.g. a critic against human labels)."""

from __future__ import annotations

from pathlib import Path

import click

from srft_format.errors import Problem, SrftError

from .output import console, output_options, write_document


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.option("--a", "a_id", required=True, metavar="ID", help="The annotator under test (e.g. a critic).")
@click.option("--b", "b_id", required=True, metavar="ID", help="The reference annotator (e.g. human labels).")
@click.option("--missing", type=click.Choice(["correct", "incorrect", "neutral", "unknown"]),
              help="Count a step only one side labeled as this label for the other side (e.g. correct for "
                   "rule critics, which only say incorrect). Default: leave such steps out.")
@output_options("table", "json")
def agree(dataset: str, a_id: str, b_id: str, missing: str | None, fmt: str, output: Path | None) -> None:
    """Confusion matrix, precision / recall / F1 for 'incorrect' and Cohen's kappa between annotators A and B.

    B is the reference: precision = share of A's incorrect calls B agrees with; recall = share of B's incorrect
    steps A caught. Inline and sidecar verdicts both count.

    \b
    Examples:
      srft agree data --a llm:gpt-4o-mini --b alice
      srft agree data --a rules --b alice --missing correct
      srft agree data --a llm --b alice --format json
    """
    from srft_format.annotators.agreement import compare
    from srft_format.dataset import Dataset

    ds = Dataset.open(dataset)
    for ident in (a_id, b_id):
        if ident not in ds.annotators and not any(a.id == ident for t in ds.trajectories() for a in t.annotators):
            raise SrftError(Problem(f"no annotator {ident!r} (declared: {', '.join(ds.annotators) or 'none'})",
                                    file=dataset))
    labels: dict[str, dict[tuple[str, int], str]] = {a_id: {}, b_id: {}}
    sidecar = ds.verdicts_by_trajectory()
    for traj in ds.trajectories():
        for verdict in [*traj.verdicts, *sidecar.get(traj.id, [])]:
            if verdict.annotator in labels:
                labels[verdict.annotator][(traj.id, verdict.step)] = verdict.label.value
    result = compare(labels[a_id], labels[b_id], missing)
    if fmt == "json":
        write_document({"a": a_id, "b": b_id, "missing": missing, **result.to_dict()}, output)
        return
    _print_table(a_id, b_id, result, output)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_table(a_id: str, b_id: str, result, output: Path | None) -> None:
    from rich.table import Table

    table = Table(title=f"rows: {a_id} (A)   columns: {b_id} (B, reference)")
    table.add_column("A \\ B")
    for label in result.labels:
        table.add_column(label, justify="right")
    for a in result.labels:
        table.add_row(a, *(str(result.count(a, b)) for b in result.labels))
    with console(output) as out:
        out.print(table)
        out.print(f"steps compared: {result.n} (only {a_id}: {result.only_a}, only {b_id}: {result.only_b})")
        out.print(f"incorrect: precision {_fmt(result.precision)}, recall {_fmt(result.recall)}, "
                  f"F1 {_fmt(result.f1)} (tp {result.true_positives}, fp {result.false_positives}, "
                  f"fn {result.false_negatives})")
        out.print(f"observed agreement {_fmt(result.observed)}, Cohen's kappa {_fmt(result.kappa)}")
