"""srft report: one self-contained HTML page whose plots a real (headless) browser renders."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib import image
from query_data import write_random_dataset

from srft_format.cli.report import report
from srft_format.report import COLOURS

PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    dataset = write_random_dataset(root / "ds", seed=3, n=60)
    out = root / "report.html"
    run = CliRunner().invoke(report, [str(dataset), "-o", str(out), "--title", "Critic report"])
    assert run.exit_code == 0, run.output
    return out


def test_page_is_self_contained_with_four_plots(page):
    text = page.read_text()
    plots = PNG.findall(text)
    assert len(plots) == 4
    assert all(base64.b64decode(p).startswith(b"\x89PNG\r\n\x1a\n") for p in plots)
    assert not re.search(r'(src|href)="(?!data:)', text)  # nothing fetched from elsewhere
    assert "<title>Critic report</title>" in text and "training signal" in text


def pixels(png: Path) -> np.ndarray:
    return (image.imread(png)[..., :3] * 255).round().astype(int).reshape(-1, 3)


def pixels_of(colour: str, shot: np.ndarray) -> int:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(shot - rgb).max(axis=1) <= 8).sum())


@pytest.mark.slow
def test_headless_chromium_renders_the_plots(page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "the report test needs Chromium (Debian package chromium)"
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1200,2000", page.as_uri()], check=True, capture_output=True, timeout=120)
    rendered = pixels(shot)
    assert len(np.unique(rendered, axis=0)) > 500  # the page without its plots has about 220
    for colour in (COLOURS["reject"], COLOURS["srft"], COLOURS["bars"]):  # the bars are on screen
        assert pixels_of(colour, rendered) > 2_000, colour


def test_report_of_a_directory_that_is_no_dataset(srft, tmp_path):
    run = srft("report", tmp_path, "-o", tmp_path / "r.html")
    assert run.code == 1 and "not an srft dataset" in run.stderr
    assert not (tmp_path / "r.html").exists()
