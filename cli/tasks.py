"""``srft tasks``: add task evidence (gold patch, test patch, test ids) from a task-instance file."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.option("--from", "task_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help="A task-instance file: JSON, JSON Lines or Parquet rows with instance_id, patch, test_patch, "
              "FAIL_TO_PASS, PASS_TO_PASS (SWE-bench, SWE-smith, SWE-Gym).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def tasks(dataset: str, task_file: str, as_json: bool) -> None:
    """Join each trajectory's task to its row in a task-instance file by instance id, and store the gold patch,
    the test patch and the FAIL_TO_PASS / PASS_TO_PASS test ids (format 1.1 task fields) in DATASET.

    The dataset is rewritten atomically (nothing changes when a row is bad); the counts of matched and
    unmatched trajectories and unused rows are printed. Hindsight critics (srft annotate --mode hindsight)
    show these to the critic.

    \b
    Examples:
      srft tasks data --from SWE-bench_Verified/test.parquet
      srft tasks data --from swe-gym-instances.jsonl --json
    """
    from srft_format.tasks import join_tasks

    report = join_tasks(dataset, task_file)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    fields = ", ".join(f"{name} {n}" for name, n in sorted(report.fields.items())) or "none"
    click.echo(f"{dataset}: {report.matched} of {report.trajectories} trajectories matched a task row "
               f"({fields}); {report.unmatched} unmatched, {report.without_instance_id} without an instance id")
    click.echo(f"{task_file}: {report.rows} rows, {report.unused_rows} matched no trajectory, "
               f"{report.rows_without_id} without instance_id, {report.duplicate_rows} repeated ids (last kept)")
    if report.unmatched_ids:
        more = f" (+{report.unmatched - 10} more)" if report.unmatched > 10 else ""
        click.echo(f"unmatched: {', '.join(report.unmatched_ids[:10])}{more}", err=True)
