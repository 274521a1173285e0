"""The path rule of a dataset: everything it names stays inside it.

A dataset directory comes from someone else, so the paths in its manifest are untrusted. Every file entry
must be relative, normalised (no ``.``, ``..``, empty parts or backslashes), under ``trajectories/`` or
``verdicts/``, and resolve inside the dataset with no symbolic link on the way; srft's own names in the
directory (the manifest, the data folders, its side files) must not be symbolic links either. A dataset that
breaks the rule is refused with one line naming the entry, and no write, delete or append follows a link.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .errors import Problem

DATA_DIRS = ("trajectories", "verdicts")
CACHE_DIR = ".srft-cache"
LOCK_FILE = ".srft-lock"
ERROR_REPORT = "conversion-errors.jsonl"
OWN_NAMES = ("manifest.json", *DATA_DIRS, CACHE_DIR, LOCK_FILE, ERROR_REPORT, "README.md")
"""Names srft reads or writes in a dataset directory; none may be a symbolic link."""


def entry_problem(root: Path, entry: str, checked: set[str]) -> str | None:
    """Why the manifest entry ``entry`` breaks the path rule of the dataset at ``root`` (None when it is fine).

    A relative, normalised path with no symbolic link on the way resolves inside the dataset; ``checked``
    holds the folders already known not to be links (one ``lstat`` per entry, not per component)."""
    if not entry or "\\" in entry or entry.startswith("/") or (len(entry) > 1 and entry[1] == ":"):
        return "is not a relative path inside the dataset"
    parts = PurePosixPath(entry).parts
    if any(p in (".", "..") for p in entry.split("/")) or "/".join(parts) != entry:
        return "is not a normalised path (no '.', '..' or empty parts)"
    if len(parts) < 2 or parts[0] not in DATA_DIRS:
        return f"is not under {' or '.join(d + '/' for d in DATA_DIRS)}"
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if prefix in checked:
            continue
        if (root / prefix).is_symlink():
            return f"goes through a symbolic link ({prefix}); srft never follows links inside a dataset"
        if depth < len(parts):
            checked.add(prefix)
    return None


def path_problems(root: Path, entries: list[str], manifest: str) -> list[Problem]:
    """Every manifest entry and own name of the dataset at ``root`` that breaks the path rule."""
    problems = [Problem(f"{name} is a symbolic link; srft never follows links inside a dataset", file=str(root))
                for name in OWN_NAMES if (root / name).is_symlink()]
    checked: set[str] = set()
    for i, entry in enumerate(entries):
        why = entry_problem(root, entry, checked)
        if why is not None:
            problems.append(Problem(f"{entry!r} {why}", f"files[{i}].path", file=manifest))
    return problems


def refuse_link(path: Path) -> None:
    """Raise when ``path`` is a symbolic link (before srft writes, appends to or deletes through it)."""
    from .errors import SrftError

    if path.is_symlink():
        raise SrftError(Problem("is a symbolic link; srft never writes through links inside a dataset",
                                file=str(path)))
