"""A critic's response cache: one JSONL file in the dataset, keyed to this machine and the exact request.

``<dataset>/.srft-cache/critic-<annotator>.jsonl``, one line ``{"key", "text", "prompt_tokens",
"completion_tokens"}`` per answer, appended as answers arrive and flushed every second. A line torn by a crash is
ignored on load. The request key is an HMAC, under a secret of this machine's user (:func:`machine_secret`), of
the model, the messages and the sampling settings — never the API key. So a cache that came with a received
dataset matches nothing here and is never trusted (it is re-asked and paid for); ``merge`` and
``copy`` never carry a cache, and the cache file is never read or appended through a symbolic link.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

import orjson

from srft_format.errors import Problem, SrftError
from srft_format.paths import CACHE_DIR

FLUSH_SECONDS = 1.0
"""Answers reach the file at least this often (a killed run re-pays at most this much)."""


@functools.cache
def machine_secret() -> bytes:
    """32 random bytes made once per user of this machine (``$XDG_CACHE_HOME/srft/cache-key``, mode 0600)."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "srft"
    path = home / "cache-key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".cache-key.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    try:
        os.link(tmp, path)  # the first process to get here wins; the others read its secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def request_key(request: dict[str, Any]) -> str:
    message = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hmac.new(machine_secret(), message, hashlib.sha256).hexdigest()


def cache_path(dataset: str | os.PathLike, annotator_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", annotator_id)
    return Path(dataset) / CACHE_DIR / f"critic-{safe}.jsonl"


def _open_no_link(path: Path, flags: int) -> int:
    """Open ``path`` (and check its folder) without following a symbolic link."""
    for link in (path.parent, path):
        if link.is_symlink():
            raise SrftError(Problem("is a symbolic link; srft never reads or writes a cache through a link",
                                    file=str(link)))
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise SrftError(Problem(f"cannot open the critic cache: {exc.strerror}", file=str(path))) from None


class ResponseCache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.exists() or self.path.is_symlink():
            with os.fdopen(_open_no_link(self.path, os.O_RDONLY), "rb") as f:
                data = f.read()
            for line in data.splitlines():
                try:
                    entry = orjson.loads(line)
                    self.entries[entry["key"]] = entry
                except (orjson.JSONDecodeError, TypeError, KeyError):
                    continue  # torn last line of a killed run: that answer is asked again
        self._file: Any = None
        self._flushed = time.monotonic()

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        entry = {"key": key, "text": text, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        self.entries[key] = entry
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = os.fdopen(_open_no_link(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")
        self._file.write(orjson.dumps(entry) + b"\n")
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self._file.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
