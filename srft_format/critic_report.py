"""The critic-vs-gold section of ``srft report``: the figures of ``srft eval-critic`` as plots and tables."""

from __future__ import annotations

import html
from typing import Any

from .report import _axes, _empty, _png, _table

HEADLINE = ("precision", "recall", "f1", "kappa", "accuracy")
COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")


def critic_section(result: dict[str, Any]) -> str:
    """HTML for one :func:`srft_format.cli.eval_critic.evaluate_dataset` result."""
    critics = result["critics"]
    plots = [("Headline figures (95% bootstrap intervals by trajectory)", _headline_plot(critics)),
             ("Reliability: mean P(correct) vs share correct", _reliability_plot(critics)),
             ("Recall of 'incorrect' by position (decile)", _position_plot(critics))]
    figures = "\n".join(f'<figure><figcaption>{html.escape(caption)}</figcaption>'
                        f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{png}"></figure>'
                        for caption, png in plots)
    rows = [{"critic": c["critic"], "trajectories": c["trajectories"], "steps": c["steps"],
             **{name: _band(c["metrics"][name]) for name in HEADLINE},
             "first error exact": _band(c["first_error"]["exact"]),
             f"first error ±{c['first_error']['k']}": _band(c["first_error"]["within_k"]),
             "ECE": (c["calibration"] or {}).get("ece")} for c in critics]
    rows += [{"critic": f"{d['critic']} − {d['minus']}", "trajectories": "", "steps": "",
              **{name: _band(d["metrics"][name]) for name in HEADLINE},
              "first error exact": _band(d["metrics"]["first_error_exact"]),
              f"first error ±{critics[0]['first_error']['k']}": _band(d["metrics"]["first_error_within_k"]),
              "ECE": None} for d in result["differences"]]
    worst = [{"critic": c["critic"], **{k: w[k] for k in ("trajectory", "step", "critic", "score", "gold")},
              "critic rationale": w["critic_rationale"], "gold rationale": w["gold_rationale"]}
             for c in critics for w in c["worst"]]
    scope = "unresolved trajectories" if result["scope"] == "unresolved" else "all trajectories"
    return (f"<h2>Critics vs gold {html.escape(result['gold'])!s} ({scope})</h2>\n"
            f"<div class=\"grid\">\n{figures}\n</div>\n<div class=\"tables\">"
            f"{_table('critic figures', rows)}{_table('worst disagreements', worst)}</div>\n")


def _band(figure: dict[str, Any]) -> str:
    if figure["value"] is None:
        return "–"
    return f"{figure['value']:.3f}" + ("" if figure["low"] is None else f" [{figure['low']:.2f}, {figure['high']:.2f}]")


def _headline_plot(critics: list[dict[str, Any]]) -> str:
    fig, ax = _axes("value")
    width = 0.8 / len(critics)
    for i, c in enumerate(critics):
        xs = [j + (i - (len(critics) - 1) / 2) * width for j in range(len(HEADLINE))]
        figs = [c["metrics"][name] for name in HEADLINE]
        values = [f["value"] or 0 for f in figs]
        low = [(f["value"] - f["low"]) if f["low"] is not None and f["value"] is not None else 0 for f in figs]
        high = [(f["high"] - f["value"]) if f["high"] is not None and f["value"] is not None else 0 for f in figs]
        ax.bar(xs, values, width=width, yerr=[low, high], capsize=3, label=c["critic"],
               color=COLOURS[i % len(COLOURS)])
    ax.set_xticks(range(len(HEADLINE)), HEADLINE)
    ax.set_ylim(min(0, *(c["metrics"]["kappa"]["low"] or 0 for c in critics)), 1.05)
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _reliability_plot(critics: list[dict[str, Any]]) -> str:
    fig, ax = _axes("share of steps the gold calls correct", "critic P(correct)")
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    scored = [(i, c) for i, c in enumerate(critics) if c["calibration"]]
    for i, c in scored:
        bins = c["calibration"]["bins"]
        ax.plot([b["mean_score"] for b in bins], [b["observed_correct"] for b in bins], marker="o",
                label=f"{c['critic']} (ECE {c['calibration']['ece']:.3f})", color=COLOURS[i % len(COLOURS)])
    if scored:
        ax.legend(frameon=False, fontsize=8)
    else:
        _empty(ax, "critic scores")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    return _png(fig)


def _position_plot(critics: list[dict[str, Any]]) -> str:
    fig, ax = _axes("recall", "position in trajectory (decile)")
    drawn = False
    for i, c in enumerate(critics):
        rows = [r for r in c["by_position_decile"] if r["recall"] is not None]
        if rows:
            drawn = True
            ax.plot([r["decile"] for r in rows], [r["recall"] for r in rows], marker="o", label=c["critic"],
                    color=COLOURS[i % len(COLOURS)])
    if drawn:
        ax.set_xticks(range(10), [f"{10 * d}-{10 * d + 10}%" for d in range(10)], rotation=45, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.legend(frameon=False, fontsize=8)
    else:
        _empty(ax, "gold 'incorrect' steps")
    return _png(fig)
