"""Replace secrets in trajectories with typed placeholders (``[REDACTED:openai-key]``), counting them by type.

Every string a record carries is searched, except identifiers and hashes that other records point at, and
base64 ``data:`` URLs (image bytes, where a key pattern could only match by chance and would corrupt them): message
text, content parts, reasoning, tool-call arguments (decoded, searched, and re-encoded as valid JSON), task
text, the outcome's patch, verdict rationales, annotator parameters and every ``extra``. In mappings, the value
of a key named like a secret (``api_key``, ``password``, ``*_TOKEN``...) is hidden whatever it looks like.

Only counts are recorded, never values: ``manifest.extra["redaction"]`` is written when a whole dataset has
been through the redactor (:func:`redaction_marker`), so a dataset marked redacted is redacted throughout.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

from .dataset import Dataset, to_verdict
from .models import Manifest, ToolCall, Trajectory
from .secrets import SECRET_FIELD, is_real_value, placeholder, redact_text
from .subset import derived_writer

MARKER = "redaction"
"""The ``manifest.extra`` key of the redaction record."""
TOOL = "srft_format.redact"
RULES_VERSION = "1"
"""Bumped when the rules in :mod:`srft_format.secrets` change what they find."""

UNSEARCHED_FIELDS = frozenset({"id", "tool_call_id", "trajectory", "annotator", "format_version", "prompt_sha256",
                               "record_sha256", "sha256"})
"""Model fields that are identifiers or digests: other records refer to them, and they hold no free text."""

M = TypeVar("M", bound=BaseModel)


class Redactor:
    """Redacts records and counts what it replaced, by type, across every call."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def text(self, text: str) -> str:
        return redact_text(text, self.counts)

    def model(self, record: M) -> M:
        """A copy of ``record`` with its secrets replaced (the record itself when it has none)."""
        changes = {}
        for name in type(record).model_fields:
            if name in UNSEARCHED_FIELDS:
                continue
            value = getattr(record, name)
            if isinstance(record, ToolCall) and name == "arguments":
                new = self.arguments(value)
            else:
                new = self.value(value)
            if new is not value:
                changes[name] = new
        return record.model_copy(update=changes) if changes else record

    def arguments(self, arguments: str) -> str:
        """Tool-call arguments: searched as JSON when they parse (so they stay valid JSON), else as text."""
        try:
            decoded = json.loads(arguments)
        except ValueError:
            return self.text(arguments)
        redacted = self.value(decoded)
        return arguments if redacted is decoded else json.dumps(redacted, ensure_ascii=False)

    def value(self, value: Any, key: str | None = None) -> Any:
        """Any value: models, mappings, lists and strings are searched; the same object back when unchanged."""
        if isinstance(value, Enum) or not isinstance(value, (str, list, dict, BaseModel)):
            return value
        if isinstance(value, BaseModel):
            return self.model(value)
        if isinstance(value, str):
            if is_inline_binary(value):
                return value
            new = self.text(value)
            if new == value and key is not None and SECRET_FIELD.match(key) and is_real_value(value):
                self.counts["secret-field"] += 1
                return placeholder("secret-field")
            return value if new == value else new
        if isinstance(value, list):
            items = [self.value(v) for v in value]
            return value if all(a is b for a, b in zip(items, value)) else items
        mapping = {k: self.value(v, k) for k, v in value.items()}
        return value if all(mapping[k] is v for k, v in value.items()) else mapping


def is_inline_binary(text: str) -> bool:
    """A ``data:...;base64,`` URL (an image part): random bytes, where a key pattern can only match by chance."""
    return text.startswith("data:") and ";base64," in text[:200]


def redact_trajectory(traj: Trajectory) -> tuple[Trajectory, Counter[str]]:
    """``traj`` with its secrets replaced, and how many of each type were found."""
    redactor = Redactor()
    return redactor.model(traj), redactor.counts


def redaction_marker(counts: Mapping[str, int]) -> dict[str, Any]:
    """The manifest record of a complete pass that found ``counts`` (types -> numbers; never values)."""
    return {"complete": True, "counts": dict(sorted(counts.items())), "total": sum(counts.values()),
            "tool": TOOL, "rules": RULES_VERSION,
            "redacted_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat()}


def combine_markers(markers: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The marker of a union of datasets: only when every part was completely redacted by the same rules."""
    markers = list(markers)
    if not markers or any(not m or not m.get("complete") for m in markers):
        return None
    rules = {m.get("rules") for m in markers}
    if len(rules) != 1:
        return None
    total: Counter[str] = Counter()
    for marker in markers:
        total.update(marker.get("counts", {}))
    return {**redaction_marker(total), "rules": rules.pop()}


def is_redacted(manifest: Manifest) -> bool:
    marker = manifest.extra.get(MARKER)
    return isinstance(marker, dict) and marker.get("complete") is True


def redact_manifest(manifest: Manifest) -> Counter[str]:
    """Replace secrets in the free text of a redacted dataset's manifest (name, description, sources,
    annotators, ``extra``): a token in a source's version string must not survive a complete pass."""
    redactor = Redactor()
    manifest.name = redactor.text(manifest.name)
    if manifest.description:
        manifest.description = redactor.text(manifest.description)
    manifest.sources = [redactor.model(s) for s in manifest.sources]
    manifest.annotators = [redactor.model(a) for a in manifest.annotators]
    manifest.extra = {k: v if k == MARKER else redactor.value(v, k) for k, v in manifest.extra.items()}
    return redactor.counts


def redact_dataset(path: str | os.PathLike, out: str | os.PathLike, *, storage: str | None = None,
                   overwrite: bool = False) -> tuple[Manifest, Counter[str]]:
    """Write a redacted copy of the dataset at ``path`` to ``out``; returns its manifest and the counts."""
    source = Dataset.open(path)
    redactor = Redactor()
    with derived_writer(source, out, overwrite=overwrite, storage=storage,
                        declare_annotators=False) as writer:
        writer.manifest.extra = redactor.value({k: v for k, v in source.manifest.extra.items() if k != MARKER})
        for annotator in source.manifest.annotators:
            writer.declare_annotator(redactor.model(annotator))
        for traj in source.trajectories():
            writer.add(redactor.model(traj))
        for record in source.verdicts():
            writer.add_verdict(record.trajectory, to_verdict(redactor.model(record)))
        writer.manifest.extra[MARKER] = redaction_marker(redactor.counts)
    return writer.manifest, redactor.counts
