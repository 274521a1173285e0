"""The path rule of a dataset: everything it names stays inside it.

A dataset directory comes from someone else, so the paths in its manifest are untrusted. Every file entry
must be relative, normalised (no ``.``, ``..``, empty parts or backslashes), under ``trajectories/`` or
``verdicts/``, and resolve inside the dataset with no symbolic link on the way; srft's own names in the
directory (the manifest, the data folders, its side files) must not be symbolic links either. A dataset that
breaks the rule is refused with one line naming the entry, and no write, delete or append follows a link.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .errors import Problem

DATA_DIRS = ("trajectories", "verdicts")
CACHE_DIR = ".srft-cache"
LOCK_FILE = ".srft-lock"
ERROR_REPORT = "conversion-errors.jsonl"
OWN_NAMES = ("manifest.json", *DATA_DIRS, CACHE_DIR, LOCK_FILE, ERROR_REPORT, "README.md")
"""Names srft reads or writes in a dataset directory; none may be a symbolic link."""


def entry_problem(root: Path, entry: str) -> str | None:
    """Why the manifest entry ``entry`` breaks the path rule of the dataset at ``root`` (None when it is fine)."""
    if not entry or "\\" in entry or entry.startswith("/") or (len(entry) > 1 and entry[1] == ":"):
        return "is not a relative path inside the dataset"
    parts = PurePosixPath(entry).parts
    if any(p in (".", "..") for p in entry.split("/")) or "/".join(parts) != entry:
        return "is not a normalised path (no '.', '..' or empty parts)"
    if len(parts) < 2 or parts[0] not in DATA_DIRS:
        return f"is not under {' or '.join(d + '/' for d in DATA_DIRS)}"
    link = first_link(root, parts)
    if link is not None:
        return f"goes through a symbolic link ({link}); srft never follows links inside a dataset"
    real_root = os.path.realpath(root)
    if not os.path.realpath(root / entry).startswith(real_root + os.sep):
        return "resolves outside the dataset"
    return None


def first_link(root: Path, parts: tuple[str, ...]) -> str | None:
    """The first of ``root/parts[0]``, ``root/parts[0]/parts[1]``... that is a symbolic link."""
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            return "/".join(path.relative_to(root).parts)
    return None


def path_problems(root: Path, entries: list[str], manifest: str) -> list[Problem]:
    """Every manifest entry and own name of the dataset at ``root`` that breaks the path rule."""
    problems = [Problem(f"{name} is a symbolic link; srft never follows links inside a dataset", file=str(root))
                for name in OWN_NAMES if (root / name).is_symlink()]
    for i, entry in enumerate(entries):
        why = entry_problem(root, entry)
        if why is not None:
            problems.append(Problem(f"{entry!r} {why}", f"files[{i}].path", file=manifest))
    return problems


def refuse_link(path: Path) -> None:
    """Raise when ``path`` is a symbolic link (before srft writes, appends to or deletes through it)."""
    from .errors import SrftError

    if path.is_symlink():
        raise SrftError(Problem("is a symbolic link; srft never writes through links inside a dataset",
                                file=str(path)))
