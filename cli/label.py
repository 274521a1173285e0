"""``srft label``: human step labels with Label Studio (tasks and labeling config out, its JSON export in)."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from srft_format.errors import Problem, SrftError
from srft_format.jsonl import open_output

TASKS_FILE = "label-studio-tasks.json"
CONFIG_FILE = "label-studio-config.xml"


@click.group()
def label() -> None:
    """Human step labels with Label Studio.

    \b
    Example, the whole round trip:
      srft sample data --steps 200 --seed 1 --labelers alice,bob --double 0.25 -o sheet/
      srft label export data sheet/        # sheet/label-studio-tasks.json + label-studio-config.xml
      # Label Studio: new project, Labeling Setup -> Code: paste the config; Import: the tasks; label;
      # Export -> JSON
      srft label import export.json data --user 1=alice --user 2=bob
      srft eval-critic data --critic llm:gpt-4o-mini --gold alice
    """


@label.command("export")
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.argument("sample_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the tasks and the config (default: SAMPLE_DIR).")
def export(dataset: str, sample_dir: Path, output: Path | None) -> None:
    """Write Label Studio tasks for the steps `srft sample` drew (SAMPLE_DIR/steps.jsonl) and the labeling
    config XML they need: the task, the steps before (collapsed), the step with what came back, the outcome and
    failing tests when known; choices correct / incorrect / neutral / unsure and a rationale box."""
    from srft_format.annotators.label_studio import iter_steps, label_config, task_for
    from srft_format.dataset import Dataset

    from .sample import STEPS_FILE

    output = output or sample_dir
    rows = list(iter_steps(sample_dir / STEPS_FILE))
    wanted = {row["trajectory"] for row in rows}
    trajectories = {t.id: t for t in Dataset.open(dataset).trajectories() if t.id in wanted}
    tasks = []
    for line, row in enumerate(rows, 1):
        traj = trajectories.get(row["trajectory"])
        if traj is None or not 0 <= row["step"] < len(traj.steps):
            raise SrftError(Problem(f"trajectory {row['trajectory']!r} step {row['step']} is not in {dataset} "
                                    "(a sample of another dataset?)", file=str(sample_dir / STEPS_FILE), line=line))
        tasks.append(task_for(traj, row["step"], row.get("labelers") or []))
    output.mkdir(parents=True, exist_ok=True)
    with open_output(output / TASKS_FILE) as out:
        out.write(orjson.dumps(tasks, option=orjson.OPT_INDENT_2))
    with open_output(output / CONFIG_FILE) as out:
        out.write(label_config().encode())
    click.echo(f"wrote {len(tasks)} tasks to {output / TASKS_FILE} and the labeling config to "
               f"{output / CONFIG_FILE}", err=True)


@label.command("import")
@click.argument("export_file", metavar="EXPORT.json", type=click.Path(dir_okay=False, exists=True))
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.option("--user", "users", multiple=True, metavar="ID=NAME",
              help="Name the annotator of Label Studio user ID (default: label-studio:user-ID). Repeatable.")
def import_(export_file: str, dataset: str, users: tuple[str, ...]) -> None:
    """Read Label Studio's JSON export into human verdicts of DATASET (sidecar files): one annotator per Label
    Studio user, `unsure` as `unknown` with the rationale kept, skipped tasks left unlabeled. Importing the
    same export again changes nothing; a label changed since the last import is refused, not overwritten."""
    from srft_format.annotators.label_studio import read_export
    from srft_format.dataset import Dataset, DatasetWriter

    names = {}
    for pair in users:
        user_id, sep, name = pair.partition("=")
        if not sep or not user_id or not name:
            raise SrftError(Problem(f"--user takes ID=NAME, not {pair!r}", "--user"))
        names[user_id.strip()] = name.strip()
    summary = read_export(export_file, names)
    ds = Dataset.open(dataset)
    steps = {t.id: len(t.steps) for t in ds.trajectories()}
    existing = {(v.trajectory, v.step, v.annotator): v for v in ds.verdicts()}
    new, same = [], 0
    for item in summary.verdicts:
        if not 0 <= item.step < steps.get(item.trajectory, 0):
            raise SrftError(Problem(f"trajectory {item.trajectory!r} step {item.step} is not in {dataset}",
                                    "data.srft_trajectory", file=export_file))
        old = existing.get((item.trajectory, item.step, item.annotator))
        if old is None:
            new.append(item)
        elif (old.label, old.rationale) == (item.verdict.label, item.verdict.rationale):
            same += 1
        else:
            raise SrftError(Problem(
                f"{item.annotator} relabeled trajectory {item.trajectory!r} step {item.step} "
                f"({old.label.value} -> {item.verdict.label.value}) since the last import; srft keeps verdicts "
                "immutable: import into a fresh copy, or under other names with --user", file=export_file))
    if new:
        with DatasetWriter(dataset, mode="append") as out:
            for annotator in summary.annotators.values():
                out.declare_annotator(annotator)
            for item in new:
                out.add_verdict(item.trajectory, item.verdict)
    click.echo(f"{len(new)} verdict(s) imported, {same} already imported; {summary.tasks} task(s), "
               f"{summary.unlabeled_tasks} without a label; {summary.skipped} skipped and {summary.empty} empty "
               f"annotation(s) not turned into labels; {summary.superseded} older annotation(s) superseded",
               err=True)
