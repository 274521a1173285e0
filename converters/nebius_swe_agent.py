"""``nebius/SWE-agent-trajectories`` rows (Hugging Face, CC-BY-4.0).

``{instance_id, model_name, target, trajectory: [{role, text, system_prompt, mask, cutoff_date}],
exit_status, generated_patch, eval_logs}``: a flattened SWE-agent 0.x history with roles ``system`` /
``user`` / ``ai``, the system prompt in ``system_prompt`` and everything else in ``text``. ``target`` is
whether the patch passed the task's tests (``resolved``); ``mask`` (true on ``ai`` turns) is kept per
message. Actions are the fenced command blocks of the ``ai`` turns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from srft_format.models import Action, Agent, Evaluation, Message, Outcome, Role, Task, Trajectory

from .actions import text_actions
from .base import Converter, Detection, SourceRecord
from .openai_chat import chat_trajectory, steps_for
from .source_fields import fail, list_or_json_list, optional_text, require

NAME = "nebius-swe-agent"
ROW_KEYS = frozenset(("model_name", "target", "trajectory"))
ROLES = {"system": Role.system, "user": Role.user, "ai": Role.assistant, "assistant": Role.assistant}


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if isinstance(data, dict) and ROW_KEYS <= data.keys():
        encoded = " (trajectory as a JSON string)" if isinstance(data["trajectory"], str) else ""
        return Detection("hf-rows", f"'model_name', 'target' and a 'trajectory' of role/text turns{encoded}")
    return None


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    data = record.data
    turns = list_or_json_list(data["trajectory"], "trajectory", "a list of turns")
    messages = [_message(turn, f"trajectory[{i}]") for i, turn in enumerate(turns)]
    actions: dict[int, list[Action]] = {i: text_actions(m.content) for i, m in enumerate(messages)
                                        if m.role is Role.assistant and isinstance(m.content, str)}
    target = data["target"]
    if target is not None and not isinstance(target, bool):
        raise fail("target", f"expected true/false, got {target!r}")
    patch, exit_status = data.get("generated_patch"), data.get("exit_status")
    eval_logs = data.get("eval_logs")
    yield chat_trajectory(
        CONVERTER, record, detection, messages, recorded=True,
        steps=steps_for(messages, actions),
        task=Task(instance_id=optional_text(data.get("instance_id"), "instance_id")),
        agent=Agent(scaffold="swe-agent", scaffold_version="0.x",
                    model=optional_text(data["model_name"], "model_name")),
        outcome=Outcome(exit_status=optional_text(exit_status, "exit_status"),
                        patch=optional_text(patch, "generated_patch"),
                        resolved=target, evaluation=Evaluation(
                            source="nebius/SWE-agent-trajectories 'target'",
                            extra={"eval_logs": eval_logs} if eval_logs is not None else {})),
        extra={k: v for k, v in data.items() if k not in (*ROW_KEYS, "instance_id", "exit_status",
                                                          "generated_patch", "eval_logs")})


def _message(turn: Any, path: str) -> Message:
    require(turn, dict, path, "a turn object")
    role = ROLES.get(turn.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise fail(f"{path}.role", f"unknown role {turn.get('role')!r} (expected system, user or ai)")
    in_system_prompt = role is Role.system and turn.get("text") is None
    text = optional_text(turn.get("system_prompt") if in_system_prompt else turn.get("text"), f"{path}.text")
    mapped = ("role", "text", "system_prompt") if in_system_prompt else ("role", "text")
    return Message(role=role, content=text, extra={k: v for k, v in turn.items() if k not in mapped})


CONVERTER = Converter(
    name=NAME,
    versions=("hf-rows",),
    detect=detect,
    convert=convert,
    description="nebius/SWE-agent-trajectories rows (SWE-agent 0.x histories, roles system/user/ai)",
    derived_fields=("trajectory[].role",),
)
