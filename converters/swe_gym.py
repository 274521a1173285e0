"""SWE-Gym ``OpenHands-Sampled-Trajectories`` rows: the exact final LLM request plus its response.

A row is ``{instance_id, run_id, resolved, messages, tools, test_result}``. ``messages`` is the last
completion log of an OpenHands CodeActAgent v2.x run (native function calling), so the chat is recorded,
not rebuilt. ``run_id`` names the model, iteration cap, agent version, temperature and run number.
ADP's sample of this set appends ``_N`` to ``instance_id``: the SWE-bench id is restored, the original kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from srft_format.models import Agent, Evaluation, Message, Outcome, Task, Trajectory

from .base import Converter, Detection, SourceRecord
from .openai_chat import chat_messages, chat_trajectory, steps_for
from .source_fields import object_list, optional_text, require

ROW_KEYS = frozenset({"instance_id", "run_id", "messages", "tools", "test_result"})
RUN_ID = re.compile(r"^(?P<model>.+?)_maxiter_(?P<max_iterations>\d+)_N_(?P<note>.*)$")
AGENT_VERSION = re.compile(r"(?:^|-)v(?P<version>\d+(?:\.\d+)*)(?:-|$)")
TEMPERATURE = re.compile(r"(?:^|-)t(?P<digits>\d+)(?:-|$)")
SAMPLE_SUFFIX = re.compile(r"^(?P<instance>.+-\d+)_(?P<sample>\d+)$")


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if isinstance(data, dict) and ROW_KEYS <= data.keys() and "trajectory" not in data:
        return Detection("sampled-trajectories", "has instance_id, run_id, messages, tools and test_result "
                                                 "(SWE-Gym OpenHands-Sampled-Trajectories row)")
    return None


def parse_run_id(run_id: str) -> dict[str, Any]:
    """``gpt-4o_maxiter_50_N_v2.1-no-hint-train-t04-run_1`` -> model, max_iterations, version, temperature."""
    match = RUN_ID.match(run_id)
    if not match:
        return {}
    parsed: dict[str, Any] = {"model": match["model"], "max_iterations": int(match["max_iterations"])}
    note = match["note"]
    if version := AGENT_VERSION.search(note):
        parsed["agent_version"] = version["version"]
    if temperature := TEMPERATURE.search(note):
        digits = temperature["digits"]
        parsed["temperature"] = float(f"{digits[0]}.{digits[1:]}") if len(digits) > 1 else float(digits)
    return parsed


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    row = record.data
    raw_messages = require(row["messages"], list, "messages", "a list of messages")
    messages = chat_messages(raw_messages, "messages")
    instance_id = require(row["instance_id"], str, "instance_id", "a string")
    test_result = require(row.get("test_result") or {}, dict, "test_result", "an object")
    yield chat_trajectory(
        CONVERTER, record, detection, messages, recorded=True, task=task_for(instance_id),
        agent=_agent(row, parse_run_id(str(row.get("run_id") or ""))),
        outcome=_outcome(row, test_result, messages), steps=steps_for(messages),
        extra={k: v for k, v in row.items() if k not in ROW_KEYS | {"resolved"}},
    )


def _agent(row: dict[str, Any], run: dict[str, Any]) -> Agent:
    version = f"CodeActAgent v{run['agent_version']}" if "agent_version" in run else None
    extra = {"run_id": row.get("run_id"), **{k: run[k] for k in ("max_iterations",) if k in run}}
    return Agent(scaffold="openhands", scaffold_version=version, model=run.get("model"),
                 sampling={"temperature": run["temperature"]} if "temperature" in run else {},
                 tools=object_list(row.get("tools") or [], "tools", "a list of tool schemas"), extra=extra)


def _outcome(row: dict[str, Any], test_result: dict[str, Any], messages: list[Message]) -> Outcome:
    """The patch and ``resolved`` (the row's, else its report's); ``finish`` when the last call is one."""
    report = test_result.get("report")
    resolved = row.get("resolved")
    if resolved is None and isinstance(report, dict):
        resolved = report.get("resolved")
    finished = bool(messages) and any(c.name == "finish" for c in messages[-1].tool_calls)
    require(resolved, (bool, int, type(None)), "resolved", "true, false or null")
    return Outcome(exit_status="finish" if finished else None,
                   patch=optional_text(test_result.get("git_patch"), "test_result.git_patch"),
                   resolved=bool(resolved) if resolved is not None else None,
                   evaluation=Evaluation(source="test_result.report", extra=report)
                   if isinstance(report, dict) else None,
                   extra={k: v for k, v in test_result.items() if k not in ("git_patch", "report")})


def task_for(instance_id: str, dataset: str | None = "SWE-Gym") -> Task:
    """The task; a trailing ``_N`` sample number (ADP's) is split off the SWE-bench instance id."""
    match = SAMPLE_SUFFIX.match(instance_id)
    if not match:
        return Task(instance_id=instance_id, dataset=dataset)
    return Task(instance_id=match["instance"], dataset=dataset,
                extra={"source_instance_id": instance_id, "sample": int(match["sample"])})


CONVERTER = Converter(
    name="swe-gym",
    versions=("sampled-trajectories",),
    detect=detect,
    convert=convert,
    description="SWE-Gym OpenHands-Sampled-Trajectories rows (tool-call chat, tools, resolved, test_result)",
)
