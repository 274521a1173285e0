"""``srft merge``, ``filter``, ``split``, ``verify``, ``card`` and ``redact``: handing datasets between teams."""

from __future__ import annotations

import json
import sys

import click

from srft_format.dataset import STORAGES
from srft_format.models import Counts

OUTPUT = click.option("-o", "--output", "out", required=True, type=click.Path(), help="The new dataset directory.")
FORCE = click.option("--force", is_flag=True, help="Replace OUT if it is already a dataset.")


def _summary(path: str, counts: Counts) -> None:
    click.echo(f"{path}: {counts.trajectories} trajectories, {counts.steps} steps, {counts.verdicts} verdicts",
               err=True)


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@click.command()
@click.argument("datasets", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@OUTPUT
@click.option("--name", help="Name of the merged dataset (default: the OUT folder's name).")
@click.option("--storage", type=click.Choice(STORAGES), default="parquet", show_default=True)
@FORCE
def merge(datasets: tuple[str, ...], out: str, name: str | None, storage: str, force: bool) -> None:
    """Merge datasets: the union of their trajectories, verdicts, annotators and sources.

    A trajectory found in several inputs is kept once; two different records with one id are refused, and
    so is an annotator id defined differently in two inputs. Differing licences are merged with a warning.

    \b
    Examples:
      srft merge runs-team-a labels-team-b -o combined
      srft merge part-*/ -o all --name swe-runs-2025
    """
    from srft_format.merge import merge_datasets

    result = merge_datasets(datasets, out, name=name, storage=storage, overwrite=force)
    for warning in result.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if result.duplicates:
        click.echo(f"{result.duplicates} record(s) found in more than one input, kept once", err=True)
    _summary(out, result.manifest.counts)


@click.command(name="filter")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--where", required=True, help="A DuckDB SQL predicate over the trajectories view (see below).")
@OUTPUT
@FORCE
def filter_(dataset: str, where: str, out: str, force: bool) -> None:
    """Copy the trajectories matching a SQL predicate, with their verdicts, to a new dataset.

    The predicate sees the columns of the `trajectories` view (spec/views.md: repo, model, scaffold,
    instance_id, resolved, n_steps, cost, source_format...) and, per trajectory, annotators (a list of ids),
    n_labeled_steps, n_rejected_steps and reject_rate. Other views work in subqueries.

    \b
    Examples:
      srft filter ds -o django --where "repo = 'django/django'"
      srft filter ds -o short-failures --where "resolved = false AND n_steps <= 30"
      srft filter ds -o labelled --where "list_contains(annotators, 'critic-a') AND reject_rate < 0.5"
      srft filter ds -o bash-heavy --where "id IN (SELECT trajectory_id FROM steps
                                               GROUP BY 1 HAVING count(*) FILTER (action_kind = 'bash') > 10)"
    """
    from srft_format.filter import filter_dataset

    _summary(out, filter_dataset(dataset, out, where, overwrite=force).counts)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@OUTPUT
@click.option("--by", default="task", show_default=True, type=click.Choice(["task", "repo", "trajectory"]),
              help="Keep each group (task instance, repository) whole, in one split.")
@click.option("--ratios", default="0.9,0.1", show_default=True, help="Comma-separated fractions summing to 1.")
@click.option("--names", default="train,test", show_default=True, help="Comma-separated split names.")
@click.option("--seed", default=0, show_default=True, type=int)
@FORCE
def split(dataset: str, out: str, by: str, ratios: str, names: str, seed: int, force: bool) -> None:
    """Split a dataset into OUT/<name>/ datasets, keeping each task in one split.

    Each group is assigned by hashing (seed, group key): the same inputs give the same splits on every run
    and machine, and adding trajectories later never moves old ones to another split.

    \b
    Examples:
      srft split ds -o ds-splits --ratios 0.9,0.1 --seed 13
      srft split ds -o ds-splits --ratios 0.8,0.1,0.1 --names train,dev,test --by repo
    """
    from srft_format.split import split_dataset

    try:
        fractions = [float(r) for r in _split_list(ratios)]
    except ValueError:
        raise click.BadParameter(f"not numbers: {ratios}", param_hint="--ratios") from None
    manifests = split_dataset(dataset, out, ratios=fractions, names=_split_list(names), by=by, seed=seed,
                              overwrite=force)
    for name, manifest in manifests.items():
        _summary(f"{out}/{name}", manifest.counts)


@click.command()
@click.argument("datasets", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report.")
def verify(datasets: tuple[str, ...], as_json: bool) -> None:
    """Check received datasets: checksums, stray files, schema and cross-references. Exit 1 on problems.

    Each listed file must have the manifest's size and SHA-256; files the manifest does not list are
    reported; every record is validated (as `srft validate`), and sidecar verdicts must point at existing
    trajectories, steps and declared annotators.

    \b
    Examples:
      srft verify received-dataset
      srft verify ds-splits/train ds-splits/test --json
    """
    from srft_format.verify import verify_dataset

    reports = [verify_dataset(path) for path in datasets]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    for report in reports:
        if not as_json:
            for problem in report.problems:
                click.echo(str(problem))
        if report.ok:
            click.secho(f"{report.path}: OK ({report.files} files, {report.records} records)", fg="green", err=True)
        else:
            click.secho(f"{report.path}: {len(report.problems)} problem(s)", fg="red", err=True)
    if not all(r.ok for r in reports):
        sys.exit(1)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
def repair(dataset: str) -> None:
    """Rebuild DATASET's manifest from the data files present (after a crash, or a copy gone wrong).

    Each part file is read whole. Unreadable files, and files whose records all repeat earlier ones or
    point at missing trajectories, steps or annotators, are moved to DATASET/repair-rejected/; a file with
    only some such records is rewritten without them. Every record left out is counted.

    \b
    Examples:
      srft repair my-dataset && srft verify my-dataset
    """
    from srft_format.repair import repair_dataset

    report = repair_dataset(dataset)
    for line in report.rejected:
        click.echo(f"moved to repair-rejected/: {line}", err=True)
    for why, n in sorted(report.dropped.items()):
        click.echo(f"left out: {n} x {why}", err=True)
    assert report.manifest is not None
    click.echo(f"{dataset}: manifest rebuilt from {report.files} file(s) ({report.rewritten} rewritten, "
               f"{len(report.rejected)} moved aside)", err=True)
    _summary(dataset, report.manifest.counts)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--print", "print_only", is_flag=True, help="Print the card instead of writing README.md.")
def card(dataset: str, print_only: bool) -> None:
    """Write a Hugging Face dataset card (README.md) into a dataset.

    Its YAML header has the licence, tags, size category and `configs` for the trajectories and verdicts
    Parquet files, so `datasets.load_dataset(DATASET, "trajectories")` loads the directory as it is.

    \b
    Examples:
      srft card my-dataset
      srft card my-dataset --print | head -30
    """
    from srft_format.card import render_card, write_card
    from srft_format.dataset import Dataset

    if print_only:
        click.echo(render_card(Dataset.open(dataset)), nl=False)
    else:
        click.echo(f"wrote {write_card(dataset)}", err=True)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@OUTPUT
@click.option("--storage", type=click.Choice(STORAGES), default=None, help="Default: as the input.")
@FORCE
def redact(dataset: str, out: str, storage: str | None, force: bool) -> None:
    """Copy a dataset with secrets replaced by typed placeholders such as [REDACTED:openai-key].

    Finds provider API keys and tokens (OpenAI, Anthropic, AWS, GitHub, GitLab, Slack, Google, Hugging Face,
    Stripe), JWTs, private key blocks, .env-style assignments, credentials in URLs and Authorization headers,
    and high-entropy values in environment dumps, in every string of every record (spec/redaction.md).
    The manifest records how many of each type were replaced, never the values.

    \b
    Examples:
      srft redact runs -o runs-redacted
      srft redact runs -o runs-redacted-jsonl --storage jsonl
    """
    from srft_format.redact import redact_dataset

    manifest, counts = redact_dataset(dataset, out, storage=storage, overwrite=force)
    for kind, n in sorted(counts.items()):
        click.echo(f"  {kind}: {n}", err=True)
    click.echo(f"{out}: {sum(counts.values())} secret(s) redacted in {manifest.counts.trajectories} trajectories",
               err=True)
