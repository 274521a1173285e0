"""Check a dataset after a transfer: every byte as the manifest says, every record valid, nothing extra.

:func:`verify_dataset` reports every problem, not only the first:

- each listed file exists, with the manifest's size and SHA-256;
- files in the dataset directory that the manifest does not list (a partial copy, a stray temporary file);
- manifest entries that break the path rule (:mod:`.paths`: absolute, ``..``, through a symbolic link);
- schema and cross-reference checks of every record (as ``srft validate``), including sidecar verdicts that
  point at missing trajectories or steps or at undeclared annotators, and duplicate ids;
- the manifest's record counts against the files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .check import Checker
from .dataset import MANIFEST, Dataset, file_sha256
from .errors import Problem, SrftError
from .paths import CACHE_DIR, ERROR_REPORT, LOCK_FILE

ALLOWED_EXTRA_FILES = frozenset({"README.md", ".gitattributes", ERROR_REPORT, LOCK_FILE})
"""Files a dataset directory may hold besides its manifest and listed data: the dataset card, Hub metadata,
srft's conversion error report and writer lock (and anything under its cache folder, ``.srft-cache/``)."""


@dataclass
class Verification:
    path: str
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    records: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.path, "ok": self.ok, "files": self.files, "records": self.records,
                "problems": [p.to_dict() for p in self.problems]}


def verify_dataset(path: str | os.PathLike) -> Verification:
    """Every problem a receiver should know about before using the dataset at ``path``."""
    report = Verification(os.fspath(path))
    try:
        dataset = Dataset.open(path)
    except SrftError as exc:
        report.problems += exc.problems
        return report
    report.problems += _checksum_problems(dataset)
    report.problems += _unlisted_files(dataset)
    checker = Checker()
    report.problems += checker.check_dataset(dataset.path)
    report.files = checker.files
    report.records = checker.records
    if report.ok:  # counts are only meaningful when every file was read whole
        report.problems += _count_problems(dataset, checker)
    return report


def _checksum_problems(dataset: Dataset) -> list[Problem]:
    problems = []
    for listed in dataset.manifest.files:
        file = dataset.path / listed.path
        if not file.is_file():
            continue  # the checker reports it missing
        size = file.stat().st_size
        if size != listed.bytes:
            problems.append(Problem(f"size is {size} bytes, the manifest says {listed.bytes}", file=str(file)))
        elif file_sha256(file) != listed.sha256:
            problems.append(Problem("SHA-256 differs from the manifest: the file is corrupt or was modified",
                                    file=str(file)))
    return problems


def _unlisted_files(dataset: Dataset) -> list[Problem]:
    listed = {f.path for f in dataset.manifest.files} | {MANIFEST} | ALLOWED_EXTRA_FILES
    problems = []
    for file in sorted(p for p in dataset.path.rglob("*") if p.is_file()):
        relative = file.relative_to(dataset.path).as_posix()
        if relative not in listed and not relative.startswith(CACHE_DIR + "/"):
            problems.append(Problem("not listed in manifest.json (left over from an interrupted write or copy?)",
                                    file=str(file)))
    return problems


def _count_problems(dataset: Dataset, checker: Checker) -> list[Problem]:
    manifest_file = str(dataset.path / MANIFEST)
    problems = []
    listed_records = sum(f.records for f in dataset.manifest.files)
    read = checker.records - 1  # the manifest itself is one record
    if listed_records != read:
        problems.append(Problem(f"the data files hold {read} records, the manifest lists {listed_records}",
                                "files", file=manifest_file))
    found, claimed = len(checker.steps_by_id), dataset.manifest.counts.trajectories
    if found != claimed:
        problems.append(Problem(f"{found} trajectories found, the manifest counts {claimed}",
                                "counts.trajectories", file=manifest_file))
    return problems
