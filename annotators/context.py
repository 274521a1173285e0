"""What a critic sees: a trajectory rendered as text, cut to a token budget by one documented strategy.

Cutting strategy (never silent: every cut is described in :class:`ContextInfo` and recorded in the verdict's
``extra["context"]``):

0. The budget is ``--max-context-tokens`` less the template's own text.
1. The task (problem statement) is always included, cut in the middle to at most a quarter of the budget.
2. The judged step (per-step mode) is always included whole, or cut in the middle when it alone does not fit.
3. Earlier steps are added newest first while they fit; the older ones are replaced by one line saying which
   steps were left out.

In trajectory mode the steps are split into consecutive windows that each fit the budget (one call per
window), each step cut in the middle when it alone does not fit.

Token counts use a :data:`TokenCounter`; the default, :func:`approx_tokens`, estimates 4 characters per token
(no tokenizer needed); the local critic counts with its real tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from srft_format.models import Message, Trajectory

TokenCounter = Callable[[str], int]

MIN_PART_TOKENS = 64
"""The task and the judged step keep at least this many tokens each, however small the budget."""


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: about 4 characters per token."""
    return (len(text) + 3) // 4


def message_text(message: Message) -> str:
    """A message's visible text, its reasoning and its tool calls, as plain text."""
    parts = []
    if message.reasoning:
        parts.append(f"[reasoning]\n{message.reasoning}")
    if isinstance(message.content, str):
        parts.append(message.content)
    elif message.content:
        parts.extend(p.text if p.type == "text" else "[image]" for p in message.content)
    parts.extend(f"[tool call] {call.name}({call.arguments})" for call in message.tool_calls)
    return "\n".join(p for p in parts if p)


def cut_middle(text: str, max_tokens: int, count: TokenCounter) -> str:
    """``text`` unchanged if it fits, else its head and tail around a marker saying how much was cut."""
    tokens = count(text)
    keep = len(text)
    result = text
    while tokens > max_tokens and keep > 0:
        keep = max(0, min(keep - 1, int(keep * max_tokens / tokens) - 80))
        head, tail = text[: keep // 2], text[len(text) - keep // 2:] if keep > 1 else ""
        result = f"{head}\n[... {len(text) - len(head) - len(tail)} characters cut ...]\n{tail}"
        tokens = count(result)
    return result


@dataclass
class RenderedTrajectory:
    """A trajectory's task and steps rendered once, with token counts, for building many prompts."""

    task: str
    steps: list[str]
    """Step blocks without observations."""
    observations: list[str]
    """Each step's observation block ('' when it has none)."""
    count: TokenCounter

    def block(self, index: int, with_observation: bool = True) -> str:
        return self.steps[index] + (self.observations[index] if with_observation else "")


def task_text(traj: Trajectory) -> str:
    """The problem statement, else the first user message (where most scaffolds put the task)."""
    return traj.task.problem_statement or _first_user_text(traj) or "(no task statement recorded)"


def render_trajectory(traj: Trajectory, count: TokenCounter = approx_tokens) -> RenderedTrajectory:
    task = task_text(traj)
    steps, observations = [], []
    for step in traj.steps:
        steps.append(f"## Step {step.index}\n{message_text(traj.messages[step.output])}\n")
        obs = "\n".join(message_text(traj.messages[i]) for i in step.observations)
        observations.append(f"### Environment answer to step {step.index}\n{obs}\n" if step.observations else "")
    return RenderedTrajectory(task, steps, observations, count)


def _first_user_text(traj: Trajectory) -> str | None:
    return next((message_text(m) for m in traj.messages if m.role.value == "user"), None)


@dataclass
class ContextInfo:
    """How a prompt's context was built: recorded in ``Verdict.extra["context"]``."""

    tokens: int
    omitted_steps: list[int] = field(default_factory=list)
    cut_task: bool = False
    cut_steps: list[int] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return bool(self.omitted_steps or self.cut_task or self.cut_steps)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tokens": self.tokens, "truncated": self.truncated}
        if self.omitted_steps:
            out["omitted_steps"] = _ranges(self.omitted_steps)
        if self.cut_task:
            out["cut_task"] = True
        if self.cut_steps:
            out["cut_steps"] = self.cut_steps
        return out


def _ranges(indices: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``'0-2,5'``."""
    out, start = [], indices[0]
    for prev, cur in zip(indices, [*indices[1:], None]):
        if cur != prev + 1:
            out.append(f"{start}-{prev}" if start != prev else str(start))
            start = cur
    return ",".join(out)


def _budget_task(rendered: RenderedTrajectory, max_tokens: int) -> tuple[str, int, bool]:
    task = cut_middle(rendered.task, max(MIN_PART_TOKENS, max_tokens // 4), rendered.count)
    return task, rendered.count(task), task != rendered.task


def step_context(rendered: RenderedTrajectory, index: int, max_tokens: int, with_observation: bool,
                 overhead: int) -> tuple[str, str, ContextInfo]:
    """``(task, context, info)`` for judging step ``index`` within ``max_tokens``, of which the prompt
    template's own text takes ``overhead``."""
    task, used, cut_task = _budget_task(rendered, max_tokens - overhead)
    count = rendered.count
    # room for the "steps left out" marker, should one be needed
    budget = max_tokens - overhead - used - (count(_omitted_marker([0, index])) if index else 0)
    judged = rendered.block(index, with_observation)
    cut = cut_middle(judged, max(MIN_PART_TOKENS, budget), count)
    budget -= count(cut)
    info = ContextInfo(0, cut_task=cut_task, cut_steps=[index] if cut != judged else [])
    kept: list[str] = []
    for earlier in range(index - 1, -1, -1):
        block = rendered.block(earlier)
        cost = count(block)
        if cost > budget:
            info.omitted_steps = list(range(earlier + 1))
            kept.append(_omitted_marker(info.omitted_steps))
            break
        kept.append(block)
        budget -= cost
    context = "".join(reversed(kept)) + cut
    info.tokens = used + count(context) + overhead
    return task, context, info


def _omitted_marker(steps: list[int]) -> str:
    return f"[... steps {_ranges(steps)} left out to fit the context ...]\n"


def trajectory_windows(rendered: RenderedTrajectory, max_tokens: int,
                       overhead: int) -> list[tuple[str, str, list[int], ContextInfo]]:
    """Consecutive windows of all steps that each fit ``max_tokens``: ``(task, context, steps, info)`` each.

    A window after the first does not show the steps before it; its ``info.omitted_steps`` says so.
    """
    task, used, cut_task = _budget_task(rendered, max_tokens - overhead)
    room = max(MIN_PART_TOKENS, max_tokens - overhead - used)
    windows: list[tuple[str, str, list[int], ContextInfo]] = []
    blocks: list[str] = []
    members: list[int] = []
    cut_steps: list[int] = []
    left = room

    def close() -> None:
        context = "".join(blocks)
        info = ContextInfo(used + rendered.count(context) + overhead,
                           omitted_steps=list(range(members[0])), cut_task=cut_task, cut_steps=list(cut_steps))
        windows.append((task, context, list(members), info))

    for index in range(len(rendered.steps)):
        block = rendered.block(index)
        cut = cut_middle(block, room, rendered.count)
        cost = rendered.count(cut)
        if members and cost > left:
            close()
            blocks, members, cut_steps, left = [], [], [], room
        if cut != block:
            cut_steps.append(index)
        blocks.append(cut)
        members.append(index)
        left -= cost
    if members:
        close()
    return windows
