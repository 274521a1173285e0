"""``srft report``: reject rates and training signal as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from srft_format.jsonl import open_output
from srft_format.query import open_views
from srft_format.report import build_report
from srft_format.report_experiment import experiment_section, load_results

from .options import policy_for, policy_from_options, policy_options


@click.command()
@click.argument("datasets", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True, help="The HTML file to write.")
@click.option("--title", help="The page title (default: the dataset names).")
@click.option("--open", "open_it", is_flag=True, help="Open the page in a browser when written.")
@click.option("--critic", "critics", multiple=True, metavar="ID",
              help="Add a critic-vs-gold section (the figures of `srft eval-critic`, with plots); repeatable.")
@click.option("--gold", metavar="ID", help="The reference annotator of the critic section.")
@click.option("--missing", type=click.Choice(["correct", "incorrect", "neutral", "unknown"]),
              help="Critic section: count a step the gold labeled and the critic did not as this label.")
@click.option("--experiment", "experiments", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Add the results of a `srft experiment` directory (repeatable).")
@policy_options
def report(datasets: tuple[str, ...], output: Path, title: str | None, open_it: bool, critics: tuple[str, ...],
           gold: str | None, missing: str | None, experiments: tuple[str, ...], **policy: Any) -> None:
    """Write one self-contained HTML page (plots inline) with the figures of `srft stats`: reject rate by
    step position, steps per trajectory, reject rate per repository, and SFT / RFT / SRFT training signal.

    \b
    Examples:
      srft report my-dataset -o report.html --open
      srft report my-dataset --annotator critic-a -o critic-a.html
      srft report my-dataset --critic llm:gpt-4o-mini --critic rules --gold alice --missing correct
      srft report exp/split/train --experiment exp -o experiment.html   # with `srft experiment` results
    """
    sections = []
    if critics or gold:
        if not (critics and gold) or len(datasets) != 1:
            raise click.UsageError("the critic section needs --critic and --gold, and one dataset")
        from srft_format.critic_report import critic_section

        from .eval_critic import evaluate_dataset

        sections.append(critic_section(evaluate_dataset(datasets[0], critics, gold, all_trajectories=False,
                                                        missing=missing)))
    training = policy_for(policy_from_options(**policy), datasets)
    con = open_views(datasets, policy=training)
    sections += [experiment_section(load_results(e)) for e in experiments]
    page = build_report(con, title or ", ".join(Path(d).name for d in datasets), training, sections)
    with open_output(output) as out:
        out.write(page.encode())
    click.echo(f"wrote {output}", err=True)
    if open_it:
        click.launch(str(output.resolve()))
