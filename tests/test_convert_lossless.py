"""Conversion loses nothing: every leaf string of every source record appears in its srft trajectories.

Generic over all converters: it runs on every corpus file, converter fixture and bundled example. A leaf is
a string value anywhere in the record; a string holding a JSON object or list (SWE-agent ``replay_config``,
0.x ``state``, tool-call arguments) is compared by its own leaves. A leaf counts as kept when it is a string
of the srft record or part of one (a thought inside a reply, an observation inside its templated message).
Fields a converter declares in ``derived_fields`` are exempt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from srft_format.converters import run_files
from srft_format.converters.base import SourceRecord
from srft_format.converters.reader import InputFile, expand_inputs, iter_records

from conftest import REPO
from convert_helpers import converted

FIXTURE_DIRS = ("swe_agent", "nebius_swe_agent", "openhands", "nebius_openhands")


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(path, string)`` for every string leaf; list positions are written ``[]``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, f"{path}[]")
    elif isinstance(value, str):
        decoded = _json_container(value)
        if decoded is None:
            yield path, value
        else:
            yield from leaves(decoded, path)


def _json_container(text: str) -> Any:
    if text[:1] not in ("{", "["):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, (dict, list)) else None


def is_derived(path: str, derived: tuple[str, ...]) -> bool:
    return any(path == d or path.startswith((d + ".", d + "[")) for d in derived)


def source_files(corpus: Path) -> list[InputFile]:
    """The inputs as ``srft convert`` reads them (a folder of OpenHands completion logs is one input)."""
    folders = [*(REPO / "tests" / "fixtures" / name for name in FIXTURE_DIRS), REPO / "examples" / "sources"]
    return expand_inputs([str(f) for f in [corpus, *folders] if f.is_dir()])


FILES = source_files(Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus")))


def test_the_corpus_and_fixtures_are_all_covered(corpus: Path) -> None:
    assert FILES == source_files(corpus)
    every_file = {str(p) for p in corpus.rglob("*") if p.is_file() and not p.name.endswith(".md")}
    assert every_file <= {name for f in FILES for name in (f.members or (f.path,))}
    names = [f.name for f in FILES]
    assert sum(n.endswith(".traj") for n in names) >= 8 and any(n.endswith(".yaml") for n in names)
    assert any("nebius" in f.path for f in FILES) and any(f.members for f in FILES)


@pytest.mark.parametrize("source", FILES, ids=[f.name[-60:] for f in FILES])
def test_every_source_string_is_kept(source: InputFile) -> None:
    checked = 0
    for record, converter, trajectories in converted_or_refused(source):
        kept = [value for traj in trajectories for _, value in leaves(traj.model_dump(mode="json"))]
        kept_set, blob = set(kept), "\x00".join(kept)
        missing = [(p, v[:80]) for p, v in leaves(record.data)
                   if not is_derived(p, converter.derived_fields) and v not in kept_set and v not in blob]
        assert missing == [], f"{source.name}: {converter.name} drops {missing[:5]}"
        checked += 1
    assert checked or is_run_file(source)


def converted_or_refused(source: InputFile) -> list:
    """The file converted, or nothing for a file of a run that holds no trajectory (predictions, evaluation
    output), which ``srft convert`` refuses with a reason."""
    return [] if is_run_file(source) else converted(source)


def is_run_file(source: InputFile) -> bool:
    return any(isinstance(r, SourceRecord) and run_files.explain(r.data) is not None for r in iter_records(source))
