"""``srft``: one click group; each command lives in its own module and is imported only when used."""

from __future__ import annotations

import importlib
import sys

import click

from srft_format import __version__
from srft_format.errors import SrftError

COMMANDS: dict[str, str] = {
    "validate": "srft_format.cli.format_commands:validate",
    "schema": "srft_format.cli.format_commands:schema",
    "info": "srft_format.cli.format_commands:info",
    "show": "srft_format.cli.show:show",
    "masks": "srft_format.cli.masks:masks",
    "copy": "srft_format.cli.format_commands:copy",
    "convert": "srft_format.cli.convert:convert",
    "outcomes": "srft_format.cli.outcomes:outcomes",
    "merge": "srft_format.cli.share:merge",
    "filter": "srft_format.cli.share:filter_",
    "split": "srft_format.cli.share:split",
    "verify": "srft_format.cli.share:verify",
    "card": "srft_format.cli.share:card",
    "redact": "srft_format.cli.share:redact",
    "query": "srft_format.cli.query:query",
    "stats": "srft_format.cli.stats:stats",
    "report": "srft_format.cli.report:report",
    "annotate": "srft_format.cli.annotate:annotate",
    "tasks": "srft_format.cli.tasks:tasks",
    "verdicts": "srft_format.cli.verdicts:verdicts",
    "agree": "srft_format.cli.agree:agree",
    "eval-critic": "srft_format.cli.eval_critic:eval_critic",
    "sample": "srft_format.cli.sample:sample",
    "label": "srft_format.cli.label:label",
    "train": "srft_format.cli.train:train",
    "export": "srft_format.cli.export:export",
    "experiment": "srft_format.cli.experiment:experiment",
    "repair": "srft_format.cli.share:repair",
}
"""Command name -> ``module:attribute``. Adding a command is one line here and one module."""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="srft")
@click.option("--wait", is_flag=True, help="When another srft command is writing the same dataset, wait for it "
              "to finish instead of refusing.")
def cli(wait: bool) -> None:
    """srft: step-annotated agent trajectories, from agent logs to SRFT training.

    \b
    A typical session:
      srft convert runs/ -o my-dataset          # agent logs -> an srft dataset
      srft info my-dataset                       # what is in it
      srft annotate my-dataset --critic rules    # label steps
      srft stats my-dataset                      # reject rates, SFT/RFT/SRFT signal
      srft train my-dataset --model M --policy srft --output out/

    Every command takes --help. One command at a time writes a dataset: a second one is refused, naming
    the first, unless given --wait (srft --wait annotate ...).
    """
    from srft_format import lock

    lock.WAIT = wait


def main() -> None:
    """Entry point: bad input ends in one clear line on stderr and exit status 1, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except SrftError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
