"""Turn the inputs of ``srft convert`` into source files, and each file into :class:`SourceRecord` s.

Inputs are files, directories (searched recursively), glob patterns and ``-`` (stdin); ``.gz`` and
``.zst`` files are decompressed. A file is split by its shape: one JSON document (``.json``, ``.traj``,
``.pred``), JSON Lines (one record per line), or a YAML document (SWE-agent demonstrations). Every record
keeps its exact bytes, from which trajectory ids and ``record_sha256`` are computed.
"""

from __future__ import annotations

import glob
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import yaml

from srft_format.errors import Problem, SrftError, json_error
from srft_format.jsonl import iter_lines, numbered_lines, read_input

from .base import SourceRecord

SOURCE_SUFFIXES = (".traj", ".json", ".jsonl", ".yaml", ".yml", ".pred")
"""Files a directory search picks up (also with ``.gz`` / ``.zst`` after them)."""
COMPRESSION_SUFFIXES = (".gz", ".zst")
GLOB_CHARS = set("*?[")
COMPLETION_LOG = re.compile(r"^.+-(?P<time>\d+\.\d+)\.json$")
"""An OpenHands completion log, ``<provider>__<model>-<unix time>.json``: a folder of only these is one record."""
STDIN = "-"
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class LineRange:
    """A piece of a JSON Lines file, whole lines: bytes ``start`` to ``stop``, from line ``first_line`` (from 1),
    which holds record ``first_record`` (from 0) of the file."""

    start: int
    stop: int
    first_line: int
    first_record: int
    last: bool
    """Whether this is the file's last piece."""


@dataclass(frozen=True)
class InputFile:
    """One source file, or a piece of one: where to read it and the name it is reported and recorded under."""

    path: str
    name: str
    """Relative to the input root (the directory given, or the file's own name); ``<stdin>`` for ``-``."""
    data: bytes | None = None
    """The bytes already read (stdin), else None."""
    lines: LineRange | None = None
    """The piece of a JSON Lines file to read (see :func:`split_json_lines`), else None for all of it."""
    members: tuple[str, ...] = ()
    """A folder of OpenHands completion logs (``path`` is the folder): its files in call order, read as one
    record (a list of their objects)."""
    unreadable: str | None = None
    """Why a directory under an input could not be searched: reading it fails, so it counts as an error."""


@dataclass(frozen=True)
class RecordError:
    """A record that could not even be decoded, located for the error report."""

    problem: Problem


def base_name(name: str) -> str:
    """The file name without compression suffixes: ``a.jsonl.zst`` -> ``a.jsonl``."""
    for suffix in COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def file_stem(file: str, suffixes: tuple[str, ...]) -> str:
    """The file's name without its folder, its compression suffixes, then each of ``suffixes`` in turn."""
    name = base_name(PurePosixPath(file).name)
    for suffix in suffixes:
        name = name.removesuffix(suffix)
    return name


def is_source_file(path: Path) -> bool:
    return not path.name.startswith(".") and base_name(path.name).endswith(SOURCE_SUFFIXES)


def expand_inputs(inputs: Iterable[str]) -> list[InputFile]:
    """Every source file named by ``inputs``, in a stable order, each once."""
    files: list[InputFile] = []
    seen: set[str] = set()

    def add(path: Path, name: str, members: tuple[str, ...] = ()) -> None:
        key = str(path.resolve())
        if key not in seen:
            seen.add(key)
            files.append(InputFile(str(path), name, members=members))

    for spec in inputs:
        if spec == STDIN:
            files.append(InputFile(STDIN, "<stdin>", sys.stdin.buffer.read()))
            continue
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_source_file(p)
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise SrftError(Problem(f"no source files ({', '.join(SOURCE_SUFFIXES)}) in this directory",
                                        file=spec))
            logs = _completion_folders(found)
            for p in found:
                if p.parent in logs:
                    name = p.parent.relative_to(path).as_posix()
                    add(p.parent, path.name if name == "." else name, logs[p.parent])
                else:
                    add(p, p.relative_to(path).as_posix())
            for error in unreadable_folders(path):
                files.append(InputFile(error.filename, Path(error.filename).relative_to(path).as_posix() + "/",
                                       unreadable=f"cannot search this directory: {error.strerror}"))
        elif path.is_file():
            add(path, path.name)
        elif GLOB_CHARS & set(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise SrftError(Problem("the pattern matches no files", file=spec))
            for match in matches:
                if Path(match).is_file():
                    add(Path(match), Path(match).name)
        else:
            raise SrftError(Problem("no such file or directory", file=spec))
    return files


def _completion_folders(found: list[Path]) -> dict[Path, tuple[str, ...]]:
    """The folders whose source files are all OpenHands completion logs, with their files in time order."""
    by_folder: dict[Path, list[Path]] = {}
    for p in found:
        by_folder.setdefault(p.parent, []).append(p)
    return {folder: tuple(str(p) for p in sorted(members, key=_call_time))
            for folder, members in by_folder.items() if all(COMPLETION_LOG.match(p.name) for p in members)}


def _call_time(path: Path) -> tuple[float, str]:
    match = COMPLETION_LOG.match(path.name)
    return (float(match["time"]) if match else 0.0, path.name)


def input_size(source: InputFile) -> int:
    """The bytes of a source as stored (a completion-log folder: its files together)."""
    if source.data is not None:
        return len(source.data)
    return sum(map(os.path.getsize, source.members)) if source.members else os.path.getsize(source.path)


def unreadable_folders(root: Path) -> list[OSError]:
    """The folders under ``root`` that cannot be listed (a directory search would skip them silently)."""
    errors: list[OSError] = []
    for _ in os.walk(root, onerror=errors.append):
        pass
    return [e for e in errors if e.filename is not None]


def read_bytes(source: InputFile) -> bytes:
    """The decompressed bytes of a source file."""
    if source.data is not None:
        return source.data
    return read_input(source.path, source.name)


def iter_records(source: InputFile) -> Iterator[SourceRecord | RecordError]:
    """The records of one file, or a :class:`RecordError` for each record that is not valid JSON/YAML.

    JSON Lines are streamed (one line in memory at a time); documents, and pieces of JSON Lines files (a batch
    of ``srft convert --jobs``), are read whole."""
    if source.unreadable is not None:
        raise SrftError(Problem(source.unreadable, file=source.name))
    name = base_name(source.name)
    if source.members:
        yield _folder_record(source)
        return
    if source.lines is not None:
        piece = source.lines
        yield from _line_records(source.name, numbered_lines(io.BytesIO(_read_range(source, piece)),
                                                             start=piece.first_line), piece.first_record)
        return
    if name.endswith(".jsonl"):
        lines = iter_lines(source.path) if source.data is None else numbered_lines(io.BytesIO(source.data))
        yield from _line_records(source.name, lines)
        return
    raw = read_bytes(source).removeprefix(UTF8_BOM)
    if name.endswith((".yaml", ".yml")):
        yield _yaml_record(source.name, raw)
    else:
        yield from _document_records(source.name, raw)


def _folder_record(source: InputFile) -> SourceRecord | RecordError:
    """A folder of completion logs as one record: the list of the files' objects, its bytes theirs joined."""
    raws: list[bytes] = []
    data: list[Any] = []
    for member in source.members:
        where = f"{source.name}/{Path(member).name}"
        raw = read_bytes(InputFile(member, where)).removeprefix(UTF8_BOM)
        try:
            data.append(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return RecordError(Problem(json_error(raw), file=where))
        raws.append(raw)
    return SourceRecord(raw=b"\n".join(raws), data=data, file=source.name, offset=0)


def _yaml_record(name: str, raw: bytes) -> SourceRecord | RecordError:
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return RecordError(Problem(f"not valid YAML ({getattr(exc, 'problem', exc)})", file=name, line=line))
    except UnicodeDecodeError as exc:
        return RecordError(Problem(f"not valid UTF-8 (byte at offset {exc.start})", file=name))
    return SourceRecord(raw=raw, data=data, file=name, offset=0)


def _document_records(name: str, raw: bytes) -> Iterator[SourceRecord | RecordError]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if _looks_like_json_lines(raw):
            yield from _line_records(name, numbered_lines(io.BytesIO(raw)))
        else:
            yield RecordError(Problem(json_error(raw), file=name))
        return
    yield SourceRecord(raw=raw, data=data, file=name, offset=0)


def _looks_like_json_lines(raw: bytes) -> bool:
    first, _, rest = raw.lstrip().partition(b"\n")
    try:
        return isinstance(orjson.loads(first), dict) and bool(rest.strip())
    except orjson.JSONDecodeError:
        return False


def _line_records(name: str, lines: Iterable[tuple[int, bytes]], offset: int = 0
                  ) -> Iterator[SourceRecord | RecordError]:
    """A record per non-blank line, numbered from ``offset``; its bytes are the line without its ending (ids
    are computed from them)."""
    for number, line in lines:
        line = _record_bytes(number, line)
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield RecordError(Problem(json_error(line), file=name, line=number))
        else:
            yield SourceRecord(raw=line, data=data, file=name, offset=offset, line=number)
        offset += 1


def _record_bytes(number: int, line: bytes) -> bytes:
    """The bytes of the record on line ``number``: without the line ending, nor a BOM on line 1."""
    return (line.removeprefix(UTF8_BOM) if number == 1 else line).removesuffix(b"\n").rstrip(b"\r")


def _read_range(source: InputFile, piece: LineRange) -> bytes:
    try:
        with open(source.path, "rb") as stream:
            stream.seek(piece.start)
            return stream.read(piece.stop - piece.start)
    except OSError as exc:
        raise SrftError(Problem(f"cannot read: {exc.strerror}", file=source.name)) from None


def is_splittable(source: InputFile) -> bool:
    """Whether :func:`split_json_lines` can split the file: uncompressed JSON Lines on disk."""
    return source.data is None and source.name.endswith(".jsonl")


def split_json_lines(source: InputFile, piece_bytes: int) -> list[InputFile]:
    """The file as pieces of whole lines of about ``piece_bytes`` each (one piece when it is smaller), so that
    several processes can convert it; each piece knows the line and record number it starts with."""
    bounds: list[tuple[int, int, int, int]] = []
    start = position = records = 0
    first = (1, 0)
    with open(source.path, "rb", buffering=1 << 20) as stream:
        for number, line in enumerate(stream, start=1):
            position += len(line)
            if not (line.isspace() or (number == 1 and not _record_bytes(1, line).strip())):
                records += 1
            if position - start >= piece_bytes:
                bounds.append((start, position, *first))
                start, first = position, (number + 1, records)
    if start < position or not bounds:
        bounds.append((start, position, *first))
    return [replace(source, lines=LineRange(*bound, last=i == len(bounds) - 1)) for i, bound in enumerate(bounds)]


def split_list(record: SourceRecord) -> list[SourceRecord]:
    """The elements of a JSON list document as records of their own (their bytes re-serialised)."""
    return [SourceRecord(raw=orjson.dumps(item), data=item, file=record.file, offset=i)
            for i, item in enumerate(record.data)]


def is_list_of_objects(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(item, dict) for item in data)
