"""What every converter is: a name, the versions it reads, a detector and a record converter.

A converter module defines one module-level ``CONVERTER`` and is listed once in
``srft_format.converters.registry.CONVERTERS``; adding a source touches nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from srft_format import __version__
from srft_format.ids import sha256_hex, trajectory_id
from srft_format.models import FORMAT_VERSION, Provenance, Trajectory


@dataclass(frozen=True)
class SourceRecord:
    """One record of a source file: its exact bytes (for ids and hashes) and its decoded value."""

    raw: bytes
    data: Any
    file: str
    """The file's path relative to the input root given to ``srft convert``."""
    offset: int
    """Record number in the file, from 0."""
    line: int | None = None
    """Line number (from 1) for JSON Lines files; None for whole documents."""


@dataclass(frozen=True)
class Detection:
    """A converter's claim on a record: the version it recognised and why."""

    version: str
    reason: str


@dataclass(frozen=True)
class Converter:
    name: str
    """Short source-format name, also the prefix of trajectory ids, e.g. ``swe-agent``."""
    versions: tuple[str, ...]
    """The source versions it reads, shown by ``srft convert --list``."""
    detect: Callable[[SourceRecord], Detection | None]
    """Recognise a record (cheaply, from its keys); None when it is not this format.

    A JSON document is offered whole first (``data`` may be a list, e.g. a bare event list); only when no
    converter claims a list of objects is each element offered as a record of its own."""
    convert: Callable[[SourceRecord, Detection], Iterator[Trajectory]]
    """The srft trajectories of one record (usually one)."""
    description: str = ""
    derived_fields: tuple[str, ...] = field(default=())
    """Source fields deliberately not copied (derived from or duplicating mapped ones), for the losslessness test."""


def provenance(converter: Converter, record: SourceRecord, detection: Detection, *,
               origin: str = "recorded") -> Provenance:
    """Provenance of a converted record; ``origin`` says whether its messages were recorded or reconstructed."""
    return Provenance(source_format=converter.name, source_version=detection.version,
                      converter=f"srft_format.converters.{converter.name.replace('-', '_')}",
                      converter_version=__version__, source_file=record.file, record_offset=record.offset,
                      record_sha256=sha256_hex(record.raw), messages=origin)  # type: ignore[arg-type]


def new_trajectory(converter: Converter, record: SourceRecord, detection: Detection, *,
                   suffix: str = "", origin: str = "recorded", **fields: Any) -> Trajectory:
    """A trajectory with a deterministic id and full provenance; ``suffix`` separates several per record."""
    raw = record.raw + suffix.encode()
    return Trajectory(format_version=FORMAT_VERSION, id=trajectory_id(converter.name, raw),
                      provenance=provenance(converter, record, detection, origin=origin), **fields)
