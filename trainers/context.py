"""Which conversation trains each step: the one the model saw (its recorded input), or the final chat.

A step whose ``input`` is null saw ``messages[:output]`` (spec/README.md, "Recorded inputs"). With
``context="recorded"`` the steps are grouped into contexts: steps whose inputs are prefixes of one conversation
share one; a step whose input diverges from every context so far starts a new one, whose conversation is its
recorded input followed by the trajectory's messages from its output on. Each context becomes one example
(:mod:`srft_format.trainers.masks`), so every step is trained on exactly what it was sent. Without recorded
inputs there is one context, the whole trajectory: ``recorded`` and ``final`` give the same examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from srft_format.errors import SrftError
from srft_format.models import Message, Step, Trajectory

CONTEXT_MODES = ("recorded", "final")

Key = int | Message
"""A message of an input: its index in ``messages``, or the inline message itself."""


@dataclass(frozen=True)
class Context:
    """One example's conversation, ``prefix`` then ``messages[start:stop]``, and the steps it trains (in order).

    The whole trajectory is ``Context((), 0, len(messages), all steps)``.
    """

    prefix: tuple[Key, ...]
    start: int
    stop: int
    steps: tuple[int, ...]

    def is_whole(self, traj: Trajectory) -> bool:
        return (not self.prefix and self.start == 0 and self.stop == len(traj.messages)
                and self.steps == tuple(range(len(traj.steps))))

    def messages(self, traj: Trajectory) -> list[Message]:
        prefix = [k if isinstance(k, Message) else traj.messages[k] for k in self.prefix]
        return prefix + traj.messages[self.start:self.stop]

    def position(self, output: int) -> int:
        """Where the trajectory's message ``output`` (at or after ``start``) sits in this conversation."""
        return len(self.prefix) + output - self.start


def input_keys(step: Step) -> list[Key]:
    """A step's input as message keys (its recorded items, or the indices of ``messages[:output]``)."""
    if step.input is None:
        return list(range(step.output))
    keys: list[Key] = []
    for item in step.input:
        if item.message is not None:
            keys.append(item.message)
        else:
            keys.extend(range(item.start, item.stop))
    return keys


def _fits(keys: list[Key], output: int, prefix: Sequence[Key], start: int) -> bool:
    """Is ``keys`` the conversation ``prefix + messages[start:]`` up to message ``output``?"""
    n = len(prefix)
    return (output >= start and len(keys) == n + output - start and keys[n:] == list(range(start, output))
            and all(a is b or a == b for a, b in zip(keys[:n], prefix)))


def contexts(traj: Trajectory, mode: str = "recorded") -> list[Context]:
    """The contexts that train the steps of ``traj``: one (the whole trajectory) with ``final`` or without
    recorded inputs; with ``recorded``, one per distinct conversation the steps were sent (first-seen order).

    A context ends with its last step's observations (before the next step's output), the last one with the
    trajectory.
    """
    if mode not in CONTEXT_MODES:
        raise SrftError(f"context must be one of {', '.join(CONTEXT_MODES)}, not {mode!r}")
    n = len(traj.steps)
    if mode == "final" or all(step.input is None for step in traj.steps):
        return [Context((), 0, len(traj.messages), tuple(range(n)))]
    heads: list[tuple[tuple[Key, ...], int]] = [((), 0)]
    members: list[list[int]] = [[]]
    for step in traj.steps:
        keys = input_keys(step)
        found = next((g for g in range(len(heads) - 1, -1, -1)
                      if _fits(keys, step.output, *heads[g])), None)
        if found is None:
            heads.append((tuple(keys), step.output))
            members.append([])
            found = len(heads) - 1
        members[found].append(step.index)
    out = []
    for (prefix, start), steps in zip(heads, members):
        if steps:
            after = steps[-1] + 1
            stop = traj.steps[after].output if after < n else len(traj.messages)
            out.append(Context(prefix, start, stop, tuple(steps)))
    return out


def context_trajectory(traj: Trajectory, context: Context) -> Trajectory:
    """``traj`` cut to one context: its conversation, and its steps with outputs in it (``index`` kept: the
    step's number in ``traj``); observations and recorded inputs dropped (the conversation is the input)."""
    if context.is_whole(traj):
        return traj
    steps = [traj.steps[s].model_copy(update={"output": context.position(traj.steps[s].output),
                                              "observations": [], "input": None}) for s in context.steps]
    return traj.model_copy(update={"messages": context.messages(traj), "steps": steps})
