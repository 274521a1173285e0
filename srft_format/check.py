"""Validate files and datasets, reporting every problem (not only the first) as ``file:line: path: message``.

Two engines: the library (:func:`srft_format.records.load_object`, which builds pydantic models only for the
records the schema rejects, so that their messages are exact, plus the cross-reference rules of
:mod:`srft_format.validate`) and ``schema_only`` (``jsonschema`` against ``spec/`` alone, which is what a user of
any other language can run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from . import schema as schemas
from .errors import Problem, SrftError, json_error, json_path
from .io import iter_raw
from .models import RECORD_MODELS, Annotator, Manifest, Model, record_kind
from .records import load_object
from .validate import check_trajectory_object, check_verdict

def kind_of_record(obj: Any) -> str:
    """Guess a record's kind from its keys: verdict lines name a trajectory, manifests list files."""
    if isinstance(obj, dict):
        if "trajectory" in obj and "annotator" in obj:
            return "verdict"
        if "files" in obj and "counts" in obj:
            return "manifest"
    return "trajectory"


class Checker:
    """Checks records across files, so ids are unique and sidecar verdicts point at known steps."""

    def __init__(self, annotators: Mapping[str, Annotator] | None = None, schema_only: bool = False):
        self.annotators = dict(annotators or {})
        self.schema_only = schema_only
        self.steps_by_id: dict[str, int] = {}
        self.verdict_keys: set[tuple[str, int, str]] = set()
        self.records = 0
        self.files = 0

    def check_path(self, path: str | os.PathLike) -> Iterator[Problem]:
        """A dataset directory, or one file of records."""
        from .dataset import is_dataset

        if os.fspath(path) != "-" and Path(path).is_dir():
            if not is_dataset(path):
                yield Problem("is a directory but not an srft dataset (no manifest.json)", file=os.fspath(path))
                return
            yield from self.check_dataset(path)
        else:
            yield from self.check_file(path)

    def check_dataset(self, path: str | os.PathLike) -> Iterator[Problem]:
        from .dataset import MANIFEST

        root = Path(path)
        manifest_file = root / MANIFEST
        problems = list(self.check_file(manifest_file, "manifest"))
        yield from problems
        if problems:
            return
        manifest = Manifest.model_validate_json(manifest_file.read_bytes())
        self.annotators.update({a.id: a for a in manifest.annotators})
        # Trajectories first, so verdict sidecars can be checked against their step counts.
        for data_file in sorted(manifest.files, key=lambda f: f.kind != "trajectories"):
            file = root / data_file.path
            if not file.is_file():
                yield Problem("listed in manifest.json but missing", file=str(file))
                continue
            yield from self.check_file(file, "trajectory" if data_file.kind == "trajectories" else "verdict")

    def check_file(self, path: str | os.PathLike, kind: str | None = None) -> Iterator[Problem]:
        name = os.fspath(path)
        self.files += 1
        empty = True
        try:
            for loc, raw in iter_raw(path):
                empty = False
                self.records += 1
                kind = kind or _guess_kind(raw)
                yield from (p.located(name, loc) for p in self._check_record(raw, kind))
        except SrftError as exc:
            yield from (p.located(name) for p in exc.problems)
            return
        if empty:
            yield Problem("empty file: no records", file=name)

    def _check_record(self, raw: bytes | dict[str, Any], kind: str) -> list[Problem]:
        if self.schema_only:
            try:
                obj = orjson.loads(raw) if isinstance(raw, bytes) else raw
            except orjson.JSONDecodeError:
                return [Problem(json_error(raw))]  # type: ignore[arg-type]
            return schema_problems(obj, kind)
        try:
            obj = load_object(raw, RECORD_MODELS[kind])
        except SrftError as exc:
            return exc.problems
        if kind == "trajectory":
            return self._check_trajectory(obj)
        if kind == "verdict":
            return self._check_verdict(obj)
        return []

    def _check_trajectory(self, traj: dict[str, Any]) -> list[Problem]:
        problems = check_trajectory_object(traj, self.annotators)
        if traj["id"] in self.steps_by_id:
            problems.append(Problem(f"duplicate trajectory id {traj['id']!r}", "id"))
        self.steps_by_id[traj["id"]] = len(traj.get("steps", ()))
        return problems

    def _check_verdict(self, verdict: dict[str, Any]) -> list[Problem]:
        trajectory, step, annotator = verdict["trajectory"], verdict["step"], verdict["annotator"]
        if self.steps_by_id and trajectory not in self.steps_by_id:
            return [Problem(f"verdict for unknown trajectory {trajectory!r}", "trajectory")]
        problems = check_verdict(step, annotator, self.steps_by_id.get(trajectory), self.annotators)
        key = (trajectory, step, annotator)
        if key in self.verdict_keys:
            problems.append(Problem(f"a second verdict by {annotator!r} for step {step}", ""))
        self.verdict_keys.add(key)
        return problems


def _guess_kind(raw: bytes | dict[str, Any]) -> str:
    """The kind of a file's records, from its first record (trajectory when it cannot be read)."""
    try:
        return kind_of_record(orjson.loads(raw) if isinstance(raw, bytes) else raw)
    except orjson.JSONDecodeError:
        return "trajectory"


def schema_problems(obj: Any, kind: str) -> list[Problem]:
    """Problems ``jsonschema`` finds against the shipped schema (one per failing path)."""
    validator = schemas.validator(kind)
    problems: dict[str, Problem] = {}
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        path = json_path(tuple(error.absolute_path))
        if error.validator == "additionalProperties":
            for extra in _unexpected(error):
                key = json_path((*error.absolute_path, extra))
                problems.setdefault(key, Problem("unknown field", key))
            continue
        problems.setdefault(path, Problem(error.message, path))
    return list(problems.values())


def _unexpected(error: Any) -> list[str]:
    allowed = set(error.schema.get("properties", {}))
    return [k for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []


def find_problems(path: str | os.PathLike, kind: str | type[Model] | None = None, *,
                  annotators: Mapping[str, Annotator] | None = None, schema_only: bool = False) -> list[Problem]:
    """Every problem in a file (of ``kind``, a name or a model; guessed when None) or a dataset directory."""
    checker = Checker(annotators, schema_only)
    if kind is None:
        return list(checker.check_path(path))
    if not isinstance(kind, str):
        kind = record_kind(kind)
    return list(checker.check_file(path, kind))
