"""The distribution works as a built wheel in a fresh virtual environment, not only as an editable install."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from factories import make_trajectory


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", REPO],
                   check=True)
    (wheel,) = (tmp_path / "dist").glob("srft_format-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("srft_format/models.py", "srft_format/converters/base.py", "srft_format/cli/main.py",
                     "srft_format/trainers/loading.py", "srft_format/annotators/__init__.py",
                     "srft_format/spec/README.md", "srft_format/spec/v1_0/trajectory.schema.json",
                     "srft_format/spec/v1_1/trajectory.schema.json"):
        assert expected in names, expected
    assert not any(n.startswith(("tests/", "converters/", "cli/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheel], check=True)
    record = tmp_path / "t.jsonl"
    record.write_text(make_trajectory("x").model_dump_json() + "\n")

    def srft(*args):
        return subprocess.run([venv / "bin" / "srft", *map(str, args)], capture_output=True, text=True,
                              cwd=tmp_path)

    schema_file = srft("schema", "trajectory", "--path").stdout.strip()
    assert schema_file.startswith(str(venv)) and schema_file.endswith("srft_format/spec/v1_1/trajectory.schema.json")
    for args in (("validate", record), ("validate", "--schema-only", record)):
        run = srft(*args)
        assert run.returncode == 0, run.stderr
    run = srft("copy", tmp_path / "missing", tmp_path / "out")
    assert run.returncode == 2 and "does not exist" in run.stderr
