"""``srft eval-critic``: how good a critic is against gold step labels, with bootstrap intervals."""

from __future__ import annotations

import json
from typing import Any

import click

from srft_format.errors import Problem, SrftError


@click.command("eval-critic")
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.option("--critic", "critics", multiple=True, required=True, metavar="ID",
              help="The critic under test; give two for the ablation (second minus first, paired bootstrap).")
@click.option("--gold", required=True, metavar="ID", help="The reference annotator (human labels).")
@click.option("--all", "all_", is_flag=True,
              help="Every trajectory; default: all but resolved ones (resolved runs are trained whole anyway).")
@click.option("--missing", type=click.Choice(["correct", "incorrect", "neutral", "unknown"]),
              help="Count a step the gold labeled and the critic did not as this critic label (e.g. correct for "
                   "the rules critic, which only says incorrect). Default: leave such steps out.")
@click.option("-k", "k", type=click.IntRange(0), default=1, show_default=True,
              help="First-error localisation also counts the critic within +-k steps of the gold's first error.")
@click.option("--resamples", type=click.IntRange(100), default=1000, show_default=True,
              help="Bootstrap resamples (by trajectory).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def eval_critic(dataset: str, critics: tuple[str, ...], gold: str, all_: bool, missing: str | None, k: int,
                resamples: int, seed: int, fmt: str) -> None:
    """Score critic(s) against gold step labels: precision / recall / F1 of 'incorrect', Cohen's kappa and
    accuracy with 95% bootstrap intervals resampled by trajectory; first-error localisation (exact and +-k);
    calibration (reliability bins, ECE) when the critic gives scores; where it errs (by action kind, position
    decile, repo) and its 10 worst disagreements with both rationales.

    Only steps both labeled count (see --missing). Inline and sidecar verdicts both count.

    \b
    Examples:
      srft eval-critic data --critic llm:gpt-4o-mini --gold alice
      srft eval-critic data --critic rules --gold who-and-when --missing correct
      srft eval-critic data --critic strong --critic weak --gold alice --format json
    """
    result = evaluate_dataset(dataset, critics, gold, all_trajectories=all_, missing=missing, k=k,
                              resamples=resamples, seed=seed)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        print_result(result)


def evaluate_dataset(dataset: str, critics: tuple[str, ...] | list[str], gold: str, *, all_trajectories: bool,
                     missing: str | None = None, k: int = 1, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every figure of :func:`srft_format.annotators.evaluation.evaluate` for ``critics`` against ``gold``."""
    from srft_format.annotators.evaluation import Evaluation, collect, evaluate
    from srft_format.dataset import Dataset

    ds = Dataset.open(dataset)
    trajectories = list(ds.trajectories())
    declared = set(ds.annotators) | {a.id for t in trajectories for a in t.annotators}
    notes = []
    for ident in (gold, *critics):
        if ident in declared:
            continue
        if ident == gold or missing is None:
            raise SrftError(Problem(f"no annotator {ident!r} (declared: {', '.join(sorted(declared)) or 'none'})",
                                    file=dataset))
        notes.append(f"critic {ident!r} has no verdicts in this dataset: every gold step counts as {missing!r} "
                     f"(--missing); check the id if that is not what you meant")
    kept = trajectories if all_trajectories else [t for t in trajectories if t.outcome.resolved is not True]
    sidecar = ds.verdicts_by_trajectory()
    evaluations = [Evaluation(c, collect(kept, sidecar, c, gold, missing=missing), k) for c in critics]
    for ev in evaluations:
        if not ev.pairs:
            scope = "" if all_trajectories else " on unresolved trajectories (--all for every one)"
            raise SrftError(Problem(f"gold annotator {gold!r} labeled no step in common with critic {ev.critic!r}"
                                    f"{scope}; --missing counts steps the critic left unlabeled", file=dataset))
    result = evaluate(evaluations, resamples=resamples, seed=seed)
    return {"dataset": dataset, "gold": gold, "scope": "all" if all_trajectories else "unresolved",
            "missing": missing, "notes": notes, "trajectories_in_dataset": len(trajectories),
            "resolved_left_out": len(trajectories) - len(kept), **result}


def _fig(f: dict[str, Any]) -> str:
    if f["value"] is None:
        return "n/a"
    band = "" if f["low"] is None else f" [{f['low']:.2f}, {f['high']:.2f}]"
    return f"{f['value']:.3f}{band}"


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def print_result(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    critics, diffs = result["critics"], result["differences"]
    level = round(result["bootstrap"]["level"] * 100)
    scope = "unresolved trajectories" if result["scope"] == "unresolved" else "all trajectories"
    table = Table(title=f"critic vs gold {result['gold']!r} on {scope} ({level}% bootstrap intervals by "
                        f"trajectory, {result['bootstrap']['resamples']} resamples)")
    table.add_column("")
    for c in critics:
        table.add_column(c["critic"], justify="right")
    for d in diffs:
        table.add_column(f"{d['critic']} - {d['minus']}", justify="right")
    table.add_row("trajectories", *(str(c["trajectories"]) for c in critics), *("" for _ in diffs))
    table.add_row("steps", *(str(c["steps"]) for c in critics), *("" for _ in diffs))
    for name in ("precision", "recall", "f1", "kappa", "accuracy"):
        table.add_row(f"{name} (incorrect)" if name in ("precision", "recall", "f1") else name,
                      *(_fig(c["metrics"][name]) for c in critics), *(_fig(d["metrics"][name]) for d in diffs))
    k = critics[0]["first_error"]["k"]
    table.add_row("first error exact", *(_fig(c["first_error"]["exact"]) for c in critics),
                  *(_fig(d["metrics"]["first_error_exact"]) for d in diffs))
    table.add_row(f"first error +-{k}", *(_fig(c["first_error"]["within_k"]) for c in critics),
                  *(_fig(d["metrics"]["first_error_within_k"]) for d in diffs))
    table.add_row("ECE", *(_cell((c["calibration"] or {}).get("ece")) for c in critics), *("" for _ in diffs))
    console.print(table)
    for note in result["notes"]:
        console.print(f"note: {note}", style="yellow")
    console.print(f"left out: {result['resolved_left_out']} resolved trajectories"
                  + "".join(f"; {c['critic']}: {c['only_gold']} gold-only steps, {c['only_critic']} critic-only"
                            for c in critics))
    for c in critics:
        _print_details(console, c)


def _print_details(console: Any, c: dict[str, Any]) -> None:
    from rich.table import Table

    fe = c["first_error"]
    console.rule(c["critic"])
    console.print(f"first error ({fe['trajectories']} trajectories): exact {_fig(fe['exact'])}, "
                  f"+-{fe['k']} {_fig(fe['within_k'])}; critic earlier {fe['earlier']}, later {fe['later']}, "
                  f"never flags {fe['never']}" + (f"; left out: {fe['not_covered']} the critic did not label up "
                                                   "to the gold's first error" if fe["not_covered"] else ""))
    if c["calibration"]:
        cal = c["calibration"]
        console.print(f"calibration ({cal['steps']} scored steps), ECE {_cell(cal['ece'])}; mean P(correct) vs "
                      "share correct per bin: " + ", ".join(
                          f"{b['bin'][0]:.1f}-{b['bin'][1]:.1f} {b['mean_score']:.2f}/{b['observed_correct']:.2f} "
                          f"(n={b['steps']})" for b in cal["bins"]))
    table = Table(title=f"{c['critic']}: where it errs (top 10 repos)")
    for col in ("by", "group", "steps", "critic inc", "gold inc", "prec", "recall", "kappa", "acc"):
        table.add_column(col, justify="left" if col in ("by", "group") else "right")
    for key, title in (("by_kind", "kind"), ("by_position_decile", "decile"), ("by_repo", "repo")):
        for r in c[key][:10]:
            table.add_row(title, str(r["kind" if title == "kind" else "decile" if title == "decile" else "repo"]),
                          str(r["steps"]), str(r["critic_incorrect"]), str(r["gold_incorrect"]),
                          *(_cell(r[m]) for m in ("precision", "recall", "kappa", "accuracy")))
    console.print(table)
    if c["worst"]:
        console.print(f"{c['critic']}: worst disagreements")
        for w in c["worst"]:
            score = "" if w["score"] is None else f" ({w['score']:.2f})"
            console.print(f"  {w['trajectory']} step {w['step']}: critic {w['critic']}{score}: "
                          f"{_short(w['critic_rationale'])!s}\n    gold {w['gold']}: {_short(w['gold_rationale'])}",
                          highlight=False)


def _short(text: str | None, limit: int = 200) -> str:
    text = " ".join((text or "").split()) or "-"
    return text if len(text) <= limit else text[:limit - 1] + "…"
