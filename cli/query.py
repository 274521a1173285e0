"""``srft query``: SQL over one or more datasets, read in place by DuckDB."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import duckdb
from rich.console import Console

from srft_format.errors import SrftError
from srft_format.query import describe_views, open_views, sql_errors

from .options import policy_for, policy_from_options, policy_options
from .output import BATCH_ROWS, output_console, output_options, render_table, write_rows

PROMPT, MORE = "srft> ", "  ...> "


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="DATASET... [SQL]")
@output_options()
@click.option("--safe", is_flag=True, help="Sandbox the SQL: it may read only the datasets (no other file, no "
              "network, no extension install, no COPY/ATTACH). Use it for SQL you did not write.")
@policy_options
def query(args: tuple[str, ...], fmt: str, output: Path | None, safe: bool, **policy: Any) -> None:
    """Run SQL over datasets: the views trajectories, steps, messages, verdicts, annotators,
    effective_verdicts and training_signal (columns in spec/views.md), over the files read in place.

    The SQL runs with your rights: it can read and write any file you can, and reach the network (DuckDB
    COPY, read_text, INSTALL...). Run SQL someone else wrote with --safe, which confines it to the datasets.

    With several datasets, every view has a `dataset` column. Without SQL, an interactive prompt reads
    statements ending in `;` (.views lists the views and columns, .quit leaves). The policy options set
    how effective_verdicts resolve and which steps training_signal.weight trains.

    \b
    Examples:
      srft query my-dataset "SELECT repo, count(*) FROM trajectories GROUP BY repo"
      srft query a b "SELECT dataset, avg(n_steps) FROM trajectories GROUP BY ALL"
      srft query my-dataset "FROM steps WHERE action_kind = 'edit'" --format csv -o edits.csv
      srft query my-dataset "FROM effective_verdicts" --annotator critic-a --resolution veto
      srft query my-dataset --safe "$(cat their-query.sql)"    # SQL from someone else
      srft query my-dataset                                   # interactive prompt
    """
    datasets, sql = split_arguments(args)
    con = open_views(datasets, policy=policy_for(policy_from_options(**policy), datasets), safe=safe)
    if sql is None:
        repl(con, output_console())
        return
    with sql_errors(con):
        result = last_result(con, sql)
        if result is not None:
            write_result(result, fmt, output)


def split_arguments(args: tuple[str, ...]) -> tuple[list[str], str | None]:
    """Datasets, then SQL: the last argument is SQL when it is not a path and has a space in it."""
    last = args[-1]
    if not Path(last).exists() and any(c.isspace() for c in last):
        if len(args) == 1:
            raise SrftError("no dataset given: srft query DATASET... \"SQL\"")
        return list(args[:-1]), last
    return list(args), None


def last_result(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run the statements of ``sql`` in order; the rows of the last one, when it returns rows."""
    result = None
    for statement in duckdb.extract_statements(sql):
        if statement.expected_result_type == [duckdb.ExpectedResultType.QUERY_RESULT]:
            result = con.sql(statement.query)
        else:
            con.execute(statement.query)
            result = None
    return result


def write_result(result: duckdb.DuckDBPyRelation, fmt: str, output: Path | None) -> None:
    """Stream a query's result in ``fmt`` to ``output`` or standard output."""
    write_rows(result.to_arrow_reader(BATCH_ROWS), fmt, output)


def repl(con: duckdb.DuckDBPyConnection, console: Console) -> None:
    """Read statements (ending in ``;``) from standard input and print each result as a table."""
    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())

        console.print("Views: trajectories, steps, messages, verdicts, annotators, effective_verdicts, "
                      "training_signal. End statements with ;  .views lists columns, .quit leaves.")
    buffer: list[str] = []
    while True:
        try:
            line = input((MORE if buffer else PROMPT) if interactive else "")
        except EOFError:
            break
        command = line.strip()
        if not buffer and command in (".quit", ".exit"):
            break
        if not buffer and command in (".views", ".schema", ".help"):
            console.print(describe_views(con), markup=False)
            continue
        buffer.append(line)
        if command.endswith(";"):
            _run_statement(con, console, "\n".join(buffer))
            buffer = []
    if "".join(buffer).strip():
        _run_statement(con, console, "\n".join(buffer))


def _run_statement(con: duckdb.DuckDBPyConnection, console: Console, sql: str) -> None:
    try:
        with sql_errors(con):
            result = last_result(con, sql)
            if result is not None:
                console.print(render_table(result.columns, result.fetchall()))
    except SrftError as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
