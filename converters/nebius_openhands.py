"""nebius ``SWE-rebench-openhands-trajectories`` rows (Hugging Face, CC-BY-4.0).

A row is ``{trajectory_id, instance_id, repo, trajectory, tools, model_patch, exit_status, resolved,
gen_tests_correct, pred_passes_gen_tests}``: ``trajectory`` is the OpenHands (v0.54) ConversationMemory
chat in OpenAI tool-call form, so the messages are recorded, not rebuilt. ``resolved`` is 0/1;
``gen_tests_correct`` / ``pred_passes_gen_tests`` grade the patch against generated tests.
"""

from __future__ import annotations

from collections.abc import Iterator

from srft_format.models import Agent, Evaluation, Outcome, Task, Trajectory

from .base import Converter, Detection, SourceRecord
from .openai_chat import chat_messages, chat_trajectory, steps_for
from .source_fields import object_list, optional_text, require

ROW_KEYS = frozenset({"trajectory_id", "instance_id", "trajectory", "tools", "model_patch"})
MAPPED = frozenset({"instance_id", "repo", "trajectory", "tools", "model_patch", "exit_status", "resolved"})
"""Everything else (``trajectory_id``: the first LLM response id) is kept in ``extra``."""
GENERATED_TESTS = ("gen_tests_correct", "pred_passes_gen_tests")


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if isinstance(data, dict) and ROW_KEYS <= data.keys():
        return Detection("hf-rows", "has trajectory_id, instance_id, trajectory, tools and model_patch "
                                    "(nebius SWE-rebench-openhands-trajectories row)")
    return None


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    row = record.data
    messages = chat_messages(require(row["trajectory"], list, "trajectory", "a list of messages"),
                             "trajectory")
    tools = object_list(row["tools"], "tools", "a list of tool schemas")
    resolved = require(row.get("resolved"), (bool, int, type(None)), "resolved", "0, 1 or null")
    grades = {k: row[k] for k in GENERATED_TESTS if k in row}
    yield chat_trajectory(
        CONVERTER, record, detection, messages, recorded=True,
        task=Task(instance_id=require(row["instance_id"], str, "instance_id", "a string"),
                  repo=optional_text(row.get("repo"), "repo"), dataset="SWE-rebench"),
        agent=Agent(scaffold="openhands", tools=tools),
        outcome=Outcome(exit_status=optional_text(row.get("exit_status"), "exit_status"),
                        patch=optional_text(row["model_patch"], "model_patch"),
                        resolved=bool(resolved) if resolved is not None else None,
                        evaluation=Evaluation(source="nebius resolved", extra=grades) if grades else None),
        steps=steps_for(messages),
        extra={k: v for k, v in row.items() if k not in MAPPED and k not in GENERATED_TESTS},
    )


CONVERTER = Converter(
    name="nebius-openhands",
    versions=("hf-rows",),
    detect=detect,
    convert=convert,
    description="nebius SWE-rebench-openhands-trajectories rows (OpenHands tool-call chat, resolved 0/1)",
)
