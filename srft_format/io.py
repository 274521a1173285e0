"""Read and write files of srft records — JSONL (plain, .gz, .zst), Parquet, or one JSON document.

Every error names the file, the line (JSONL) or row (Parquet, from 1), and the JSON path of the field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from . import arrow
from .errors import Problem, SrftError
from .jsonl import DECOMPRESSION_ERRORS, iter_lines, open_input, open_output
from .models import Model, Trajectory
from .records import dump_record, load_object, load_record, parse_record
from .validate import check_trajectory, check_trajectory_object

M = TypeVar("M", bound=Model)
T = TypeVar("T")

ROW_GROUP_SIZE = 256
"""Trajectories per Parquet row group: a few MB each, so column scans skip well and memory stays bounded."""
ARROW_CHUNK_BYTES = 4 * 2**20
"""Arrow data turned into Python objects (reading Parquet) or made from them (writing) at once: a row group
of trajectories as objects would be hundreds of thousands of them, which every cyclic-GC pass scans again."""


def storage_of(path: str | os.PathLike) -> str:
    """'parquet', 'jsonl' or 'json' from the file name (compression suffixes allowed on JSON)."""
    name = os.fspath(path).removesuffix(".gz").removesuffix(".zst")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".json"):
        return "json"
    return "jsonl"


def iter_raw(path: str | os.PathLike) -> Iterator[tuple[int, bytes | dict[str, Any]]]:
    """``(line_or_row, record)`` pairs: JSONL lines as bytes, Parquet rows and JSON documents as dicts."""
    name = os.fspath(path)
    storage = storage_of(path)
    if storage == "jsonl":
        yield from iter_lines(path)
    elif storage == "json":
        try:
            with open_input(path) as stream:
                data = stream.read()
        except DECOMPRESSION_ERRORS as exc:
            raise SrftError(Problem(f"cannot decompress: {exc}", file=name)) from None
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            yield 1, data  # parse_record explains what is wrong
            return
        for i, rec in enumerate(doc if isinstance(doc, list) else [doc], start=1):
            yield i, rec
    else:
        yield from _parquet_rows(name)


def _parquet_rows(name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        parquet = pq.ParquetFile(name)
    except (OSError, pa.ArrowException) as exc:
        raise SrftError(Problem(f"not a readable Parquet file ({exc})", file=name)) from None
    model = _model_for_columns(parquet.schema_arrow.names)
    row = 0
    meta = parquet.metadata
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    for batch in parquet.iter_batches(batch_size=_chunk_rows(size, meta.num_rows)):
        for obj in arrow.from_table(batch, model):
            row += 1
            yield row, obj


def _chunk_rows(nbytes: int, rows: int) -> int:
    """Rows of Arrow data of this average size that make about :data:`ARROW_CHUNK_BYTES` (1 to a row group)."""
    return max(1, min(ROW_GROUP_SIZE, ARROW_CHUNK_BYTES * rows // max(nbytes, 1)))


def _model_for_columns(columns: list[str]) -> type[Model]:
    from .models import VerdictRecord

    return VerdictRecord if "annotator" in columns and "messages" not in columns else Trajectory


def read_records(path: str | os.PathLike, model: type[M], *,
                 annotators: Collection[str] | None = None, check: bool = True) -> Iterator[M]:
    """Validated records of ``path`` as models; the first bad one raises :class:`SrftError` with its location.

    ``annotators`` (ids) are declared beside the records' own, as a dataset's manifest declares them."""

    def load(raw: bytes | dict[str, Any]) -> M:
        record = parse_record(raw, model) if isinstance(raw, bytes) else load_record(raw, model)
        if check and isinstance(record, Trajectory):
            _raise_any(check_trajectory(record, annotators))
        return record

    return _read(path, load)


def read_objects(path: str | os.PathLike, model: type[Model], *,
                 annotators: Collection[str] | None = None, check: bool = True) -> Iterator[dict[str, Any]]:
    """The records :func:`read_records` would give, as JSON objects: the same checks without building models
    (the spec's JSON Schema and the cross-references), several times faster. For scans, copies and checks."""

    def load(raw: bytes | dict[str, Any]) -> dict[str, Any]:
        obj = load_object(raw, model)
        if check and model is Trajectory:
            _raise_any(check_trajectory_object(obj, annotators))
        return obj

    return _read(path, load)


def _read(path: str | os.PathLike, load: Callable[[bytes | dict[str, Any]], T]) -> Iterator[T]:
    """``load`` applied to each record of ``path``, its problems located at the file and line."""
    name = os.fspath(path)
    empty = True
    for loc, raw in iter_raw(path):
        empty = False
        try:
            record = load(raw)
        except SrftError as exc:
            raise type(exc)([p.located(name, loc) for p in exc.problems]) from None
        yield record
    if empty:
        raise SrftError(Problem("empty file: no records", file=name))


def _raise_any(problems: list[Problem]) -> None:
    if problems:
        raise SrftError(problems)


def write_records(path: str | os.PathLike, records: Iterable[Model], model: type[Model]) -> int:
    """Write records atomically as JSONL or Parquet (by the file name); returns how many."""
    if storage_of(path) == "parquet":
        with ParquetRecordWriter(path, model) as writer:
            for record in records:
                writer.write(record)
            return writer.count
    with open_output(path) as out:
        count = 0
        for record in records:
            out.write(dump_record(record) + b"\n")
            count += 1
        return count


class ParquetRecordWriter:
    """Streams records into a Parquet file, one row group every :data:`ROW_GROUP_SIZE`; atomic on close.

    Records become Arrow data in chunks of about :data:`ARROW_CHUNK_BYTES`, sized from the previous chunk."""

    def __init__(self, path: str | os.PathLike, model: type[Model], row_group_size: int = ROW_GROUP_SIZE):
        self.path = Path(path)
        self.model = model
        self.row_group_size = row_group_size
        self.count = 0
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._writer = pq.ParquetWriter(self._tmp, arrow.schema_of(model), compression="zstd")
        self._records: list[Model] = []
        self._chunk = 1
        self._tables: list[pa.Table] = []
        self._rows = 0

    def write(self, record: Model) -> None:
        self._records.append(record)
        self.count += 1
        self._rows += 1
        if len(self._records) >= self._chunk:
            self._convert()
        if self._rows >= self.row_group_size:
            self._flush()

    def _convert(self) -> None:
        if self._records:
            table = arrow.to_table(self._records, self.model)
            self._tables.append(table)
            self._chunk = _chunk_rows(table.nbytes, table.num_rows)
            self._records = []

    def _flush(self) -> None:
        self._convert()
        if self._tables:
            table = pa.concat_tables(self._tables).combine_chunks()
            self._writer.write_table(table, row_group_size=self.row_group_size)
            self._tables, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        fsync_file(self._tmp)
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ParquetRecordWriter":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.abort() if exc_type else self.close()


def fsync_file(path: str | os.PathLike) -> None:
    """Force a written file's bytes to disk (before a manifest that lists it is written)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
