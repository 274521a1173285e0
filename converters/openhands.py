"""OpenHands / OpenDevin (V0) trajectories: evaluation ``output.jsonl`` rows, saved and exported event lists,
issue-resolver output.

Versions, detected from the data (see ``research/openhands-formats.md`` §0):

* ``opendevin-pairs``: OpenDevin SWE-bench output (``swe_instance``, top-level ``git_patch``), pair history;
* ``eval-pairs``: ``EvalOutput`` rows whose ``history`` is ``[action, observation]`` pairs (2024);
* ``eval-events``: ``EvalOutput`` rows with a flat event list (2024-09 onward), function calling or not;
* ``trajectory``: a saved trajectory (bare JSON list of events, ``save_trajectory_path``);
* ``gui-export``: the UI download / ``/trajectory`` API, with environment events (dropped and counted);
* ``feedback``: the feedback upload (``{version, email, polarity, feedback, trajectory}``);
* ``resolver``: ``openhands.resolver`` output (``issue``, ``git_patch``, flat dataclass-dump history).

Rows that carry the model's recorded requests (``raw_completions`` from ``combine_final_completions.py``,
or the 2024 ``llm_completions`` list) take the chat from them (``provenance.messages = recorded``); otherwise
the chat is rebuilt from events (``reconstructed``) by :mod:`.openhands_events`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from srft_format.models import Agent, Evaluation, Message, Outcome, Role, Task, Trajectory, Usage

from .base import Converter, Detection, SourceRecord
from .openai_chat import chat_messages, chat_trajectory, steps_for
from .source_fields import object_list, optional_text, require, token_count, without
from .openhands_events import EventChat, chat_from_events, flatten_history, is_event

INSTANCE_KEYS = ("instance", "swe_instance")
TASK_FIELDS = ("repo", "base_commit", "problem_statement")
SAMPLING_KEYS = ("temperature", "top_p")
ROW_MAPPED = frozenset({"instance_id", "instance", "swe_instance", "instruction", "metadata", "history",
                        "test_result", "git_patch", "report", "error"})
RESOLVER_MAPPED = frozenset({"issue", "instruction", "base_commit", "git_patch", "history", "error"})
RESOLVER_OUTCOME = ("success", "comment_success", "result_explanation")
"""The resolver's own LLM-judged verdict: kept in ``outcome.extra``, never taken as ``resolved``."""
FEEDBACK_KEYS = frozenset({"feedback", "trajectory"})
"""A feedback upload (``polarity`` too, except in rows of the HF ``openhands-feedback`` copy that lack it)."""
EVAL_KEYS = frozenset({"instance_id", "history", "metadata"})
"""Enough to claim an ``EvalOutput`` row whose history is empty (the runtime failed before any event)."""
# --------------------------------------------------------------------------------------------- detection


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if isinstance(data, list):
        if data and all(is_event(e) for e in data[:3]):
            return _event_list_detection(data, "a JSON list of OpenHands events")
        return None
    if not isinstance(data, dict):
        return None
    history = data.get("history")
    if isinstance(history, list) and (_history_ok(history) if history else EVAL_KEYS <= data.keys()):
        if "issue" in data and "git_patch" in data:
            return Detection("resolver", "has issue, git_patch and an event history (openhands.resolver)")
        if "swe_instance" in data:
            return Detection("opendevin-pairs", "has swe_instance and [action, observation] history pairs")
        if history and isinstance(history[0], list):
            return Detection("eval-pairs", "EvalOutput row whose history is [action, observation] pairs")
        return Detection("eval-events", "EvalOutput row whose history is a flat list of events")
    trajectory = data.get("trajectory")
    if isinstance(trajectory, list) and trajectory and all(is_event(e) for e in trajectory[:3]):
        if FEEDBACK_KEYS <= data.keys():
            return Detection("feedback", "an OpenHands feedback upload (feedback, trajectory)")
        return _event_list_detection(trajectory, "the /trajectory API response: {trajectory: [events]}")
    return None


def _history_ok(history: list[Any]) -> bool:
    first = history[0]
    return is_event(first) or (isinstance(first, list) and bool(first) and is_event(first[0]))


def _event_list_detection(events: list[Any], what: str) -> Detection:
    if any(isinstance(e, dict) and (e.get("observation") == "agent_state_changed"
                                    or e.get("action") == "change_agent_state") for e in events):
        return Detection("gui-export", f"{what}, with agent-state events (a GUI/event-stream export)")
    return Detection("trajectory", f"{what} (a saved trajectory)")


# --------------------------------------------------------------------------------------------- conversion


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    data = record.data
    if detection.version in ("trajectory", "gui-export", "feedback"):
        events = data if isinstance(data, list) else data["trajectory"]
        rest = {} if isinstance(data, list) else {k: v for k, v in data.items() if k != "trajectory"}
        yield _from_events(record, detection, events, rest=rest)
    elif detection.version == "resolver":
        yield _resolver(record, detection)
    else:
        yield _eval_output(record, detection)


def _from_events(record: SourceRecord, detection: Detection, history: list[Any], *, path: str = "",
                 usage_by_response: Mapping[str, Usage] | None = None, instruction: str | None = None,
                 rest: dict[str, Any] | None = None, task: Task | None = None, agent: Agent | None = None,
                 outcome: Outcome | None = None) -> Trajectory:
    """A trajectory from an event list, plus whatever the row around it says."""
    chat = chat_from_events(flatten_history(history, path), usage_by_response, instruction)
    agent = agent or Agent()
    agent.scaffold = "openhands"
    agent.tools = agent.tools or chat.tools
    agent.scaffold_version = agent.scaffold_version or chat.system.get("openhands_version")
    if chat.system:
        agent.extra["system_event"] = chat.system
    outcome = outcome or Outcome()
    outcome.exit_status = outcome.exit_status or _exit_status(chat)
    extra = dict(rest or {})
    if chat.dropped:
        extra["dropped_events"] = chat.dropped
        extra["dropped_event_counts"] = chat.dropped_counts
    agent.model = agent.model or _model(chat)
    return chat_trajectory(CONVERTER, record, detection, chat.messages, recorded=False,
                           task=task or Task(problem_statement=_task_text(chat)), agent=agent, outcome=outcome,
                           steps=chat.steps, extra=extra)


def _task_text(chat: EventChat) -> str | None:
    """The first user turn's text: the task of a saved trajectory or feedback upload, which name no instance."""
    first = next((m for m in chat.messages if m.role is Role.user), None)
    return first.content if first is not None and isinstance(first.content, str) else None


def _model(chat: EventChat) -> str | None:
    """The model the responses name (``tool_call_metadata.model_response.model``), when the row does not."""
    for step in chat.steps:
        response = step.extra.get("model_response")
        if isinstance(response, dict) and isinstance(response.get("model"), str):
            return response["model"]
    return None


def _exit_status(chat: EventChat) -> str | None:
    if chat.finished:
        return "finish"
    return chat.last_agent_state


def _eval_output(record: SourceRecord, detection: Detection) -> Trajectory:
    """An ``EvalOutput`` row (any era): task from the instance, agent from metadata, outcome from results."""
    row: dict[str, Any] = record.data
    test_result = require(row.get("test_result") or {}, dict, "test_result", "an object")
    metadata = require(row.get("metadata") or {}, dict, "metadata", "an object")
    llm_config = require(metadata.get("llm_config") or {}, dict, "metadata.llm_config", "an object")
    task = _eval_task(row, metadata)
    model = llm_config.get("model") or metadata.get("model_name")
    agent = Agent(model=optional_text(model, "metadata.llm_config.model"),
                  sampling={k: llm_config[k] for k in SAMPLING_KEYS if llm_config.get(k) is not None},
                  config=metadata or None)
    rest = {k: v for k, v in row.items() if k not in ROW_MAPPED}
    if row.get("report") is not None and not isinstance(row.get("report"), dict):
        rest["report"] = row["report"]
    instruction = optional_text(row.get("instruction"), "instruction")
    recorded = _recorded_chat(row)
    if recorded is None:
        traj = _from_events(record, detection, row.get("history") or [], path="history",
                            usage_by_response=_usage_by_response(row.get("metrics")), instruction=instruction,
                            rest=rest, task=task, agent=agent, outcome=_eval_outcome(row, test_result))
    else:
        messages, agent.tools, unused_logs = recorded
        agent.scaffold = "openhands"
        traj = chat_trajectory(CONVERTER, record, detection, messages, recorded=True, task=task, agent=agent,
                               outcome=_eval_outcome(row, test_result), steps=steps_for(messages),
                               extra={**rest, **unused_logs, "history": row.get("history")})
    _keep_instruction(traj, instruction)
    return traj


def _eval_task(row: Mapping[str, Any], metadata: Mapping[str, Any]) -> Task:
    """The task from the dataset row the run was given (``instance``; ``swe_instance`` in OpenDevin)."""
    key = next((k for k in INSTANCE_KEYS if isinstance(row.get(k), dict)), None)
    instance = row[key] if key else {}
    instance_id = row.get("instance_id") or instance.get("instance_id") or instance.get("id")
    return Task(instance_id=optional_text(instance_id, "instance_id"),
                dataset=optional_text(metadata.get("dataset"), "metadata.dataset"),
                **{k: optional_text(instance.get(k), f"{key}.{k}") for k in TASK_FIELDS},
                extra={k: v for k, v in instance.items() if k not in TASK_FIELDS})


def _eval_outcome(row: Mapping[str, Any], test_result: Mapping[str, Any]) -> Outcome:
    """Why it stopped (``error``), the patch, and ``resolved`` when the row was evaluated."""
    report = row.get("report") if isinstance(row.get("report"), dict) else test_result.get("report")
    unmapped = without(test_result, "git_patch", "report")
    patch_path = "test_result.git_patch" if "git_patch" in test_result else "git_patch"
    return Outcome(exit_status=optional_text(row.get("error"), "error"),
                   patch=optional_text(test_result.get("git_patch", row.get("git_patch")), patch_path),
                   resolved=_resolved(report, test_result),
                   evaluation=Evaluation(source="report", extra=report) if isinstance(report, dict) else None,
                   extra={"test_result": unmapped} if unmapped else {})


def _resolved(report: Any, test_result: Mapping[str, Any]) -> bool | None:
    """``report.resolved``, else legacy ``test_result.result.resolved`` (0/1) or boolean ``.result``."""
    if isinstance(report, dict) and report.get("resolved") is not None:
        return bool(report["resolved"])
    result = test_result.get("result")
    if isinstance(result, dict) and result.get("resolved") is not None:
        return bool(result["resolved"])
    return result if isinstance(result, bool) else None


def _usage_by_response(metrics: Any) -> dict[str, Usage]:
    """Per-call token usage from ``metrics.token_usages``, keyed by the response id the events carry."""
    usages = metrics.get("token_usages") if isinstance(metrics, dict) else None
    if not isinstance(usages, list):
        return {}
    return {u["response_id"]: Usage(prompt_tokens=token_count(u.get("prompt_tokens")),
                                    completion_tokens=token_count(u.get("completion_tokens")),
                                    cached_tokens=token_count(u.get("cache_read_tokens")))
            for u in usages if isinstance(u, dict) and isinstance(u.get("response_id"), str)}


def _recorded_chat(row: Mapping[str, Any]
                   ) -> tuple[list[Message], list[dict[str, Any]], dict[str, Any]] | None:
    """The final LLM request + response, from ``raw_completions`` or the last ``llm_completions`` entry.

    Returns the messages, the tools offered and, for ``extra``, what of the logs the chat does not hold
    (earlier calls' logs, costs, timestamps).
    """
    if isinstance(row.get("raw_completions"), dict):
        raw = row["raw_completions"]
        messages = require(raw.get("messages"), list, "raw_completions.messages", "a list of messages")
        tools = object_list(raw.get("tools") or [], "raw_completions.tools", "a list of tool schemas")
        rest = without(raw, "messages", "tools")
        unused = {"raw_completions": rest} if rest else {}
        return chat_messages(messages, "raw_completions.messages"), tools, unused
    logs = row.get("llm_completions")
    if not (isinstance(logs, list) and logs):
        return None
    where = f"llm_completions[{len(logs) - 1}]"
    last = require(logs[-1], dict, where, "an object")
    response = require(last.get("response") or {}, dict, f"{where}.response", "an object")
    choices = object_list(response.get("choices") or [], f"{where}.response.choices", "a list")
    final = [choices[0]["message"]] if choices and choices[0].get("message") else []
    messages = require(last.get("messages") or [], list, f"{where}.messages", "a list of messages")
    kwargs = require(last.get("kwargs") or {}, dict, f"{where}.kwargs", "an object")
    tools = object_list(kwargs.get("tools") or [], f"{where}.kwargs.tools", "a list of tool schemas")
    choices_left = [without(c, "message") for c in choices]
    last_left = {**without(last, "messages"),
                 "response": {**without(response, "choices"), "choices": choices_left}}
    return (chat_messages([*messages, *final], f"{where}.messages"), tools,
            {"llm_completions": [*logs[:-1], last_left]})


def _keep_instruction(traj: Trajectory, instruction: str | None) -> None:
    """``instruction`` repeats the first user message; keep it only when it does not."""
    first_user = next((m.content for m in traj.messages if m.role is Role.user), None)
    if instruction is not None and instruction != first_user:
        traj.task.extra["instruction"] = instruction


def _resolver(record: SourceRecord, detection: Detection) -> Trajectory:
    """``openhands.resolver`` output: a GitHub issue or PR, the patch and an LLM-judged ``success``."""
    row: dict[str, Any] = record.data
    issue = require(row.get("issue") or {}, dict, "issue", "an object")
    instruction = optional_text(row.get("instruction"), "instruction")
    repo = f"{issue['owner']}/{issue['repo']}" if issue.get("owner") and issue.get("repo") else None
    task = Task(instance_id=f"{repo}#{issue['number']}" if repo and issue.get("number") is not None else None,
                repo=repo, base_commit=optional_text(row.get("base_commit"), "base_commit") or None,
                problem_statement=optional_text(issue.get("body"), "issue.body"), extra={"issue": issue})
    outcome = Outcome(exit_status=optional_text(row.get("error"), "error"),
                      patch=optional_text(row.get("git_patch"), "git_patch"),
                      extra={k: row[k] for k in RESOLVER_OUTCOME if k in row})
    rest = {k: v for k, v in row.items() if k not in RESOLVER_MAPPED and k not in RESOLVER_OUTCOME}
    traj = _from_events(record, detection, row.get("history") or [], path="history",
                        instruction=instruction, rest=rest, task=task, outcome=outcome)
    _keep_instruction(traj, instruction)
    return traj


CONVERTER = Converter(
    name="openhands",
    versions=("opendevin-pairs", "eval-pairs", "eval-events", "trajectory", "gui-export", "feedback",
              "resolver"),
    detect=detect,
    convert=convert,
    description="OpenHands/OpenDevin output.jsonl rows, saved/exported event lists, resolver output",
    derived_fields=(
        # every event's tool_call_metadata repeats its response's tool call (kept as the message's tool call)
        # and the whole model_response (kept once, in the step's extra)
        "history[].tool_call_metadata", "[].tool_call_metadata", "trajectory[].tool_call_metadata",
        "instruction",  # repeats the first user message (kept in task.extra when it does not)
    ),
)
