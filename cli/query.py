"""``srft query``: SQL over one or more datasets, read in place by DuckDB."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click
import duckdb
import orjson
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from srft_format.errors import SrftError
from srft_format.jsonl import open_output
from srft_format.query import describe_views, open_views, sql_errors

from .options import policy_for, policy_from_options, policy_options

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
BATCH_ROWS = 65_536
FILE_WIDTH = 1_000
PIPE_WIDTH = 200
PROMPT, MORE = "srft> ", "  ...> "


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="DATASET... [SQL]")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="How to print the result.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result to this file (atomically) instead of standard output.")
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
    if fmt == "table":
        with _sink(output) as sink:
            console = Console(file=io.TextIOWrapper(sink, encoding="utf-8", write_through=True),
                              width=FILE_WIDTH) if output else output_console()
            console.print(render_table(result.columns, result.fetchall()))
        return
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise SrftError("parquet is binary: write it to a file with -o FILE")
    reader = result.to_arrow_reader(BATCH_ROWS)
    with _sink(output) as sink:
        if fmt == "parquet":
            with pq.ParquetWriter(sink, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
        elif fmt == "csv":
            _write_csv(reader, sink)
        else:
            _write_json(reader, sink, array=fmt == "json")


@contextmanager
def _sink(output: Path | None) -> Iterator[BinaryIO]:
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
    else:
        with open_output(output) as stream:
            yield stream


def _json_value(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def _write_json(reader: Any, sink: BinaryIO, array: bool) -> None:
    sink.write(b"[" if array else b"")
    first = True
    for batch in reader:
        for row in batch.to_pylist():
            sink.write((b"\n" if first else b",\n") + _json_value(row) if array else _json_value(row) + b"\n")
            first = False
    sink.write(b"\n]\n" if array else b"")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json_value(value).decode() if isinstance(value, (list, dict)) else value


def _write_csv(reader: Any, sink: BinaryIO) -> None:
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(reader.schema.names)
    for batch in reader:
        writer.writerows([_csv_cell(v) for v in row.values()] for row in batch.to_pylist())
    text.detach()


def output_console() -> Console:
    """Standard output: as wide as the terminal, or wide enough for whole tables when piped."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


def render_table(columns: list[str], rows: list[tuple[Any, ...]], title: str | None = None,
                 formats: dict[str, str] | None = None) -> Table:
    """A rich table; ``formats`` maps a column to a format spec such as ``.1%``."""
    formats = formats or {}
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, justify="left" if _is_text(rows, columns.index(column)) else "right")
    for row in rows:
        table.add_row(*(_cell(value, formats.get(column)) for column, value in zip(columns, row)))
    return table


def _is_text(rows: list[tuple[Any, ...]], i: int) -> bool:
    return any(isinstance(row[i], str) for row in rows)


def _cell(value: Any, spec: str | None) -> str:
    if value is None:
        return "[dim]NULL[/dim]" if spec is None else "[dim]–[/dim]"
    if spec is not None:
        return format(value, spec)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return _json_value(value).decode()
    return str(value).replace("[", r"\[")


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
