"""``srft report``: the figures of ``srft stats`` as one self-contained HTML page with plots (inline PNG)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import duckdb

from .policy import TrainingPolicy
from .query import sql_errors, sql_text
from .stats import compute_stats

TOP_REPOS = 25
"""Repositories shown in the per-repo plot: those with the most labelled steps."""

COLOURS = {"sft": "#8c8c8c", "rft": "#4c72b0", "srft": "#55a868", "reject": "#c44e52", "bars": "#4c72b0"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } .policy { color: #555; margin-top: 0; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 0.3em; } img { width: 100%; }
.tables { overflow-x: auto; } table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
td, th { padding: 0.25em 0.8em; text-align: right; }
th { border-bottom: 1px solid #999; } td:first-child, th:first-child { text-align: left; }
"""


def build_report(con: duckdb.DuckDBPyConnection, title: str, policy: TrainingPolicy,
                 sections: Sequence[str] = ()) -> str:
    """The HTML page for the views of ``con`` (see :func:`srft_format.query.open_views`); ``sections``: more
    HTML appended (e.g. :func:`srft_format.report_experiment.experiment_section`)."""
    import matplotlib

    matplotlib.use("Agg")
    stats = compute_stats(con)
    with sql_errors(con):
        histogram = con.execute(sql_text("report_steps_histogram.sql")).fetchall()
    plots = [
        ("Reject rate by position in the trajectory", _position_plot(stats["reject_by_position"])),
        ("Steps per trajectory", _histogram_plot(histogram)),
        (f"Reject rate per repository (top {TOP_REPOS} by labelled steps)",
         _repo_plot(compute_stats(con, "repo", ("reject_rate",))["reject_rate"])),
        ("Training signal: steps and tokens trained", _signal_plot(stats["training_signal"])),
    ]
    figures = "\n".join(f'<figure><figcaption>{html.escape(caption)}</figcaption>'
                        f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{png}"></figure>'
                        for caption, png in plots)
    tables = "\n".join(_table(name.replace("_", " "), stats[name]) for name in ("overview", "reject_rate",
                                                                                "training_signal"))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
            f"<p class=\"policy\">policy: {html.escape(_policy_text(policy))}</p>\n"
            f"<div class=\"grid\">\n{figures}\n</div>\n"
            f"<div class=\"tables\">{tables}</div>\n{''.join(sections)}</body></html>\n")


def _policy_text(policy: TrainingPolicy) -> str:
    verdicts = policy.verdicts
    annotators = ", ".join(verdicts.annotators) or "all annotators"
    return (f"{policy.name}, {verdicts.resolution.value} over {annotators}"
            f", unlabeled steps {policy.unlabeled}")


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _axes(ylabel: str, xlabel: str = "") -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes, color="#888")


def _position_plot(rows: list[dict[str, Any]]) -> str:
    fig, ax = _axes("reject rate", "position in trajectory (decile)")
    rows = [r for r in rows if r["reject_rate"] is not None]
    if rows:
        ax.bar([r["decile"] for r in rows], [r["reject_rate"] for r in rows], color=COLOURS["reject"])
        for r in rows:
            ax.annotate(str(r["decided"]), (r["decile"], r["reject_rate"]), ha="center", va="bottom",
                        fontsize=7)
        ax.set_xticks(range(10), [f"{10 * d}-{10 * d + 10}%" for d in range(10)], rotation=45, fontsize=8)
        ax.set_ylim(0, 1.05)
    else:
        _empty(ax, "labelled steps")
    return _png(fig)


def _histogram_plot(rows: list[tuple[int, int]]) -> str:
    fig, ax = _axes("trajectories", "steps")
    if rows:
        ax.bar([r[0] for r in rows], [r[1] for r in rows], width=0.9, color=COLOURS["bars"])
    else:
        _empty(ax, "trajectories")
    return _png(fig)


def _repo_plot(rows: list[dict[str, Any]]) -> str:
    rows = sorted((r for r in rows if r["reject_rate"] is not None), key=lambda r: -r["labeled"])[:TOP_REPOS]
    fig, ax = _axes("", "reject rate")
    if rows:
        rows.reverse()
        ax.barh([r["repo"] for r in rows], [r["reject_rate"] for r in rows], color=COLOURS["reject"])
        ax.set_xlim(0, 1)
        ax.tick_params(axis="y", labelsize=7)
    else:
        _empty(ax, "labelled steps")
    return _png(fig)


def _signal_plot(rows: list[dict[str, Any]]) -> str:
    from matplotlib.patches import Patch

    fig, ax = _axes("share trained")
    names = [r["policy"].upper() for r in rows]
    positions = range(len(rows))
    ax.bar([p - 0.2 for p in positions], [r["steps_share"] for r in rows], width=0.4, label="steps",
           color=[COLOURS[r["policy"]] for r in rows])
    ax.bar([p + 0.2 for p in positions], [r["tokens_share"] or 0 for r in rows], width=0.4, label="tokens",
           color=[COLOURS[r["policy"]] for r in rows], alpha=0.5, hatch="//")
    for p, r in zip(positions, rows):
        ax.annotate(f"{r['steps']} steps", (p - 0.2, r["steps_share"]), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(positions), names)
    ax.set_ylim(0, 1.1)
    legend = [Patch(facecolor="#bbb", label="steps"), Patch(facecolor="#eee", hatch="//", label="tokens")]
    ax.legend(handles=legend, frameon=False, fontsize=8)
    return _png(fig)


def _table(title: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"<h2>{html.escape(title)}</h2><p>nothing to count</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r.values()) + "</tr>"
                   for r in rows)
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
