"""``srft sample``: draw steps for humans to label (stratified, reproducible, recorded)."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import click
import orjson

from srft_format import __version__
from srft_format.errors import Problem, SrftError
from srft_format.jsonl import open_output, write_lines

SAMPLE_FILE = "sample.json"
STEPS_FILE = "steps.jsonl"


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.option("--steps", "n", type=click.IntRange(1), required=True, help="How many steps to draw.")
@click.option("--seed", type=int, required=True, help="The draw is a function of the dataset, seed and options.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for sample.json (the record of the draw) and steps.jsonl (the drawn steps).")
@click.option("--per-trajectory", type=click.IntRange(1), metavar="K", help="At most K steps from one trajectory.")
@click.option("--labelers", metavar="A,B,...", default="", help="Assign each step to a labeler (round robin).")
@click.option("--double", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of the steps given to a second labeler too (double annotation, for agreement).")
def sample(dataset: str, n: int, seed: int, output: Path, per_trajectory: int | None, labelers: str,
           double: float) -> None:
    """Draw steps of DATASET for humans to label, stratified by trajectory outcome (unresolved first: resolved
    runs are trained whole by RFT and SRFT alike), position in the trajectory (quarter) and action kind.

    The same dataset, seed and options draw the same steps; sample.json records them with the dataset's
    checksum and what each stratum held and gave. Next: `srft label export DATASET OUTPUT`.

    \b
    Examples:
      srft sample data --steps 200 --seed 1 -o sheet/
      srft sample data --steps 200 --seed 1 --per-trajectory 3 --labelers alice,bob --double 0.25 -o sheet/
    """
    from srft_format.annotators.sampling import assign, candidates, draw
    from srft_format.dataset import Dataset

    ds = Dataset.open(dataset)
    names = [name.strip() for name in labelers.split(",") if name.strip()]
    if double and len(names) < 2:
        raise SrftError(Problem("--double needs at least two --labelers", "--double"))
    pool = candidates(ds.trajectories())
    drawn = draw(pool, n, seed, per_trajectory)
    assigned = assign(drawn, names, double, seed)
    population, taken = Counter(c.stratum for c in pool), Counter(c.stratum for c in drawn)
    record = {
        "srft_version": __version__, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"path": str(Path(dataset).resolve()), "name": ds.name,
                    "files_sha256": hashlib.sha256("".join(f.sha256 for f in ds.manifest.files).encode()).hexdigest()},
        "options": {"steps": n, "seed": seed, "per_trajectory": per_trajectory, "labelers": names, "double": double},
        "drawn": len(drawn), "trajectories": len({c.trajectory for c in drawn}), "candidates": len(pool),
        "strata": [{"stratum": s, "steps": population[s], "drawn": taken.get(s, 0)} for s in sorted(population)],
    }
    output.mkdir(parents=True, exist_ok=True)
    write_lines(output / STEPS_FILE, (orjson.dumps({"trajectory": c.trajectory, "step": c.step, "stratum": c.stratum,
                                                    "labelers": who}) for c, who in zip(drawn, assigned)))
    with open_output(output / SAMPLE_FILE) as out:
        out.write(orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")
    short = f" (the dataset has {len(pool)} trainable steps)" if len(drawn) < n else ""
    click.echo(f"drew {len(drawn)} steps from {record['trajectories']} trajectories{short} -> {output}", err=True)
