"""Options shared by commands that decide which steps are trained and how their tokens are masked."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from srft_format.policy import POLICY_NAMES, Resolution, TrainingPolicy, VerdictPolicy
from srft_format.trainers.chat import TOOL_CALL_MODES
from srft_format.trainers.context import CONTEXT_MODES
from srft_format.trainers.masks import HISTORY_MODES, MaskOptions

_OPTIONS = [
    click.option("--policy", type=click.Choice(POLICY_NAMES), default="srft", show_default=True,
                 help="Which steps train: sft (all), rft (of resolved trajectories), srft (not rejected)."),
    click.option("--annotator", "annotators", multiple=True, metavar="ID",
                 help="An annotator whose verdicts count; repeat in priority order (default: all, by kind: human, "
                 "LLM hindsight, LLM causal, rule, outcome; ids break ties)."),
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


def verdict_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of :func:`policy_options` but --policy, for commands that train every policy."""
    for option in reversed(_OPTIONS[1:]):
        command = option(command)
    return command


def policy_from_options(policy: str = "srft", annotators: tuple[str, ...] = (), resolution: str = "priority",
                        threshold: float = 0.5, unlabeled: str = "mask",
                        soft: bool = False) -> TrainingPolicy:
    """The :class:`TrainingPolicy` the options of :func:`policy_options` describe."""
    verdicts = VerdictPolicy(annotators=tuple(annotators), resolution=Resolution(resolution),
                             threshold=threshold)
    return TrainingPolicy(name=policy, verdicts=verdicts, unlabeled=unlabeled, soft=soft)


def policy_for(policy: TrainingPolicy, datasets: Iterable[str | os.PathLike]) -> TrainingPolicy:
    """``policy`` with the default priority by kind of the datasets' annotators; prints the rule in force on
    standard error when several annotators count."""
    from srft_format.dataset import Dataset

    declared = {a.id: a for path in datasets for a in Dataset.open(path).manifest.annotators}
    resolved = policy.for_annotators(declared.values())
    counted = resolved.verdicts.annotators or tuple(declared)
    if len(counted) > 1:  # with one annotator (or none) there is nothing to combine
        click.echo(f"verdicts: {resolved.verdicts.describe()}", err=True)
    return resolved


_MASK_OPTIONS = [  # the defaults are MaskOptions's
    click.option("--chat-template", type=click.Path(exists=True, dir_okay=False),
                 help="A Jinja chat template file to use instead of the tokenizer's."),
    click.option("--tool-calls", type=click.Choice(TOOL_CALL_MODES), default=MaskOptions.tool_calls,
                 show_default=True,
                 help="Tool calls: native, SWE-agent style text, or native when the template can (auto)."),
    click.option("--train-on-eos/--no-train-on-eos", default=MaskOptions.train_on_eos, show_default=True,
                 help="Train the end-of-turn token of trained steps."),
    click.option("--history", type=click.Choice(HISTORY_MODES), default=MaskOptions.history, show_default=True,
                 help="Templates that rewrite earlier turns: refuse, or train such steps in separate examples."),
    click.option("--recorded-tokens", "use_recorded_tokens", is_flag=True,
                 default=MaskOptions.use_recorded_tokens,
                 help="Use the token ids the policy recorded (token-in/token-out) instead of rendering."),
    click.option("--context", type=click.Choice(CONTEXT_MODES), default=MaskOptions.context, show_default=True,
                 help="Train each step on the input it was sent (recorded: one example per context when "
                      "scaffolds rewrote their history) or on the final chat (final). The same without "
                      "recorded inputs."),
]


def mask_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the mask-building options (template, tool calls, end-of-turn, history, recorded tokens, context):
    one per :class:`MaskOptions` field but ``max_length``, which each command gives its own default."""
    for option in reversed(_MASK_OPTIONS):
        command = option(command)
    return command


def mask_options_from(options: dict[str, Any], max_length: int | None = None) -> MaskOptions:
    """Remove the :func:`mask_options` values from ``options``: the :class:`MaskOptions` they describe."""
    template = options.pop("chat_template")
    given = {f.name: options.pop(f.name) for f in fields(MaskOptions)
             if f.name not in ("chat_template", "max_length")}
    return MaskOptions(chat_template=Path(template).read_text(encoding="utf-8") if template else None,
                       max_length=max_length, **given)


def take_arguments(options: dict[str, Any], function: Callable[..., Any]) -> dict[str, Any]:
    """Remove from ``options`` (and return) the keyword arguments ``function`` takes."""
    return {name: options.pop(name) for name in inspect.signature(function).parameters if name in options}
