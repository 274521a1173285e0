"""One output path for every command that prints results: ``--format`` and ``-o FILE``, sqlite-utils style.

Rows (an Arrow stream, or dicts) come out as a ``table`` (rich), ``csv``, ``json`` (one array), ``jsonl`` (one
object a line) or ``parquet``; a document (a JSON object, e.g. a summary) as indented JSON. ``-o FILE`` is written
atomically (a temporary file renamed into place, so a failed command leaves no half-written file; ``.gz`` /
``.zst`` compress), otherwise standard output. Parquet is binary: it needs ``-o`` when standard output is a
terminal.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson
from rich.console import Console
from rich.table import Table

from srft_format.errors import SrftError
from srft_format.jsonl import open_output

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
BATCH_ROWS = 65_536
FILE_WIDTH = 1_000
PIPE_WIDTH = 200


def output_options(*formats: str, default: str = "table",
                   help: str = "How to print the result.") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``--format`` (one of ``formats``, default all of :data:`FORMATS`) and ``-o/--output FILE``."""
    choices = formats or FORMATS

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                               help="Write to this file (atomically) instead of standard output.")(command)
        return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                            help=help)(command)

    return decorate


@contextmanager
def sink(output: Path | None) -> Iterator[BinaryIO]:
    """Standard output, or ``output`` written atomically."""
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
    else:
        with open_output(output) as stream:
            yield stream


@contextmanager
def console(output: Path | None) -> Iterator[Console]:
    """A rich console printing to standard output, or into ``output`` (written atomically, no colours)."""
    if output is None:
        yield output_console()
        return
    with sink(output) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
        yield Console(file=text, width=FILE_WIDTH, no_color=True, highlight=False)
        text.detach()


def output_console() -> Console:
    """Standard output: as wide as the terminal, or wide enough for whole tables when piped."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


def write_document(document: Any, output: Path | None) -> None:
    """A JSON document (indented), e.g. a summary or a set of figures."""
    with sink(output) as stream:
        stream.write(orjson.dumps(document, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
                     + b"\n")


def write_rows(rows: Any, fmt: str, output: Path | None, *, columns: list[str] | None = None,
               title: str | None = None, formats: dict[str, str] | None = None) -> None:
    """Write ``rows`` in ``fmt``: an Arrow ``RecordBatchReader`` (streamed) or an iterable of dicts.

    ``columns`` names the columns of dict rows (and their order; needed when there may be none); ``title`` and
    ``formats`` (column -> format spec such as ``.1%``) apply to tables.
    """
    if fmt not in FORMATS:
        raise SrftError(f"unknown output format {fmt!r}: choose one of {', '.join(FORMATS)}")
    reader = rows if hasattr(rows, "read_next_batch") else _reader(list(rows), columns)
    if fmt == "table":
        table = reader.read_all()
        with console(output) as out:
            out.print(render_table(table.column_names, list(zip(*(c.to_pylist() for c in table.columns))),
                                   title, formats))
        return
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise SrftError("parquet is binary: write it to a file with -o FILE")
    with sink(output) as stream:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetWriter(stream, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
        elif fmt == "csv":
            _write_csv(reader, stream)
        else:
            _write_json(reader, stream, array=fmt == "json")


def _reader(rows: list[dict[str, Any]], columns: list[str] | None) -> Any:
    import pyarrow as pa

    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    return pa.Table.from_pydict({c: [row.get(c) for row in rows] for c in columns}).to_reader(BATCH_ROWS)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def _write_json(reader: Any, stream: BinaryIO, array: bool) -> None:
    stream.write(b"[" if array else b"")
    first = True
    for batch in reader:
        for row in batch.to_pylist():
            stream.write((b"\n" if first else b",\n") + _json(row) if array else _json(row) + b"\n")
            first = False
    stream.write(b"\n]\n" if array else b"")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json(value).decode() if isinstance(value, (list, dict)) else value


def _write_csv(reader: Any, stream: BinaryIO) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(reader.schema.names)
    for batch in reader:
        writer.writerows([_csv_cell(v) for v in row.values()] for row in batch.to_pylist())
    text.detach()


def render_table(columns: list[str], rows: list[tuple[Any, ...]], title: str | None = None,
                 formats: dict[str, str] | None = None) -> Table:
    """A rich table; ``formats`` maps a column to a format spec such as ``.1%``."""
    formats = formats or {}
    table = Table(title=title, title_justify="left", show_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if any(isinstance(row[i], str) for row in rows) else "right")
    for row in rows:
        table.add_row(*(_cell(value, formats.get(column)) for column, value in zip(columns, row)))
    return table


def _cell(value: Any, spec: str | None) -> str:
    if value is None:
        return "[dim]NULL[/dim]" if spec is None else "[dim]–[/dim]"
    if spec is not None:
        return format(value, spec)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return _json(value).decode()
    return str(value).replace("[", r"\[")
