"""A Hugging Face dataset card (``README.md``) for a dataset directory.

The YAML header is what the Hub and ``datasets.load_dataset`` read: the licence, tags, a size category, and one
``configs`` entry per record kind (``trajectories``, ``verdicts``) whose ``data_files`` are exactly the Parquet
files the manifest lists. So both ``load_dataset("parquet", data_files=...)`` and ``load_dataset(<dir>,
"trajectories")`` work, offline, on the directory as ``srft`` wrote it. Below the header: what is inside.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .dataset import Dataset
from .jsonl import open_output
from .models import FORMAT_VERSION, Manifest
from .query import open_views
from .redact import MARKER, is_redacted
from .stats import compute_stats

CARD = "README.md"
STATS_FIGURES = {"overview": "Overview", "verdicts": "Verdicts by annotator",
                 "training_signal": "Training signal by policy"}
CONFIGS = ("trajectories", "verdicts")
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>100M")


def hub_license(license: str | None) -> str:
    """The Hub's licence id: an SPDX id in lower case, ``unknown`` when none, ``other`` for an expression."""
    if not license:
        return "unknown"
    return license.lower() if re.fullmatch(r"[A-Za-z0-9.+-]+", license) else "other"


def card_metadata(manifest: Manifest) -> dict[str, Any]:
    """The YAML header as a mapping."""
    scaffolds = [s.format for s in manifest.sources]
    metadata: dict[str, Any] = {
        "license": hub_license(manifest.license),
        "pretty_name": manifest.name,
        "tags": list(dict.fromkeys(["srft", "agent-trajectories", "step-level-annotations", *scaffolds])),
        "task_categories": ["text-generation"],
        "size_categories": [size_category(manifest.counts.trajectories)],
    }
    if metadata["license"] == "other":
        metadata["license_name"] = manifest.license
    configs = []
    for kind in CONFIGS:
        files = [f.path for f in manifest.files if f.kind == kind and f.storage == "parquet"]
        if files:
            configs.append({"config_name": kind, "data_files": [{"split": "train", "path": files}],
                            **({"default": True} if kind == "trajectories" else {})})
    if configs:
        metadata["configs"] = configs
    return metadata


def render_card(dataset: Dataset) -> str:
    header = yaml.safe_dump(card_metadata(dataset.manifest), sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n\n{_body(dataset.manifest, _statistics(dataset))}"


def _statistics(dataset: Dataset) -> str:
    """The figures of ``srft stats`` that describe a dataset to a newcomer, as Markdown tables."""
    figures = compute_stats(open_views([dataset.path]), names=tuple(STATS_FIGURES))
    parts = ["## Statistics (`srft stats`)", ""]
    for name, title in STATS_FIGURES.items():
        rows = figures[name]
        if rows:
            parts += [f"### {title}", "", *markdown_table(rows), ""]
    return "\n".join(parts)


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    return lines


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _body(m: Manifest, statistics: str) -> str:
    c = m.counts
    lines = [f"# {m.name}", ""]
    if m.description:
        lines += [m.description, ""]
    lines += [f"Step-annotated LLM-agent trajectories in the srft format {m.format_version} "
              f"(card written by srft-format, format {FORMAT_VERSION}). "
              f"Dataset version {m.version}, licence {m.license or 'not stated'}.", "",
              "## Contents", "",
              "| records | count |", "|---|---:|",
              f"| trajectories | {c.trajectories} |", f"| steps | {c.steps} |",
              f"| messages | {c.messages} |", f"| verdicts | {c.verdicts} |", ""]
    if m.sources:
        lines += ["### Sources", "", "| format | version | files | trajectories |", "|---|---|---:|---:|"]
        lines += [f"| {s.format} | {s.version or ''} | {s.files} | {s.trajectories} |" for s in m.sources]
        lines.append("")
    if m.annotators:
        lines += ["### Annotators", "", "| id | kind | model | prompt |", "|---|---|---|---|"]
        lines += [f"| {a.id} | {a.kind.value} | {a.model or ''} | {a.prompt or ''} |" for a in m.annotators]
        lines.append("")
    lines += [statistics, "## Redaction", "", _redaction_note(m), ""]
    lines += _usage(m)
    return "\n".join(lines)


def _redaction_note(m: Manifest) -> str:
    if not is_redacted(m):
        return "Not redacted: trajectories may contain whatever the agents saw. Run `srft redact` before sharing."
    marker = m.extra[MARKER]
    counts = ", ".join(f"{kind}: {n}" for kind, n in marker.get("counts", {}).items()) or "none found"
    return f"Every record went through `srft redact` (rules {marker.get('rules')}); secrets replaced: {counts}."


def _usage(m: Manifest) -> list[str]:
    if not any(f.storage == "parquet" for f in m.files):
        return ["## Loading", "", "This dataset is stored as JSONL; `srft copy DATASET OUT --storage parquet` "
                "makes a copy that `datasets` can load.", ""]
    return ["## Loading", "", "```python", "from datasets import load_dataset", "",
            'trajectories = load_dataset("path/to/this/dataset", "trajectories", split="train")',
            'verdicts = load_dataset("path/to/this/dataset", "verdicts", split="train")', "```", "",
            "Nested fields that have no fixed type (`extra`, `agent.config`, tool schemas...) are JSON strings. "
            "`srft_format.arrow.from_table` turns rows back into records; `srft_format.Dataset` reads the "
            "directory directly, checks it, and joins sidecar verdicts.", ""]


def write_card(path: str | os.PathLike) -> Path:
    """Write ``README.md`` into the dataset at ``path``; returns its path."""
    from .lock import write_lock

    with write_lock(path):
        dataset = Dataset.open(path)
        target = dataset.path / CARD
        with open_output(target) as out:
            out.write(render_card(dataset).encode())
    return target
