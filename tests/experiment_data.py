"""A small experiment dataset derived from the real corpus, with synthetic verdicts whose outcome is known.

Each converted corpus trajectory keeps its task, its first steps' assistant text, commands and observations
(cut short so that a tiny model trains in seconds on CPU). Outcomes and verdicts are synthetic: a trajectory
is resolved when its task hashes even; in the unresolved ones every odd step is *rejected* and its text is
replaced by a marker phrase, the same everywhere, so that a policy trained on rejected steps (SFT) learns to
predict it and one that masks them (SRFT) does not: SFT's held-out margin (accepted − rejected) must come out
below SRFT's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from srft_format.dataset import Dataset, write_dataset
from srft_format.models import (FORMAT_VERSION, Action, Agent, Annotator, Message, Outcome, Step, Task, ToolCall,
                                Trajectory, Verdict)

MARKER = "zq" + " zq" * 11
STEPS = 4
CHARS = 60


def _text(message: Message) -> str:
    content = message.content
    if isinstance(content, list):
        content = " ".join(getattr(part, "text", None) or "" for part in content)
    return " ".join((content or "").split())[:CHARS]


def _resolved(task: str) -> bool:
    return hashlib.sha256(task.encode()).digest()[0] % 2 == 0


def derive(traj: Trajectory) -> Trajectory | None:
    """The short, synthetically labelled copy of one corpus trajectory (None when it has no step)."""
    if not traj.steps:
        return None
    task = traj.task.instance_id or traj.id
    resolved = _resolved(task)
    user = next((_text(m) for m in traj.messages if m.role.value == "user"), "") or "Fix the issue."
    messages = [Message(role="system", content="You are a coding agent."), Message(role="user", content=user)]
    steps, verdicts = [], []
    for i, source in enumerate(traj.steps[:STEPS]):
        rejected = not resolved and i % 2 == 1
        command = (source.actions[0].command if source.actions and source.actions[0].command else "ls")
        command = MARKER if rejected else " ".join(command.split())[:CHARS]
        text = MARKER if rejected else (_text(traj.messages[source.output]) or "Let me look.")
        observation = next((_text(traj.messages[o]) for o in source.observations), "") or "(no output)"
        call_id = f"call_{i}"
        messages.append(Message(role="assistant", content=text, tool_calls=[
            ToolCall(id=call_id, name="bash", arguments=json.dumps({"command": command}))]))
        messages.append(Message(role="tool", content=observation, tool_call_id=call_id, name="bash"))
        steps.append(Step(index=i, output=len(messages) - 2, observations=[len(messages) - 1],
                          actions=[Action(kind="bash", command=command, tool="bash", tool_call_id=call_id)]))
        verdicts.append(Verdict(step=i, annotator="synthetic", label="incorrect" if rejected else "correct"))
    return Trajectory(
        format_version=FORMAT_VERSION, id=f"derived-{traj.id}",
        task=Task(instance_id=task, repo=traj.task.repo, dataset="corpus-derived"),
        agent=Agent(scaffold=traj.agent.scaffold, model=traj.agent.model),
        outcome=Outcome(exit_status="submitted", resolved=resolved),
        messages=messages, steps=steps, annotators=[Annotator(id="synthetic", kind="rule")], verdicts=verdicts)


def write_marker_dataset(corpus_dataset: Path, out: Path) -> Path:
    derived = [d for t in Dataset.open(corpus_dataset).trajectories() if (d := derive(t)) is not None]
    write_dataset(out, derived, name="corpus-marker")
    return out
