"""What a critic sees: a trajectory rendered as text, cut to a token budget by one documented strategy.

Cutting strategy (never silent: every cut is described in :class:`ContextInfo` and recorded in the verdict's
``extra["context"]``):

0. The budget is ``--max-context-tokens`` less the template's own text.
1. The task (problem statement) is always included, cut in the middle to at most a quarter of the budget.
2. The judged step (per-step mode) is always included whole, or cut in the middle when it alone does not fit.
3. Earlier steps are added newest first while they fit; the older ones are replaced by one line saying which
   steps were left out.

In trajectory mode the steps are split into consecutive windows that each fit the budget (one call per
window), each step cut in the middle when it alone does not fit; a window after the first starts with a compact
account of the steps before it (one line each, newest kept when they do not all fit an eighth of the budget).

In hindsight and first-error modes the prompt holds the whole trajectory, the outcome and the task's evidence
(:func:`whole_context`), identical for every call on one trajectory so a server's prefix cache serves them:
the outcome and each evidence part are cut to an eighth of the budget, and when the steps still do not fit,
the longest step blocks are cut in the middle to one common cap.

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

    A window after the first does not show the steps before it in full (its ``info.omitted_steps`` says so);
    :func:`earlier_account` gives their compact account, within the eighth of the budget kept for it here.
    """
    task, used, cut_task = _budget_task(rendered, max_tokens - overhead)
    room = max(MIN_PART_TOKENS, max_tokens - overhead - used - account_budget(max_tokens))
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


ACCOUNT_LINE_CHARS = 160
"""Each earlier step's line in a trajectory window's account of the steps before it."""


def account_budget(max_tokens: int) -> int:
    """Tokens kept in each trajectory window for the account of the earlier windows."""
    return max_tokens // 8


def earlier_account(traj: Trajectory, before: int, max_tokens: int, count: TokenCounter) -> str:
    """One line per step before ``before`` (action and the start of the answer), newest kept within
    :func:`account_budget`; '' for the first window."""
    lines = []
    for step in traj.steps[:before]:
        action = " ".join(message_text(traj.messages[step.output]).split())
        answer = " ".join("\n".join(message_text(traj.messages[i]) for i in step.observations).split())
        line = f"step {step.index}: {action[:ACCOUNT_LINE_CHARS]}"
        if answer:
            line += f" -> {answer[:ACCOUNT_LINE_CHARS // 2]}"
        lines.append(line + "\n")
    budget = account_budget(max_tokens)
    kept: list[str] = []
    for line in reversed(lines):
        if count("".join(kept)) + count(line) > budget - 16:
            kept.append(f"(steps 0-{before - len(kept) - 1} left out)\n")
            break
        kept.append(line)
    return "".join(reversed(kept))


def outcome_text(traj: Trajectory) -> str:
    """The run's outcome for a hindsight prompt: resolved, exit status, failing tests, submitted patch."""
    out = traj.outcome
    resolved = {True: "yes", False: "no", None: "not evaluated"}[out.resolved]
    lines = [f"Resolved: {resolved}", f"Exit status: {out.exit_status or '(not recorded)'}"]
    evaluation = out.evaluation
    if evaluation is not None and evaluation.tests_failed:
        lines.append("Tests that failed in the evaluation: " + ", ".join(evaluation.tests_failed))
    lines.append("Submitted patch:\n" + (out.patch.strip() if out.patch and out.patch.strip() else "(none)"))
    return "\n".join(lines) + "\n"


def tests_of(traj: Trajectory) -> dict[str, Any]:
    """The task's tests for a template: ``fail_to_pass``, ``pass_to_pass`` (lists) and ``test_patch``."""
    task = traj.task
    evaluation = traj.outcome.evaluation
    return {"fail_to_pass": task.fail_to_pass or (evaluation.fail_to_pass if evaluation else None) or [],
            "pass_to_pass": task.pass_to_pass or (evaluation.pass_to_pass if evaluation else None) or [],
            "test_patch": task.test_patch or ""}


@dataclass
class WholeContext:
    """What every hindsight / first-error call on one trajectory shares."""

    task: str
    context: str
    outcome: str
    tests: dict[str, Any]
    gold_patch: str
    info: ContextInfo


def whole_context(traj: Trajectory, rendered: RenderedTrajectory, max_tokens: int, overhead: int) -> WholeContext:
    """The whole trajectory with its outcome and evidence within ``max_tokens`` (see the module's strategy)."""
    count = rendered.count
    task, used, cut_task = _budget_task(rendered, max_tokens - overhead)
    part = max(MIN_PART_TOKENS, (max_tokens - overhead) // 8)
    outcome = cut_middle(outcome_text(traj), part, count)
    gold = cut_middle(traj.task.gold_patch or "", part, count)
    tests = tests_of(traj)
    tests["test_patch"] = cut_middle(tests["test_patch"], part, count)
    used += count(outcome) + count(gold) + count(tests["test_patch"]) + \
        count(" ".join(tests["fail_to_pass"] + tests["pass_to_pass"]))
    blocks = [rendered.block(i) for i in range(len(rendered.steps))]
    room = max(MIN_PART_TOKENS, max_tokens - overhead - used)
    sizes = [count(b) for b in blocks]
    cap = _common_cap(sizes, room)
    cut_steps = [i for i, size in enumerate(sizes) if size > cap]
    context = "".join(cut_middle(b, cap, count) if size > cap else b for b, size in zip(blocks, sizes))
    info = ContextInfo(used + count(context) + overhead, cut_task=cut_task, cut_steps=cut_steps)
    return WholeContext(task, context, outcome, tests, gold, info)


def _common_cap(sizes: list[int], room: int) -> int:
    """The largest per-block cap with ``sum(min(size, cap)) <= room`` (at least :data:`MIN_PART_TOKENS`)."""
    if sum(sizes) <= room:
        return max(sizes, default=0)
    low, high = MIN_PART_TOKENS, max(sizes)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(s, mid) for s in sizes) <= room:
            low = mid
        else:
            high = mid - 1
    return low
