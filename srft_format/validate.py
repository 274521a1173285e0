"""Rules JSON Schema cannot express: references between steps, messages, tool calls, verdicts, annotators.

The rules run on the few values they need, so one implementation serves a trajectory as a model
(:func:`check_trajectory`) and as a JSON object that passed the schema (:func:`check_trajectory_object`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from .errors import Problem
from .models import Trajectory

MessageRefs = tuple[str, Sequence[str], "str | None"]
"""A message's role, the ids of its tool calls, and the tool call it answers."""
InputRefs = tuple["int | None", "int | None", bool]
"""One item of a step's recorded input: its range start and stop, and whether it holds an inline message."""
StepRefs = tuple[int, int, Sequence[int], "Sequence[InputRefs] | None"]
"""A step's index, output message, observation messages and recorded input (None: the prefix)."""
VerdictRefs = tuple[int, str]
"""A verdict's step and annotator."""


def check_trajectory(traj: Trajectory, annotators: Collection[str] | None = None) -> list[Problem]:
    """Every cross-reference problem in ``traj``; ``annotators`` (ids) adds a dataset's registry to its own."""
    return reference_problems(
        [(m.role.value, [c.id for c in m.tool_calls], m.tool_call_id) for m in traj.messages],
        [(s.index, s.output, s.observations,
          None if s.input is None else [(i.start, i.stop, i.message is not None) for i in s.input])
         for s in traj.steps],
        [a.id for a in traj.annotators],
        [(v.step, v.annotator) for v in traj.verdicts],
        annotators,
    )


def check_trajectory_object(obj: dict[str, Any], annotators: Collection[str] | None = None) -> list[Problem]:
    """:func:`check_trajectory` for a trajectory as a JSON object that the JSON Schema accepted."""
    return reference_problems(
        [(m["role"], [c["id"] for c in calls] if (calls := m.get("tool_calls")) else (), m.get("tool_call_id"))
         for m in obj.get("messages", ())],
        [(s["index"], s["output"], s.get("observations", ()),
          None if (items := s.get("input")) is None else
          [(i.get("start"), i.get("stop"), i.get("message") is not None) for i in items])
         for s in obj.get("steps", ())],
        [a["id"] for a in obj.get("annotators", ())],
        [(v["step"], v["annotator"]) for v in obj.get("verdicts", ())],
        annotators,
    )


def reference_problems(messages: Sequence[MessageRefs], steps: Sequence[StepRefs], annotator_ids: Sequence[str],
                       verdicts: Iterable[VerdictRefs], annotators: Collection[str] | None = None) -> list[Problem]:
    """The rules, on the values they need (see the ``*Refs`` types)."""
    problems = _check_messages(messages)
    problems += _check_steps(steps, [role for role, _, _ in messages])
    declared = _declared_annotators(annotator_ids, problems)
    if annotators:
        declared |= set(annotators)
    problems += check_verdicts(verdicts, len(steps), declared, path="verdicts")
    return problems


def _check_messages(messages: Sequence[MessageRefs]) -> list[Problem]:
    problems = []
    call_ids: set[str] = set()
    for i, (role, calls, answered) in enumerate(messages):
        for j, call in enumerate(calls):
            if role != "assistant":
                problems.append(Problem(f"tool calls are only allowed on assistant messages, not {role}",
                                        f"messages[{i}].tool_calls[{j}]"))
            if call in call_ids:
                problems.append(Problem(f"duplicate tool call id {call!r}", f"messages[{i}].tool_calls[{j}].id"))
            call_ids.add(call)
        if role == "tool":
            if answered is None:
                problems.append(Problem("a tool message must name the call it answers", f"messages[{i}].tool_call_id"))
            elif answered not in call_ids:
                problems.append(Problem(f"tool result for unknown or later tool call {answered!r}",
                                        f"messages[{i}].tool_call_id"))
        elif answered is not None:
            problems.append(Problem("only tool messages answer a tool call", f"messages[{i}].tool_call_id"))
    return problems


def _check_steps(steps: Sequence[StepRefs], roles: Sequence[str]) -> list[Problem]:
    problems = []
    n_messages = len(roles)
    outputs: dict[int, int] = {}
    for s, (index, output, observations, inputs) in enumerate(steps):
        if index != s:
            problems.append(Problem(f"step index {index} does not match its position {s}", f"steps[{s}].index"))
        if output >= n_messages:
            problems.append(Problem(f"points at message {output}, but there are {n_messages} messages",
                                    f"steps[{s}].output"))
        else:
            if roles[output] != "assistant":
                problems.append(Problem(f"points at a {roles[output]} message; a step's output is an "
                                        "assistant message", f"steps[{s}].output"))
            if output in outputs:
                problems.append(Problem(f"message {output} is already the output of step {outputs[output]}",
                                        f"steps[{s}].output"))
            outputs[output] = s
        for k, obs in enumerate(observations):
            if obs >= n_messages:
                problems.append(Problem(f"points at message {obs}, but there are {n_messages} messages",
                                        f"steps[{s}].observations[{k}]"))
            elif obs <= output < n_messages:
                problems.append(Problem(f"observation {obs} does not come after the step's output {output}",
                                        f"steps[{s}].observations[{k}]"))
        problems += _check_input(inputs or (), output, f"steps[{s}].input")
    return problems


def _check_input(items: Sequence[InputRefs], output: int, path: str) -> list[Problem]:
    """Each item of a recorded input is a range of messages before the step's output, or one inline message."""
    problems = []
    for k, (start, stop, inline) in enumerate(items):
        where = f"{path}[{k}]"
        if inline:
            if start is not None or stop is not None:
                problems.append(Problem("an item is either a message range or an inline message, not both", where))
        elif start is None or stop is None:
            problems.append(Problem("an item needs both start and stop, or a message", where))
        elif not start < stop <= output:
            problems.append(Problem(f"range [{start}, {stop}) must be non-empty and end at or before the step's "
                                    f"output {output}", where))
    return problems


def _declared_annotators(annotator_ids: Sequence[str], problems: list[Problem]) -> set[str]:
    declared: set[str] = set()
    for i, annotator in enumerate(annotator_ids):
        if annotator in declared:
            problems.append(Problem(f"annotator {annotator!r} is declared twice", f"annotators[{i}].id"))
        declared.add(annotator)
    return declared


def check_verdicts(verdicts: Iterable[VerdictRefs], n_steps: int, annotators: Collection[str],
                   path: str = "verdicts") -> list[Problem]:
    """Verdicts must point at existing steps and declared annotators, one per (step, annotator)."""
    problems = []
    seen: set[VerdictRefs] = set()
    for i, (step, annotator) in enumerate(verdicts):
        where = f"{path}[{i}]" if path else ""
        problems += check_verdict(step, annotator, n_steps, annotators, where)
        if (step, annotator) in seen:
            problems.append(Problem(f"a second verdict by {annotator!r} for step {step}", where))
        seen.add((step, annotator))
    return problems


def check_verdict(step: int, annotator: str, n_steps: int | None, annotators: Collection[str],
                  where: str = "") -> list[Problem]:
    """One verdict against its trajectory's step count (None: trajectory unknown) and the annotator ids."""
    problems = []
    prefix = f"{where}." if where else ""
    if n_steps is not None and step >= n_steps:
        problems.append(Problem(f"verdict for step {step}, but the trajectory has {n_steps} steps", f"{prefix}step"))
    if annotator not in annotators:
        known = ", ".join(sorted(annotators)) or "none"
        problems.append(Problem(f"annotator {annotator!r} is not declared (declared: {known})", f"{prefix}annotator"))
    return problems
