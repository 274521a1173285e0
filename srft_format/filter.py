"""Select trajectories with a SQL predicate and copy them, with their sidecar verdicts, to a new dataset.

The predicate is a DuckDB ``WHERE`` clause over :data:`FILTER_VIEW`: the columns of the ``trajectories`` view
(``spec/views.md``: ``repo``, ``model``, ``resolved``, ``n_steps``, ``instance_id``, ``scaffold``...) plus
per-trajectory verdict columns: ``annotators`` (ids that labelled it), ``n_labeled_steps``,
``n_rejected_steps`` and ``reject_rate`` (under the default verdict policy). The other views (``steps``,
``verdicts``, ``messages``...) can be used in subqueries: ``id IN (SELECT trajectory_id FROM steps WHERE ...)``.

The predicate may come from someone else's script, so it must be one expression (no ``;``, no parenthesis
closed that it did not open, no comment), and it runs on a locked-down connection that reads only the dataset
(:func:`srft_format.query.lock_down`).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .dataset import Dataset
from .errors import Problem, SrftError
from .models import Manifest
from .query import lock_down, open_views
from .subset import derived_writer, route

FILTER_VIEW = "filterable"

_FILTER_VIEW_SQL = f"""
CREATE OR REPLACE TEMP VIEW {FILTER_VIEW} AS
WITH labels AS (
    SELECT dataset, trajectory_id,
           count(*) FILTER (WHERE label IN ('correct', 'incorrect')) AS n_labeled_steps,
           count(*) FILTER (WHERE label = 'incorrect') AS n_rejected_steps
    FROM effective_verdicts GROUP BY dataset, trajectory_id
), labelled_by AS (
    SELECT dataset, trajectory_id, list(DISTINCT annotator ORDER BY annotator) AS annotators
    FROM verdicts GROUP BY dataset, trajectory_id
)
SELECT t.*,
       coalesce(b.annotators, []::VARCHAR[]) AS annotators,
       coalesce(l.n_labeled_steps, 0) AS n_labeled_steps,
       coalesce(l.n_rejected_steps, 0) AS n_rejected_steps,
       l.n_rejected_steps / nullif(l.n_labeled_steps, 0) AS reject_rate
FROM trajectories t
LEFT JOIN labels l ON l.dataset = t.dataset AND l.trajectory_id = t.id
LEFT JOIN labelled_by b ON b.dataset = t.dataset AND b.trajectory_id = t.id
"""


def check_expression(where: str) -> None:
    """Refuse a predicate that is not one SQL expression (a stacked statement, an escape from its brackets)."""
    tokens = duckdb.tokenize(where)
    depth = 0
    for i, (position, kind) in enumerate(tokens):
        if kind == duckdb.token_type.comment:
            raise SrftError(Problem("must be one SQL expression: comments are not allowed", "--where"))
        if kind != duckdb.token_type.operator:
            continue
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(where)
        for offset, char in enumerate(where[position:end]):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == ";" or depth < 0:
                raise SrftError(Problem(f"must be one SQL expression: unexpected {char!r} at character "
                                        f"{position + offset + 1}", "--where"))
    if depth:
        raise SrftError(Problem("must be one SQL expression: a '(' is not closed", "--where"))


def select_ids(path: str | os.PathLike, where: str) -> set[str]:
    """Ids of the trajectories of the dataset at ``path`` for which ``where`` is true."""
    check_expression(where)
    con = open_views([path])
    con.execute(_FILTER_VIEW_SQL)
    lock_down(con, [Path(path)])
    try:
        rows = con.execute(f"SELECT id FROM {FILTER_VIEW} WHERE ({where})").fetchall()
    except duckdb.Error as exc:
        columns = ", ".join(row[0] for row in con.execute(f"DESCRIBE {FILTER_VIEW}").fetchall())
        raise SrftError(Problem(f"{str(exc).splitlines()[0]} (columns: {columns})", "--where")) from None
    return {row[0] for row in rows}


def filter_dataset(path: str | os.PathLike, out: str | os.PathLike, where: str, *,
                   overwrite: bool = False) -> Manifest:
    """Write the trajectories matching ``where`` (and their verdicts) to ``out``."""
    selected = select_ids(path, where)
    source = Dataset.open(path)
    with derived_writer(source, out, overwrite=overwrite, note={"where": where}) as writer:
        route(source, {"selected": writer}, lambda traj: "selected" if traj.id in selected else None)
    return writer.manifest
