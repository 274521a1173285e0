"""Rules JSON Schema cannot express: references between steps, messages, tool calls, verdicts, annotators."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import Problem
from .models import Annotator, Role, Trajectory, Verdict


def check_trajectory(traj: Trajectory, annotators: Mapping[str, Annotator] | None = None) -> list[Problem]:
    """Every cross-reference problem in ``traj``; ``annotators`` adds a dataset's registry to its own."""
    problems: list[Problem] = []
    problems += _check_messages(traj)
    problems += _check_steps(traj)
    declared = _declared_annotators(traj, problems)
    if annotators:
        declared = {**annotators, **declared}
    problems += check_verdicts(traj.verdicts, len(traj.steps), declared, path="verdicts")
    return problems


def _check_messages(traj: Trajectory) -> list[Problem]:
    problems = []
    call_ids: set[str] = set()
    tool, assistant = Role.tool, Role.assistant
    for i, msg in enumerate(traj.messages):
        role = msg.role
        if msg.tool_calls:
            for j, call in enumerate(msg.tool_calls):
                if role is not assistant:
                    problems.append(Problem(f"tool calls are only allowed on assistant messages, not {role.value}",
                                            f"messages[{i}].tool_calls[{j}]"))
                if call.id in call_ids:
                    problems.append(Problem(f"duplicate tool call id {call.id!r}",
                                            f"messages[{i}].tool_calls[{j}].id"))
                call_ids.add(call.id)
        answered = msg.tool_call_id
        if role is tool:
            if answered is None:
                problems.append(Problem("a tool message must name the call it answers", f"messages[{i}].tool_call_id"))
            elif answered not in call_ids:
                problems.append(Problem(f"tool result for unknown or later tool call {answered!r}",
                                        f"messages[{i}].tool_call_id"))
        elif answered is not None:
            problems.append(Problem("only tool messages answer a tool call", f"messages[{i}].tool_call_id"))
    return problems


def _check_steps(traj: Trajectory) -> list[Problem]:
    problems = []
    messages = traj.messages
    n_messages = len(messages)
    outputs: dict[int, int] = {}
    for s, step in enumerate(traj.steps):
        output = step.output
        if step.index != s:
            problems.append(Problem(f"step index {step.index} does not match its position {s}", f"steps[{s}].index"))
        if output >= n_messages:
            problems.append(Problem(f"points at message {output}, but there are {n_messages} messages",
                                    f"steps[{s}].output"))
        else:
            if messages[output].role is not Role.assistant:
                problems.append(Problem(f"points at a {messages[output].role.value} message; a step's output is an "
                                        "assistant message", f"steps[{s}].output"))
            if output in outputs:
                problems.append(Problem(f"message {output} is already the output of step {outputs[output]}",
                                        f"steps[{s}].output"))
            outputs[output] = s
        for k, obs in enumerate(step.observations):
            if obs >= n_messages:
                problems.append(Problem(f"points at message {obs}, but there are {n_messages} messages",
                                        f"steps[{s}].observations[{k}]"))
            elif obs <= output < n_messages:
                problems.append(Problem(f"observation {obs} does not come after the step's output {output}",
                                        f"steps[{s}].observations[{k}]"))
    return problems


def _declared_annotators(traj: Trajectory, problems: list[Problem]) -> dict[str, Annotator]:
    declared: dict[str, Annotator] = {}
    for i, ann in enumerate(traj.annotators):
        if ann.id in declared:
            problems.append(Problem(f"annotator {ann.id!r} is declared twice", f"annotators[{i}].id"))
        declared[ann.id] = ann
    return declared


def check_verdicts(verdicts: Iterable[Verdict], n_steps: int, annotators: Mapping[str, Annotator],
                   path: str = "verdicts") -> list[Problem]:
    """Verdicts must point at existing steps and declared annotators, one per (step, annotator)."""
    problems = []
    seen: set[tuple[int, str]] = set()
    for i, verdict in enumerate(verdicts):
        where = f"{path}[{i}]" if path else ""
        problems += check_verdict(verdict, n_steps, annotators, where)
        key = (verdict.step, verdict.annotator)
        if key in seen:
            problems.append(Problem(f"a second verdict by {verdict.annotator!r} for step {verdict.step}", where))
        seen.add(key)
    return problems


def check_verdict(verdict: Verdict, n_steps: int | None, annotators: Mapping[str, Annotator],
                  where: str = "") -> list[Problem]:
    """One verdict against its trajectory's step count (None: trajectory unknown) and the annotator registry."""
    problems = []
    prefix = f"{where}." if where else ""
    if n_steps is not None and verdict.step >= n_steps:
        problems.append(Problem(f"verdict for step {verdict.step}, but the trajectory has {n_steps} steps",
                                f"{prefix}step"))
    if verdict.annotator not in annotators:
        known = ", ".join(sorted(annotators)) or "none"
        problems.append(Problem(f"annotator {verdict.annotator!r} is not declared (declared: {known})",
                                f"{prefix}annotator"))
    return problems
