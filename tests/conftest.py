"""Shared fixtures. The real corpus is read through SRFT_CORPUS (never copied into the repo)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
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


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_srft(*args: str, input: str | None = None, cwd: str | Path | None = None) -> Run:
    """Run the real `srft` command line in a subprocess (exit status, stdout and stderr as a user sees them)."""
    proc = subprocess.run([sys.executable, "-m", "srft_format.cli.main", *map(str, args)], input=input,
                          capture_output=True, text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200"})
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def srft():
    """``srft("validate", path)`` -> Run(code, stdout, stderr)."""
    return run_srft


@pytest.fixture(scope="session")
def corpus_dataset(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole corpus converted once (``srft convert`` defaults: Parquet), for tests of what reads datasets."""
    from srft_format.converters.pipeline import convert_paths

    path = tmp_path_factory.mktemp("corpus-dataset") / "corpus"
    convert_paths([str(corpus)], path)
    return path


@pytest.fixture(scope="session")
def gold() -> Path:
    """The gold step labels (../shared/gold, beside the corpus); missing gold fails loudly rather than skipping."""
    path = Path(os.environ.get("SRFT_GOLD", Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus"))
                               .parent / "gold"))
    if not (path / "who-and-when").is_dir():
        pytest.fail(f"{path}/who-and-when is not a directory: the gold-label tests need ../shared/gold")
    return path
