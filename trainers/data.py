"""From a dataset and a training policy to masked training examples, with counts of what will be learned.

Every weight comes from :meth:`srft_format.policy.TrainingPolicy.step_weights` (inline verdicts plus the
dataset's sidecar verdicts); every mask from :mod:`srft_format.trainers.masks`. Trajectories with no trained
step (e.g. unresolved ones under ``rft``) give no example and are only counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from srft_format.dataset import Dataset
from srft_format.errors import Problem, SrftError
from srft_format.models import Message, Step, Trajectory
from srft_format.policy import POLICY_NAMES, TrainingPolicy, trained_steps

from . import masks
from .context import Context, contexts


def weighted_trajectories(dataset: Dataset,
                          policy: TrainingPolicy) -> Iterator[tuple[Trajectory, list[float]]]:
    """Each trajectory of ``dataset`` with its step weights under ``policy`` (sidecar verdicts included)."""
    sidecar = dataset.verdicts_by_trajectory()
    for traj in dataset.trajectories():
        yield traj, policy.step_weights(traj, sidecar.get(traj.id, ()))


def step_kind(step: Step) -> str:
    """The kind of a step's actions: their common kind, ``mixed`` if they differ, ``none`` without actions."""
    kinds = {action.kind.value for action in step.actions}
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "none")


@dataclass
class DataSummary:
    """What a policy selects from a dataset, in steps and in tokens."""

    trajectories: int = 0
    examples: int = 0
    steps: int = 0
    trained_steps: int = 0
    """Steps with a positive weight under the policy (the number ``srft stats`` reports)."""
    trained_steps_in_examples: int = 0
    """Of those, steps with trained tokens in the examples (fewer when ``max_length`` cut some)."""
    tokens: int = 0
    trained_tokens: int = 0
    trained_steps_by_kind: Counter = field(default_factory=Counter)
    trained_tokens_by_kind: Counter = field(default_factory=Counter)

    def add(self, traj: Trajectory, weights: list[float], examples: list[Any]) -> None:
        self.trajectories += 1
        self.steps += len(traj.steps)
        self.trained_steps += trained_steps(weights)
        for example in examples:
            self.examples += 1
            self.tokens += len(example.input_ids)
            self.trained_tokens += example.trained_tokens
            for span in example.steps:
                if span.weight > 0 and span.end > span.start:
                    kind = step_kind(traj.steps[span.step])
                    self.trained_steps_in_examples += 1
                    self.trained_steps_by_kind[kind] += 1
                    self.trained_tokens_by_kind[kind] += span.end - span.start

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["trained_steps_by_kind"] = dict(sorted(self.trained_steps_by_kind.items()))
        out["trained_tokens_by_kind"] = dict(sorted(self.trained_tokens_by_kind.items()))
        return out


def mask_trajectory(dataset: Dataset, traj: Trajectory, tokenizer: Any, weights: list[float],
                    options: masks.MaskOptions) -> list[Any]:
    """The examples of :func:`srft_format.trainers.masks.build_examples` that train at least one token;
    a refusal names the dataset as well as the trajectory and step."""
    try:
        return [e for e in masks.build_examples(traj, tokenizer, weights, options) if e.trained_tokens]
    except SrftError as exc:
        raise SrftError([Problem(p.message, p.path, p.file or str(dataset.path), p.line)
                         for p in exc.problems]) from None


def build_examples(dataset: Dataset, tokenizer: Any, policy: TrainingPolicy,
                   options: masks.MaskOptions) -> tuple[list[Any], DataSummary]:
    """Masked examples of every trajectory with a trained step, and the summary of what they train.

    ``options`` go to :func:`srft_format.trainers.masks.build_examples`. Examples left with no trained token
    (truncation cut every trained step) are dropped; the summary shows them as
    ``trained_steps - trained_steps_in_examples``.
    """
    summary = DataSummary()
    examples = []
    for traj, weights in weighted_trajectories(dataset, policy):
        masked = mask_trajectory(dataset, traj, tokenizer, weights, options) if any(weights) else []
        summary.add(traj, weights, masked)
        examples += masked
    return examples, summary


@dataclass
class ContextCost:
    """What training each step on its recorded input (``context="recorded"``) costs against the final chat,
    under one policy; sizes in the unit of the measure (characters or tokens of the messages)."""

    policy: str
    trained_steps: int = 0
    recorded_input_steps: int = 0
    """Trained steps whose recorded input differs from the chat before them (``Step.input`` set)."""
    examples_final: int = 0
    examples_recorded: int = 0
    final: int = 0
    """Size of the examples' conversations with ``context="final"``: each trajectory with a trained step."""
    recorded: int = 0
    """The same with ``context="recorded"``: each context with a trained step (repeated prefixes count again)."""

    def row(self, unit: str) -> dict[str, Any]:
        return {"policy": self.policy, "trained_steps": self.trained_steps,
                "recorded_input_steps": self.recorded_input_steps, "examples_final": self.examples_final,
                "examples_recorded": self.examples_recorded, f"{unit}_final": self.final,
                f"{unit}_recorded": self.recorded, "overhead": self.recorded / self.final if self.final else None}


def message_chars(message: Message) -> int:
    """Characters of what a message shows a model: its text, reasoning and tool calls."""
    return len(message_text(message))


def message_text(message: Message) -> str:
    content = message.content if isinstance(message.content, str) else "".join(
        getattr(part, "text", "") for part in message.content or ())
    calls = "".join(call.name + call.arguments for call in message.tool_calls)
    return (message.reasoning or "") + content + calls


def context_costs(datasets: Iterable[Dataset], policy: TrainingPolicy,
                  measure: Callable[[Message], int] = message_chars) -> list[ContextCost]:
    """:class:`ContextCost` under SFT, RFT and SRFT (``policy``'s verdict resolution) over ``datasets``."""
    costs = [ContextCost(name) for name in POLICY_NAMES]
    policies = [replace(policy, name=name) for name in POLICY_NAMES]
    for dataset in datasets:
        sidecar = dataset.verdicts_by_trajectory()
        for traj in dataset.trajectories():
            sizes = [measure(m) for m in traj.messages]
            parts = [(c, _context_size(c, sizes, measure)) for c in contexts(traj)]
            for cost, weighing in zip(costs, policies):
                weights = weighing.step_weights(traj, sidecar.get(traj.id, ()))
                trained = [s for s, w in enumerate(weights) if w > 0]
                if not trained:
                    continue
                cost.trained_steps += len(trained)
                cost.recorded_input_steps += sum(traj.steps[s].input is not None for s in trained)
                cost.examples_final += 1
                cost.final += sum(sizes)
                for context, size in parts:
                    if any(weights[s] > 0 for s in context.steps):
                        cost.examples_recorded += 1
                        cost.recorded += size
    return costs


def _context_size(context: Context, sizes: list[int], measure: Callable[[Message], int]) -> int:
    prefix = sum(measure(k) if isinstance(k, Message) else sizes[k] for k in context.prefix)
    return prefix + sum(sizes[context.start:context.stop])
