"""``srft outcomes``: join evaluation output into an existing dataset."""

from __future__ import annotations

import click


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--eval", "eval_paths", multiple=True, required=True, type=click.Path(exists=True), metavar="PATH",
              help="Evaluation output: a file or a directory searched for them; repeatable, later ones win.")
def outcomes(dataset: str, eval_paths: tuple[str, ...]) -> None:
    """Set 'resolved' (and the tests' results) of DATASET's trajectories from evaluation output.

    Reads SWE-bench harness reports ({instance_id: {...}}) and run summaries (resolved_ids ...), SWE-smith's
    bare <instance_id>/report.json and its ids_resolved summary, timed-out reports, and OpenHands eval rows.
    The dataset is rewritten atomically, and only when something changes: running it twice changes nothing
    the second time. Says how many trajectories were evaluated and changed, which evaluated instances match no
    trajectory, and which files in a directory were skipped as no evaluation output.

    \b
    Examples:
      srft outcomes my-dataset --eval logs/run_evaluation/my-run/
      srft outcomes my-dataset --eval swesmith-eval/ --eval report.json
    """
    from srft_format.converters.outcomes import join_into_dataset

    for line in join_into_dataset(dataset, eval_paths).lines():
        click.echo(line, err=True)
