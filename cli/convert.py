"""``srft convert``: agent logs (SWE-agent, mini-swe-agent, SWE-smith, OpenHands, ...) into a dataset."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.table import Table

from srft_format.dataset import STORAGES


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="The dataset directory: created, or appended to when it already holds a dataset.")
@click.option("--from", "source", default="auto", show_default=True, metavar="auto|NAME",
              help="Source format; 'auto' detects it per record (see --list).")
@click.option("--eval", "eval_paths", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="SWE-bench or SWE-smith evaluation output (report.json files, run summaries, a directory of "
                   "them) giving 'resolved'; repeatable. For trajectories already in the dataset: srft outcomes.")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1),
              help="Processes converting batches of files in parallel, this one included; a big JSON Lines "
                   "file is split into pieces (the output order is always the input order).")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="fail: stop at the first bad record, write nothing. skip: convert the rest and write "
                   "every problem to DATASET/conversion-errors.jsonl.")
@click.option("--storage", type=click.Choice(STORAGES), default="parquet", show_default=True,
              help="How a new dataset stores trajectories.")
@click.option("--redact", is_flag=True,
              help="Replace secrets (API keys, tokens, private keys, .env values) with typed placeholders and "
                   "record the counts in the manifest (see spec/redaction.md).")
@click.option("--list", "list_formats", is_flag=True,
              help="List the source formats, the versions read and the fields not copied, then exit.")
@click.option("--verbose", "-v", is_flag=True,
              help="Say which format and version each file was read as, and why.")
def convert(inputs: tuple[str, ...], output: str | None, source: str, eval_paths: tuple[str, ...], jobs: int,
            on_error: str, storage: str, redact: bool, list_formats: bool, verbose: bool) -> None:
    """Convert agent trajectories into an srft dataset.

    INPUTS are files, directories (searched recursively for .traj, .json, .jsonl, .yaml, .pred, also .gz
    and .zst), glob patterns, or '-' for stdin. The format and its version are detected per record from the
    data; the summary says what was chosen and why. Files of a run that hold no trajectory are recognised and
    skipped with a reason: run configurations, exit-status summaries, and predictions files (all_preds.jsonl,
    preds.json, *.pred), whose patches fill in trajectories of the same run that record none (SWE-bench
    evaluates predictions; --eval joins its output in as 'resolved'). Converting into an
    existing dataset appends, skipping trajectories it already has (ids are derived from the source bytes,
    so re-converting the same file adds nothing).

    \b
    Examples:
      srft convert trajectories/ -o my-dataset                  # a SWE-agent run directory
      srft convert 'runs/**/*.traj' -o my-dataset --jobs 4
      srft convert output.jsonl -o my-dataset --eval logs/run_evaluation/
      srft convert swe-smith.jsonl.zst --from swe-smith -o my-dataset --on-error skip
      srft convert runs/ -o shareable --redact                  # before the data leaves the team
      cat run.traj | srft convert - -o my-dataset
      srft convert --list
    """
    if list_formats:
        _print_formats()
        return
    if not inputs:
        raise click.UsageError("give at least one INPUT (or --list)")
    if not output:
        raise click.UsageError("give the dataset directory with -o/--output")
    from srft_format.converters.pipeline import convert_paths

    from collections import Counter

    from srft_format.secrets import redact_text

    with _progress_bar() as progress:
        summary = convert_paths(inputs, output, source=source, eval_paths=eval_paths, jobs=jobs,
                                on_error=on_error, storage=storage, progress=progress, redact=redact)
    for line in summary.lines(verbose=verbose):  # with --redact, what is printed is redacted too
        click.echo(redact_text(line, Counter()) if redact else line, err=True)


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over files on a terminal (stderr), else no progress."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("converting", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_formats() -> None:
    from srft_format.converters.registry import converters

    table = Table("format", "versions read", "what", "source fields not copied (derived or duplicated)")
    for converter in converters():
        table.add_row(converter.name, ", ".join(converter.versions), converter.description,
                      ", ".join(converter.derived_fields) or "none")
    Console().print(table)
