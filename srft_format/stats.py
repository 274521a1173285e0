"""The figures of ``srft stats``, each one packaged SQL file (``srft_format/sql/stats_*.sql``) over the views.

:func:`prepare` defines what the files read besides the views: ``stats_groups(dataset, trajectory_id, grp)``,
the group of each trajectory; ``stats_steps`` (``stats_steps.sql``), a temporary table of one row per step
with its group, decile, effective label and weights, so that the steps are scanned and the verdicts resolved
once per run; and ``stats_labels(grp, decile, label)``, the labels whose reject rates are counted (effective
verdicts under the connection's policy; with ``by="annotator"`` every verdict, grouped by annotator; with
``by="evidence"`` every verdict, grouped by its annotator's ``priority_class``: hindsight vs causal LLM critics).
"""

from __future__ import annotations

from typing import Any

import duckdb

from .errors import SrftError
from .query import sql_errors, sql_text

FIGURES = {
    "overview": "stats_overview.sql",
    "verdicts": "stats_verdicts.sql",
    "reject_rate": "stats_reject_rate.sql",
    "reject_by_position": "stats_reject_by_position.sql",
    "training_signal": "stats_training_signal.sql",
}
"""Figure name -> the SQL file that computes it."""

GROUP_COLUMNS = {"repo": "repo", "model": "model", "agent": "scaffold", "exit_status": "exit_status",
                 "dataset": "dataset"}
"""``--by`` choices that group trajectories -> the ``trajectories`` column they group by."""

BY_CHOICES = (*GROUP_COLUMNS, "annotator", "evidence")

PER_ANNOTATOR = ("reject_rate", "reject_by_position")
"""The figures ``by="annotator"`` and ``by="evidence"`` group (the others stay whole: a trajectory has no one
annotator)."""

ALL = "all"
"""The group name when there is no grouping."""

NO_VALUE = "(none)"
"""The group of trajectories whose grouping column is null."""


def prepare(con: duckdb.DuckDBPyConnection, by: str | None) -> None:
    """(Re)define ``stats_groups``, ``stats_steps`` and ``stats_labels`` for grouping ``by`` (None: none)."""
    if by is not None and by not in BY_CHOICES:
        raise SrftError(f"cannot group by {by!r}: choose one of {', '.join(BY_CHOICES)}")
    column = GROUP_COLUMNS.get(by or "")
    group = f"coalesce({column}::VARCHAR, '{NO_VALUE}')" if column else f"'{ALL}'"
    if by == "evidence":  # every verdict, grouped by its annotator's class: llm hindsight, llm causal, rule ...
        labels = ("SELECT coalesce(a.priority_class, 'undeclared') AS grp, 10 * v.step // t.n_steps AS decile, "
                  "v.label FROM verdicts v JOIN trajectories t ON t.dataset = v.dataset AND t.id = v.trajectory_id "
                  "LEFT JOIN annotators a ON a.dataset = v.dataset AND a.id = v.annotator")
    elif by == "annotator":
        labels = ("SELECT v.annotator AS grp, 10 * v.step // t.n_steps AS decile, v.label FROM verdicts v "
                  "JOIN trajectories t ON t.dataset = v.dataset AND t.id = v.trajectory_id")
    else:
        labels = "SELECT grp, decile, label FROM stats_steps WHERE label IS NOT NULL"
    with sql_errors(con):
        con.execute(f"CREATE OR REPLACE TEMP VIEW stats_groups AS "
                    f"SELECT dataset, id AS trajectory_id, {group} AS grp FROM trajectories")
        con.execute(sql_text("stats_steps.sql"))
        con.execute(f"CREATE OR REPLACE TEMP VIEW stats_labels AS {labels}")


def run_figure(con: duckdb.DuckDBPyConnection, name: str, by: str | None = None) -> list[dict[str, Any]]:
    """One figure's rows, after :func:`prepare` ``(con, by)``; the group column is named after ``by``
    (dropped where the figure is not grouped)."""
    with sql_errors(con):
        cursor = con.execute(sql_text(FIGURES[name]))
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    grouped = by if by in GROUP_COLUMNS or (by in ("annotator", "evidence") and name in PER_ANNOTATOR) else None
    return [_named(dict(zip(columns, row)), grouped) for row in rows]


def compute_stats(con: duckdb.DuckDBPyConnection, by: str | None = None,
                  names: tuple[str, ...] = tuple(FIGURES)) -> dict[str, list[dict[str, Any]]]:
    """The figures ``names`` of ``srft stats`` over the views of ``con`` (see ``open_views``)."""
    prepare(con, by)
    return {name: run_figure(con, name, by) for name in names}


def _named(row: dict[str, Any], by: str | None) -> dict[str, Any]:
    grp = row.pop("grp")
    return {by: grp, **row} if by else row
