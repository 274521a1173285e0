"""A critic's response cache: one JSONL file in the dataset, keyed by the sha256 of the exact request.

``<dataset>/.srft-cache/critic-<annotator>.jsonl``, one line ``{"key", "text", "prompt_tokens",
"completion_tokens"}`` per answer, appended as answers arrive and flushed every second. A line torn by a crash is
ignored on load. The request key covers the model, the messages and the sampling settings — never the API key.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import orjson

from srft_format.ids import sha256_hex

CACHE_DIR = ".srft-cache"
FLUSH_SECONDS = 1.0
"""Answers reach the file at least this often (a killed run re-pays at most this much)."""


def request_key(request: dict[str, Any]) -> str:
    return sha256_hex(orjson.dumps(request, option=orjson.OPT_SORT_KEYS))


def cache_path(dataset: str | os.PathLike, annotator_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", annotator_id)
    return Path(dataset) / CACHE_DIR / f"critic-{safe}.jsonl"


class ResponseCache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_bytes().splitlines():
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # torn last line of a killed run
                self.entries[entry["key"]] = entry
        self._file: Any = None
        self._flushed = time.monotonic()

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        entry = {"key": key, "text": text, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        self.entries[key] = entry
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")
        self._file.write(orjson.dumps(entry) + b"\n")
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self._file.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
