"""Who&When (ICML 2025, "Which Agent Causes Task Failures and When?"): failed multi-agent runs with a human label.

A file is ``{question, ground_truth, history, mistake_agent, mistake_step, mistake_reason, ...}``; ``history`` is a
list of ``{content, role[, name]}`` turns. The agent of a turn is ``name`` when present (algorithm-generated,
CaptainAgent), else ``role`` (hand-crafted, Magentic-One: ``Orchestrator (thought)``, ``WebSurfer``...), as the
benchmark's own code reads it. Each turn is one message, in order, so message ``i`` is ``history[i]``. Every turn
but the ``human`` question is an agent turn and one step (the benchmark blames any of them, the code terminal
included: ``mistake_step`` is an index into ``history``).

The label is the DECISIVE error, the earliest step whose fix would have let the run succeed: that step gets one
``incorrect`` verdict of the human annotator ``who-and-when`` with ``mistake_reason`` as rationale. Steps before
it are not labeled correct and steps after it are not labeled at all: nothing is invented for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from srft_format.models import (Action, ActionKind, Agent, Annotator, AnnotatorKind, Label, Message, Outcome, Role,
                                Step, Task, Trajectory, Verdict)

from .base import Converter, Detection, SourceRecord, new_trajectory
from .source_fields import fail, object_list, require, without

KEYS = frozenset({"history", "question", "mistake_agent", "mistake_step", "mistake_reason"})
MAPPED = KEYS | {"question_ID", "ground_truth", "level", "is_correct", "is_corrected", "system_prompt"}
"""Fields with a place in the trajectory; any other (a few files add ``labels``, ``mistake_type``) goes to extra."""
HUMAN = "human"
ANNOTATOR = Annotator(
    id="who-and-when", kind=AnnotatorKind.human,
    description="Who&When (ICML 2025) human label: the decisive error, the earliest step whose fix would have let "
                "the run succeed; earlier steps are not labeled correct, later steps not labeled at all",
    parameters={"label": "decisive-error"})


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if isinstance(data, dict) and KEYS <= data.keys():
        version = "algorithm-generated" if "system_prompt" in data else "hand-crafted"
        return Detection(version, "has history, question and mistake_agent/step/reason (Who&When)")
    return None


def agent_of(turn: dict[str, Any], path: str) -> str:
    """The agent of a history turn: ``name`` when present, else ``role``."""
    agent = turn.get("name") or turn.get("role")
    return require(agent, str, f"{path}.role", "a string naming the agent")


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    data = record.data
    history = object_list(data["history"], "history", "a list of turns")
    mistake = _mistake_step(data["mistake_step"], len(history))
    messages: list[Message] = []
    steps: list[Step] = []
    step_of_turn: dict[int, int] = {}
    for i, turn in enumerate(history):
        path = f"history[{i}]"
        agent = agent_of(turn, path)
        content = require(turn.get("content"), (str, type(None)), f"{path}.content", "a string or null")
        extra = without(turn, "content", "name") if "name" in turn else without(turn, "content", "role")
        if agent == HUMAN:
            messages.append(Message(role=Role.user, content=content, name=agent, extra=extra))
            if steps:
                steps[-1].observations.append(i)
            continue
        messages.append(Message(role=Role.assistant, content=content, name=agent, extra=extra))
        kind = ActionKind.think if agent.endswith("(thought)") else ActionKind.message
        step_of_turn[i] = len(steps)
        steps.append(Step(index=len(steps), output=i, actions=[Action(kind=kind, tool=agent)]))
    if mistake not in step_of_turn:
        raise fail("mistake_step", f"history[{mistake}] is the human question, not an agent turn")
    verdict = Verdict(step=step_of_turn[mistake], annotator=ANNOTATOR.id, label=Label.incorrect,
                      rationale=require(data["mistake_reason"], str, "mistake_reason", "a string"),
                      extra={"mistake_agent": data["mistake_agent"], "mistake_step": mistake})
    subset = "Who&When/Algorithm-Generated" if detection.version == "algorithm-generated" else "Who&When/Hand-Crafted"
    question_id = data.get("question_ID")
    yield new_trajectory(
        CONVERTER, record, detection, messages=messages, steps=steps,
        task=Task(instance_id=str(question_id) if question_id is not None else None, dataset=subset,
                  problem_statement=require(data["question"], str, "question", "a string"),
                  extra={k: data[k] for k in ("ground_truth", "level") if k in data}),
        agent=_agent(data, detection),
        outcome=Outcome(resolved=False, extra={k: data[k] for k in ("is_correct", "is_corrected") if k in data}),
        annotators=[ANNOTATOR], verdicts=[verdict], extra={k: v for k, v in data.items() if k not in MAPPED})


def _mistake_step(value: Any, turns: int) -> int:
    """``mistake_step`` (a string holding a 0-based index into ``history``) as an int within the history."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise fail("mistake_step", f"expected an index into history (a string of digits), got {value!r}")
    step = int(text)
    if step >= turns:
        raise fail("mistake_step", f"mistake_step {step} is beyond the history ({turns} turns)")
    return step


def _agent(data: dict[str, Any], detection: Detection) -> Agent:
    scaffold = "captainagent" if detection.version == "algorithm-generated" else "magentic-one"
    prompts = data.get("system_prompt")
    return Agent(scaffold=scaffold, config={"system_prompt": prompts} if prompts is not None else None)


CONVERTER = Converter(
    name="who-and-when", versions=("hand-crafted", "algorithm-generated"), detect=detect, convert=convert,
    description="Who&When failure-attribution runs (one JSON file each) with the human label of the decisive step",
    derived_fields=("mistake_step", "mistake_agent", "mistake_reason"))
