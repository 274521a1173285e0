"""Verdict commits per minute as a dataset's verdict files pile up: with the run's key index (what
``srft annotate`` does) against re-reading every verdict file on each commit (what it did before).

    python bench/commits.py

Each commit appends one verdict file (batch size 1, the worst case). Prints commits/min at 300, 600 and 1,200
files for both ways, measured in the same run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from factories import make_trajectory  # noqa: E402

from srft_format.dataset import DatasetWriter, write_dataset  # noqa: E402
from srft_format.models import Annotator, AnnotatorKind, Label, Verdict  # noqa: E402

TRAJECTORIES, STEPS, TIMED = 700, 3, 20


def main() -> None:
    root = Path(tempfile.mkdtemp()) / "ds"
    write_dataset(root, [make_trajectory(f"t-{i}", n_steps=STEPS) for i in range(TRAJECTORIES)])
    annotator = Annotator(id="bench", kind=AnnotatorKind.rule)
    steps = {f"t-{i}": STEPS for i in range(TRAJECTORIES)}
    keys: set[tuple[str, int, str]] = set()
    done = 0

    def commit(indexed: bool) -> None:
        nonlocal done
        with DatasetWriter(root, mode="append", known_steps=steps, verdict_keys=keys if indexed else None) as out:
            out.declare_annotator(annotator)
            out.add_verdict(f"t-{done // STEPS}", Verdict(step=done % STEPS, annotator="bench", label=Label.correct))
        done += 1

    for files in (300, 600, 1200):
        while done < files:
            commit(True)
        rates = {}
        for indexed in (True, False):
            started = time.perf_counter()
            for _ in range(TIMED):
                commit(indexed)
            rates[indexed] = TIMED / (time.perf_counter() - started) * 60
        print(f"{files} verdict files: {rates[True]:.0f} commits/min with the index, {rates[False]:.0f} re-reading "
              f"({rates[True] / rates[False]:.1f}x)", flush=True)


if __name__ == "__main__":
    main()
