"""One writer at a time: an exclusive ``fcntl`` lock on ``<dataset>/.srft-lock``.

Every command that writes a dataset takes the lock for as long as it writes; a second writer is refused with
one line naming the holder, or waits when ``srft --wait`` (:data:`WAIT`) is set. The kernel drops the lock
when its process dies, so a killed writer never leaves the dataset locked. The lock is re-entrant within a
process (a labeling run holds it and commits batch after batch under it).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .errors import Problem, SrftError
from .paths import LOCK_FILE

WAIT = False
"""Wait for another writer to finish instead of refusing (``srft --wait``)."""

_held: dict[str, tuple[int, int]] = {}
"""Locks this process holds: real path of the lock file -> (file descriptor, depth)."""


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise SrftError(Problem(f"cannot open the dataset's lock file: {exc.strerror}", file=str(path))) from None


def try_lock(path: Path) -> int | None:
    """The descriptor of ``path`` locked exclusively, or None when another process holds it."""
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:200] or "another process"
    except OSError:
        return "another process"


@contextmanager
def write_lock(dataset: str | os.PathLike, *, wait: bool | None = None) -> Iterator[None]:
    """Hold the dataset's writer lock (``wait``: block until free; default :data:`WAIT`)."""
    path = Path(dataset) / LOCK_FILE
    key = os.path.realpath(path)
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[key]
            _held[key] = (fd, depth - 1)
        return
    fd = _acquire(path, WAIT if wait is None else wait)
    _held[key] = (fd, 1)
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)


def _acquire(path: Path, wait: bool) -> int:
    announced = False
    while True:
        fd = try_lock(path)
        if fd is not None:
            try:
                same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file that an overwrite moved away while we waited
                _stamp(fd)
                return fd
            os.close(fd)
            continue
        if not wait:
            raise SrftError(Problem(f"another srft command is writing this dataset ({holder(path)}); "
                                    "run again when it is done, or wait for it with `srft --wait ...`",
                                    file=str(path.parent)))
        if not announced:
            print(f"waiting for {holder(path)} to finish writing {path.parent}", file=sys.stderr)
            announced = True
        time.sleep(0.2)


def _stamp(fd: int) -> None:
    """Say who holds the lock, for the refusal another writer prints."""
    since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:3]))
    text = f"pid {os.getpid()}: {command}, since {since}"
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
