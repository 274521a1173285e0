"""SQL over srft datasets: DuckDB views over the dataset files, read in place.

:func:`open_views` points DuckDB at the files a dataset's manifest lists (Parquet through ``read_parquet``,
JSONL through ``read_json`` with the Parquet layout of :mod:`srft_format.arrow`), then runs the packaged
``sql/views.sql``, ``sql/effective_verdicts.sql`` and ``sql/training_signal.sql``, which define the views
documented in ``spec/views.md``: ``trajectories``, ``steps``, ``messages``, ``verdicts``, ``annotators``,
``effective_verdicts`` and ``training_signal``. No record is loaded into Python.

>>> con = open_views(["my-dataset"])                                    # doctest: +SKIP
>>> con.sql("SELECT repo, avg(n_steps) FROM trajectories GROUP BY repo").show()   # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from . import arrow
from .dataset import Dataset
from .errors import Problem, SrftError
from .io import storage_of
from .models import Message, Trajectory, VerdictRecord
from .policy import annotator_class
from .policy import TrainingPolicy

VIEWS = ("trajectories", "steps", "messages", "verdicts", "annotators", "effective_verdicts",
         "training_signal")
"""The views every connection from :func:`open_views` has (``spec/views.md`` documents their columns)."""

VIEW_FILES = ("views.sql", "effective_verdicts.sql", "training_signal.sql")

SOURCES = {"trajectories": "srft_trajectory_files", "verdicts": "srft_verdict_files",
           "annotators": "srft_manifest_annotators"}
"""The relations the packaged views read: one row per record, the Parquet layout plus a ``dataset`` column."""

DATA_FILE = re.compile(r"'([^']+\.(?:parquet|jsonl(?:\.gz|\.zst)?))'")
"""A data file named in a DuckDB error message."""

ANNOTATOR_COLUMNS = ("dataset", "id", "kind", "model", "prompt", "prompt_sha256", "description", "parameters",
                     "evidence", "priority_class")
"""The columns of ``srft_manifest_annotators`` (all text; ``parameters`` is JSON, ``evidence`` comma-separated)."""


def sql_text(name: str) -> str:
    """The text of a packaged ``srft_format/sql/*.sql`` file."""
    return resources.files("srft_format.sql").joinpath(name).read_text(encoding="utf-8")


def open_views(datasets: Sequence[str | os.PathLike], *, policy: TrainingPolicy | None = None,
               con: duckdb.DuckDBPyConnection | None = None, safe: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the srft views over ``datasets`` (a ``dataset`` column tells them apart).

    ``policy`` chooses how verdicts resolve (``effective_verdicts``) and which steps train
    (``training_signal.weight``); the default is ``TrainingPolicy()``. :func:`set_policy` changes it later.
    ``safe``: :func:`lock_down` the connection once the views exist, for SQL that srft did not write.
    """
    if not datasets:
        raise SrftError("no dataset given")
    opened = [Dataset.open(path) for path in datasets]
    names = _dataset_names(opened)
    con = con if con is not None else duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # it draws on standard output, into piped results
    with sql_errors(con):
        for kind, relation in SOURCES.items():
            parts = [_source_sql(kind, ds, name) for ds, name in zip(opened, names)]
            con.execute(f"CREATE OR REPLACE TEMP VIEW {relation} AS\n" + "\nUNION ALL BY NAME\n".join(parts))
        set_policy(con, (policy or TrainingPolicy()).for_annotators(a for ds in opened for a in ds.manifest.annotators))
        for file in VIEW_FILES:
            con.execute(sql_text(file))
    if safe:
        lock_down(con, [ds.path for ds in opened])
    return con


def lock_down(con: duckdb.DuckDBPyConnection, folders: Sequence[Path]) -> None:
    """Let ``con`` read only files under ``folders`` (the datasets): no other file, no network, no extension
    download, no ``COPY``/``ATTACH`` elsewhere, and no setting can be changed back (the DuckDB sandbox)."""
    allowed = sorted({os.path.join(p, "") for f in folders for p in (os.path.abspath(f), os.path.realpath(f))})
    con.execute("SET allowed_directories = " + "[" + ", ".join(_literal(d) for d in allowed) + "]")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


@contextmanager
def sql_errors(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Turn DuckDB errors into :class:`SrftError`: a data file it cannot read is named; any other error
    comes back with the views and their columns, so the next query can get them right."""
    try:
        yield
    except duckdb.Error as exc:
        message = str(exc).strip()
        unreadable = DATA_FILE.search(message)
        if unreadable and isinstance(exc, (duckdb.IOException, duckdb.InvalidInputException)):
            raise SrftError(Problem(f"cannot read this data file: {message.splitlines()[0]}",
                                    file=unreadable.group(1))) from None
        raise SrftError(f"{message}\n{describe_views(con)}") from None


def view_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The srft views present on ``con`` and their columns, in order."""
    rows = con.execute("SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
                       "WHERE table_name IN ? GROUP BY table_name", [list(VIEWS)]).fetchall()
    found = dict(rows)
    return {view: found[view] for view in VIEWS if view in found}


def describe_views(con: duckdb.DuckDBPyConnection) -> str:
    """The available views and their columns, one view a line."""
    lines = [f"  {view}({', '.join(columns)})" for view, columns in view_columns(con).items()]
    return "available views:\n" + "\n".join(lines)


def set_policy(con: duckdb.DuckDBPyConnection, policy: TrainingPolicy) -> None:
    """Point ``effective_verdicts`` and ``training_signal`` at ``policy`` (they read these variables)."""
    settings = {"srft_policy": policy.name, "srft_annotators": list(policy.verdicts.annotators),
                "srft_order": list(policy.verdicts.order),
                "srft_resolution": policy.verdicts.resolution.value,
                "srft_threshold": float(policy.verdicts.threshold),
                "srft_unlabeled": policy.unlabeled, "srft_soft": policy.soft}
    for name, value in settings.items():
        cast = "::VARCHAR[]" if isinstance(value, list) else ""
        con.execute(f"SET VARIABLE {name} = ?{cast}", [value])


def _dataset_names(opened: list[Dataset]) -> list[str]:
    """The manifest names, or the paths where two datasets share a name."""
    names = [ds.name for ds in opened]
    if len(set(names)) == len(names):
        return names
    return [str(ds.path) for ds in opened]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_list(files: list[Path]) -> str:
    return "[" + ", ".join(_literal(str(f)) for f in files) + "]"


def _source_sql(kind: str, ds: Dataset, name: str) -> str:
    """One dataset's part of a source relation (an empty, typed relation when it has no such files)."""
    if kind == "annotators":
        return _annotators_sql(ds, name)
    model = Trajectory if kind == "trajectories" else VerdictRecord
    files = ds.files(kind)
    for file in files:
        if not file.is_file():
            raise SrftError(Problem(f"missing {kind} file listed in the manifest", file=str(file)))
    storages = {storage_of(f) for f in files}
    if len(storages) > 1:
        raise SrftError(Problem(f"mixes {' and '.join(sorted(storages))} {kind} files", file=str(ds.path)))
    if not files:
        columns = ", ".join(f"NULL::{duckdb_type(f.type)} AS {_ident(f.name)}"
                            for f in arrow.schema_of(model))
        return f"SELECT {_literal(name)} AS dataset, {columns} LIMIT 0"
    if storages == {"parquet"}:
        source = f"read_parquet({_file_list(files)}, union_by_name = true)"
        missing = _missing_columns(model, files)
        if missing:  # files written before a minor version added top-level fields (1.0 files lack 1.1's usage)
            return f"SELECT {_literal(name)} AS dataset, *, {missing} FROM {source}"
    else:
        source = f"({_jsonl_sql(model, files)})"
    return f"SELECT {_literal(name)} AS dataset, * FROM {source}"


def _missing_columns(model: type, files: list[Path]) -> str:
    """NULL columns for the model's top-level fields that none of the Parquet files has."""
    import pyarrow.parquet as pq

    try:
        present = {name for f in files for name in pq.read_schema(f).names}
    except (pa.ArrowException, OSError):  # DuckDB names the bad file when it reads it
        return ""
    return ", ".join(f"NULL::{duckdb_type(f.type)} AS {_ident(f.name)}"
                     for f in arrow.schema_of(model) if f.name not in present)


def _jsonl_sql(model: type, files: list[Path]) -> str:
    """JSONL records in the Parquet layout: opaque objects as JSON text, ``content`` split in two columns."""
    columns = {f.name: _json_type(f.type) for f in arrow.schema_of(model)}
    spec = "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in columns.items()) + "}"
    read = f"read_json({_file_list(files)}, format = 'newline_delimited', columns = {spec}, " \
           f"maximum_object_size = 1073741824)"
    if model is not Trajectory:
        return f"SELECT * FROM {read}"
    return f"SELECT * REPLACE ({_messages_from_json()} AS messages) FROM {read}"


def _messages_from_json() -> str:
    """``messages`` with JSON ``content`` (text or parts) rebuilt as ``content`` + ``content_parts``."""
    parts = arrow.model_struct(Message).field("content" + arrow.PARTS_SUFFIX).type
    parsed_parts = f"json_transform(m.content, {_literal(orjson.dumps(_json_structure(parts)).decode())})"
    fields = []
    for f in arrow.model_struct(Message):
        if f.name == "content":
            value = "CASE WHEN json_type(m.content) = 'VARCHAR' THEN m.content ->> '$' END"
        elif f.name == "content_parts":
            value = f"CASE WHEN json_type(m.content) = 'ARRAY' THEN {parsed_parts} END"
        else:
            value = f"m.{_ident(f.name)}"
        fields.append(f"{_ident(f.name)} := {value}")
    return f"list_transform(messages, lambda m: struct_pack({', '.join(fields)}))"


def _json_structure(t: pa.DataType) -> object:
    """The ``json_transform`` structure of an Arrow type (missing keys read as NULL)."""
    if pa.types.is_struct(t):
        return {f.name: _json_structure(f.type) for f in t}
    if pa.types.is_list(t):
        return [_json_structure(t.value_type)]
    return duckdb_type(t)


def _annotators_sql(ds: Dataset, name: str) -> str:
    """The annotators a dataset's manifest declares, as a VALUES relation (an empty one when none)."""
    rows = [[name, a.id, a.kind.value, a.model, a.prompt, a.prompt_sha256, a.description,
             orjson.dumps(a.parameters).decode(), ",".join(e.value for e in a.evidence), annotator_class(a)]
            for a in ds.manifest.annotators]
    if not rows:
        return "SELECT " + ", ".join(f"NULL::VARCHAR AS {c}" for c in ANNOTATOR_COLUMNS) + " LIMIT 0"
    columns = ", ".join(f"{c}::VARCHAR AS {c}" for c in ANNOTATOR_COLUMNS)
    values = ", ".join("(" + ", ".join("NULL" if v is None else _literal(v) for v in row) + ")"
                       for row in rows)
    return f"SELECT {columns} FROM (VALUES {values}) AS a({', '.join(ANNOTATOR_COLUMNS)})"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB type of an Arrow type of the srft layout."""
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{_ident(f.name)} {duckdb_type(f.type)}" for f in t) + ")"
    if pa.types.is_list(t):
        return duckdb_type(t.value_type) + "[]"
    simple = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}
    return simple[t]


def _json_type(t: pa.DataType) -> str:
    """The DuckDB type to read JSONL as :func:`duckdb_type` ``(t)``: a text-or-parts field is one JSON column
    (:func:`_messages_from_json` splits it); VARCHAR reads objects back as JSON text."""
    if pa.types.is_struct(t):
        fields = []
        for f in t:
            text_field = f.name.removesuffix(arrow.PARTS_SUFFIX)
            if f.name + arrow.PARTS_SUFFIX in t.names:
                fields.append(f"{_ident(f.name)} JSON")
            elif text_field == f.name or text_field not in t.names:  # not the parts half of a pair
                fields.append(f"{_ident(f.name)} {_json_type(f.type)}")
        return "STRUCT(" + ", ".join(fields) + ")"
    if pa.types.is_list(t):
        return _json_type(t.value_type) + "[]"
    return duckdb_type(t)
