"""``srft validate``, ``srft schema``, ``srft info`` and ``srft copy``: the format's own commands."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from srft_format import schema as schemas
from srft_format.check import Checker
from srft_format.dataset import STORAGES, Dataset, copy_dataset
from srft_format.models import FORMAT_VERSION, RECORD_MODELS


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report instead of lines.")
@click.option("--schema-only", is_flag=True,
              help="Check with jsonschema against spec/ alone (no cross-reference rules).")
def validate(paths: tuple[str, ...], as_json: bool, schema_only: bool) -> None:
    """Check trajectory files, verdict sidecars and datasets; report every problem.

    PATHS are dataset directories, or files of records: .jsonl (also .gz, .zst), .json, .parquet; '-' reads
    stdin. Each problem is one line, FILE:LINE: JSON.PATH: MESSAGE. Exit status 1 if any.

    \b
    Examples:
      srft validate my-dataset
      srft validate runs/*.jsonl.zst --json
      cat traj.jsonl | srft validate -
      srft validate --schema-only traj.jsonl     # the check any JSON Schema tool can run
    """
    checker = Checker(schema_only=schema_only)
    problems = []
    for path in paths:
        for problem in checker.check_path(path):
            problems.append(problem)
            if not as_json:
                click.echo(str(problem))
    if as_json:
        click.echo(json.dumps({"valid": not problems, "files": checker.files, "records": checker.records,
                               "problems": [p.to_dict() for p in problems]}, indent=2))
    else:
        engine = "JSON Schema" if schema_only else "srft"
        if problems:
            click.secho(f"{len(problems)} problem(s) in {checker.records} record(s), {checker.files} file(s)",
                        fg="red", err=True)
        else:
            click.secho(f"valid ({engine} {FORMAT_VERSION}): {checker.records} record(s) in {checker.files} file(s)",
                        fg="green", err=True)
    if problems:
        sys.exit(1)


@click.command()
@click.argument("kind", type=click.Choice(sorted(RECORD_MODELS)), default="trajectory")
@click.option("--version", "version", default=FORMAT_VERSION, show_default=True, help="Format version.")
@click.option("--path", "show_path", is_flag=True, help="Print where the schema file is instead of its text.")
def schema(kind: str, version: str, show_path: bool) -> None:
    """Print the JSON Schema of a record kind (trajectory, verdict, manifest).

    \b
    Examples:
      srft schema > trajectory.schema.json
      srft schema verdict --path
    """
    path = schemas.schema_path(kind, version)
    if not path.is_file():
        raise click.BadParameter(f"no schema for format version {version} (this library ships {FORMAT_VERSION})",
                                 param_hint="--version")
    click.echo(str(path) if show_path else path.read_text(), nl=show_path)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def info(dataset: str, as_json: bool) -> None:
    """Show a dataset's manifest: counts, sources, annotators, files.

    \b
    Example:
      srft info my-dataset
    """
    ds = Dataset.open(dataset)
    m = ds.manifest
    if as_json:
        click.echo(m.model_dump_json(indent=2, exclude_none=True))
        return
    console = Console()
    console.print(f"[bold]{m.name}[/] {m.version}  (srft format {m.format_version})")
    for label, value in (("description", m.description), ("license", m.license),
                         ("created", m.created_at), ("updated", m.updated_at)):
        if value:
            console.print(f"  {label}: {value}")
    c = m.counts
    console.print(f"  {c.trajectories} trajectories, {c.steps} steps, {c.messages} messages, {c.verdicts} verdicts")
    if m.sources:
        console.print(_table("sources", ["format", "version", "files", "trajectories"],
                             [[s.format, s.version or "", s.files, s.trajectories] for s in m.sources]))
    if m.annotators:
        console.print(_table("annotators", ["id", "kind", "model", "prompt"],
                             [[a.id, a.kind.value, a.model or "", a.prompt or ""] for a in m.annotators]))
    console.print(_table("files", ["path", "kind", "records", "bytes"],
                         [[f.path, f.kind, f.records, f.bytes] for f in m.files]))


def _table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in ("files", "records", "bytes", "trajectories") else "left")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    return table


@click.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("dst", type=click.Path())
@click.option("--storage", type=click.Choice(STORAGES), default="parquet", show_default=True)
@click.option("--compression", type=click.Choice(["zst", "gz"]), default=None, help="For JSONL storage.")
@click.option("--force", is_flag=True, help="Replace DST if it is a dataset.")
def copy(src: str, dst: str, storage: str, compression: str | None, force: bool) -> None:
    """Copy a dataset, changing its storage; the records come out equal.

    \b
    Examples:
      srft copy my-dataset my-dataset-jsonl --storage jsonl --compression zst
      srft copy my-dataset-jsonl my-dataset --storage parquet --force
    """
    manifest = copy_dataset(src, dst, storage=storage, compression=compression, overwrite=force)
    click.echo(f"{dst}: {manifest.counts.trajectories} trajectories, {manifest.counts.verdicts} verdicts "
               f"({storage})", err=True)
