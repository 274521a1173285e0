"""Stable identifiers: the same source content always gives the same trajectory id."""

from __future__ import annotations

import hashlib


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def trajectory_id(source_format: str, raw_record: bytes) -> str:
    """A trajectory id derived from the source format and the raw record's bytes.

    ``<source_format>-<24 hex digits of sha256(format NUL bytes)>``: re-converting the same record gives the
    same id, so datasets can be deduplicated, joined and labelled by other teams.
    """
    digest = hashlib.sha256(source_format.encode() + b"\0")
    digest.update(raw_record)  # not concatenated first: records can be megabytes
    return f"{source_format}-{digest.hexdigest()[:24]}"
