"""The ``srft report --experiment EXP_DIR`` section: an experiment's results (``results.json``) with plots."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .errors import Problem, SrftError
from .report import COLOURS, _axes, _png, _table


def load_results(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / "results.json"
    if not path.is_file():
        raise SrftError(Problem(f"no results.json: run `srft experiment -o {directory} --collect` first",
                                file=str(path)))
    return json.loads(path.read_text())


def experiment_section(results: dict[str, Any]) -> str:
    """HTML: log-likelihoods per policy with intervals, the paired differences, and the tables."""
    figures = results["figures"]
    policies = results["policies"]
    plots = [("Held-out mean token log-likelihood (95% interval over trajectories and seeds)",
              _figures_plot(policies, figures))]
    if results["differences"]:
        plots.append(("Paired differences (95% interval)", _differences_plot(results["differences"], figures)))
    body = "\n".join(f'<figure><figcaption>{html.escape(c)}</figcaption>'
                     f'<img alt="{html.escape(c)}" src="data:image/png;base64,{png}"></figure>' for c, png in plots)
    rows = [{"policy": p, "runs": f"{e['finished']}/{e['runs']}", "diverged": len(e["diverged"]),
             **{f: interval_text(e["figures"][f]) for f in figures}, "trained steps": e["trained_steps"],
             "train s": e["train_seconds"]} for p, e in policies.items()]
    differences = [{"difference": pair, "seeds": len(d["seeds"]),
                    **{f: interval_text(d["figures"][f]) for f in figures}}
                   for pair, d in results["differences"].items()]
    held = results["held_out"] or {}
    note = (f"{held.get('trajectories', 0)} held-out trajectories ({held.get('tasks', 0)} tasks, none in training);"
            f" {len(results['settings']['seeds'])} seeds; diverged runs are left out of every mean.")
    return (f"<h2>Experiment: {html.escape(results['experiment'])}</h2>\n<p>{html.escape(note)}</p>\n"
            f"<div class=\"grid\">\n{body}\n</div>\n<div class=\"tables\">"
            f"{_table('policies', rows)}{_table('paired differences', differences) if differences else ''}</div>")


def interval_text(entry: dict[str, Any] | None) -> str:
    """``+0.123 [+0.100, +0.150]``: a mean and its interval; ``–`` where there is none."""
    if not entry or entry["mean"] is None:
        return "–"
    return f"{entry['mean']:+.3f} [{entry['low']:+.3f}, {entry['high']:+.3f}]"


def _errors(entries: list[dict[str, Any]]) -> tuple[list[float], list[list[float]]]:
    means = [e["mean"] if e["mean"] is not None else 0.0 for e in entries]
    spread = [[m - (e["low"] if e["low"] is not None else m) for m, e in zip(means, entries)],
              [(e["high"] if e["high"] is not None else m) - m for m, e in zip(means, entries)]]
    return means, spread


def _figures_plot(policies: dict[str, Any], figures: list[str]) -> str:
    fig, ax = _axes("mean token log-likelihood")
    width = 0.8 / max(len(policies), 1)
    for i, (policy, entry) in enumerate(policies.items()):
        means, spread = _errors([entry["figures"][f] for f in figures])
        ax.bar([x + (i - (len(policies) - 1) / 2) * width for x in range(len(figures))], means, width,
               yerr=spread, capsize=3, label=policy.upper(), color=COLOURS.get(policy, COLOURS["bars"]))
    ax.set_xticks(range(len(figures)), figures)
    ax.axhline(0, color="#888", linewidth=0.8)
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _differences_plot(differences: dict[str, Any], figures: list[str]) -> str:
    fig, ax = _axes("", "difference in mean token log-likelihood")
    labels, means, low, high = [], [], [], []
    for pair, d in differences.items():
        for f in figures:
            m, spread = _errors([d["figures"][f]])
            labels.append(f"{pair.upper()} {f}")
            means.append(m[0])
            low.append(spread[0][0])
            high.append(spread[1][0])
    ax.errorbar(means, range(len(labels)), xerr=[low, high], fmt="o", color=COLOURS["srft"], capsize=3)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.axvline(0, color="#888", linewidth=0.8)
    return _png(fig)
