"""Streaming JSON Lines in constant memory: plain, gzip (``.gz``) or zstandard (``.zst``), or stdin (``-``)."""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import zstandard

from .errors import Problem, SrftError

DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, zstandard.ZstdError)
"""What reading a corrupt ``.gz`` / ``.zst`` file (or a failing disk) raises."""


def compression_of(path: str | os.PathLike) -> str | None:
    name = os.fspath(path)
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(".zst"):
        return "zstd"
    return None


@contextmanager
def open_input(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary stream of the decompressed bytes of ``path`` (``-`` reads stdin)."""
    if os.fspath(path) == "-":
        yield sys.stdin.buffer
        return
    try:
        raw = open(path, "rb", buffering=1 << 20)
    except OSError as exc:
        raise SrftError(Problem(f"cannot open: {exc.strerror}", file=os.fspath(path))) from None
    with raw:
        kind = compression_of(path)
        if kind == "gzip":
            with gzip.GzipFile(fileobj=raw) as stream:
                yield stream  # type: ignore[misc]
        elif kind == "zstd":
            with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream:
                yield io.BufferedReader(stream, buffer_size=1 << 20)  # type: ignore[arg-type]
        else:
            yield raw


def numbered_lines(stream: Iterable[bytes], start: int = 1) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line)`` for every non-blank line of a binary stream, numbered from ``start``."""
    for number, line in enumerate(stream, start=start):
        if not line.isspace():
            yield number, line  # the line ending stays: JSON allows trailing whitespace


def read_input(path: str | os.PathLike, name: str | None = None) -> bytes:
    """The decompressed bytes of ``path``; a damaged archive is an error naming the file (or ``name``)."""
    try:
        with open_input(path) as stream:
            return stream.read()
    except DECOMPRESSION_ERRORS as exc:
        raise SrftError(Problem(f"cannot decompress: {exc}", file=name or os.fspath(path))) from None


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line)`` for every non-blank line (with its line ending), numbered from 1; errors name
    the file."""
    name = os.fspath(path)
    with open_input(path) as stream:
        try:
            yield from numbered_lines(stream)
        except DECOMPRESSION_ERRORS as exc:
            raise SrftError(Problem(f"cannot decompress: {exc}", file=name)) from None


@contextmanager
def open_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write ``path`` atomically: bytes go to a temporary sibling that is renamed into place on success."""
    target = Path(path)
    if target.exists() and not target.is_file():
        raise SrftError(Problem("exists and is not a regular file; srft writes a new file and renames it into "
                                "place, so give a file path", file=str(target)))
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        # never through a link planted at the temporary name
        raw = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644), "wb")
    except OSError as exc:
        raise SrftError(Problem(f"cannot write here: {exc.strerror}", file=str(target))) from None
    try:
        with raw:
            kind = compression_of(target)
            if kind == "gzip":
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as stream:
                    yield stream  # type: ignore[misc]
            elif kind == "zstd":
                with zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as stream:
                    yield stream  # type: ignore[misc]
            else:
                yield raw
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_lines(path: str | os.PathLike, lines: Iterable[bytes]) -> int:
    """Write one JSON document per line atomically; returns the number of lines."""
    count = 0
    with open_output(path) as out:
        for line in lines:
            out.write(line)
            out.write(b"\n")
            count += 1
    return count
