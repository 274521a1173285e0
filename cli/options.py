"""Options shared by commands that decide which steps are trained (``srft stats``, exports, trainers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from srft_format.policy import POLICY_NAMES, Resolution, TrainingPolicy, VerdictPolicy

_OPTIONS = [
    click.option("--policy", type=click.Choice(POLICY_NAMES), default="srft", show_default=True,
                 help="Which steps train: sft (all), rft (of resolved trajectories), srft (not rejected)."),
    click.option("--annotator", "annotators", multiple=True, metavar="ID",
                 help="An annotator whose verdicts count; repeat in priority order (default: all, by id)."),
    click.option("--resolution", type=click.Choice([r.value for r in Resolution]), default="priority",
                 show_default=True, help="How several annotators' verdicts on a step combine."),
    click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                 help="With --resolution threshold: a mean score below this is incorrect."),
    click.option("--unlabeled", type=click.Choice(["mask", "train"]), default="mask", show_default=True,
                 help="SRFT steps of unresolved trajectories without a decisive verdict: mask or train."),
    click.option("--soft", is_flag=True, help="Weigh trained SRFT steps by their effective score."),
]


def policy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --policy, --annotator, --resolution, --threshold, --unlabeled and --soft to a click command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def policy_from_options(policy: str = "srft", annotators: tuple[str, ...] = (), resolution: str = "priority",
                        threshold: float = 0.5, unlabeled: str = "mask",
                        soft: bool = False) -> TrainingPolicy:
    """The :class:`TrainingPolicy` the options of :func:`policy_options` describe."""
    verdicts = VerdictPolicy(annotators=tuple(annotators), resolution=Resolution(resolution),
                             threshold=threshold)
    return TrainingPolicy(name=policy, verdicts=verdicts, unlabeled=unlabeled, soft=soft)
