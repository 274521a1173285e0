"""Shared fixtures. The real corpus is read through SRFT_CORPUS (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real agent-log corpus; a missing corpus fails loudly rather than skipping tests."""
    path = Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus"))
    if not path.is_dir():
        pytest.fail(f"SRFT_CORPUS={path} is not a directory: the corpus tests need ../shared/corpus")
    return path
