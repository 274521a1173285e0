"""Small, valid trajectories for tests (realistic shapes; no converter needed)."""

from __future__ import annotations

import json

from srft_format.models import (FORMAT_VERSION, Action, Agent, Annotator, Message, Outcome, Step, Task, ToolCall,
                                Trajectory, Verdict)


def make_trajectory(traj_id: str = "t-1", n_steps: int = 3, *, resolved: bool | None = False,
                    labels: list[str] | None = None, annotator: str = "critic") -> Trajectory:
    """A ChatML-shaped tool-calling trajectory: system, user, then (assistant + tool result) per step."""
    messages = [Message(role="system", content="You are a coding agent."),
                Message(role="user", content="Fix the bug in utils.py")]
    steps = []
    for i in range(n_steps):
        call_id = f"call_{traj_id}_{i}"
        command = "submit" if i == n_steps - 1 else f"grep -n foo utils.py | head -{i + 1}"
        messages.append(Message(role="assistant", content=f"Step {i}: let me look.",
                                tool_calls=[ToolCall(id=call_id, name="bash",
                                                     arguments=json.dumps({"command": command}))]))
        messages.append(Message(role="tool", content=f"output {i}\n" * 3, tool_call_id=call_id, name="bash"))
        steps.append(Step(index=i, output=len(messages) - 2, observations=[len(messages) - 1],
                          actions=[Action(kind="submit" if i == n_steps - 1 else "bash", command=command,
                                          tool="bash", tool_call_id=call_id)]))
    verdicts = [Verdict(step=i, annotator=annotator, label=label) for i, label in enumerate(labels or [])]
    return Trajectory(
        format_version=FORMAT_VERSION, id=traj_id,
        task=Task(instance_id=f"{traj_id}-task", repo="octo/utils", dataset="synthetic"),
        agent=Agent(scaffold="swe-agent", scaffold_version="1.1.0", model="policy-7b", sampling={"temperature": 0.0}),
        outcome=Outcome(exit_status="submitted", patch="diff --git a/utils.py b/utils.py\n", resolved=resolved),
        messages=messages, steps=steps,
        annotators=[Annotator(id=annotator, kind="llm", model="critic-1")] if labels else [],
        verdicts=verdicts)
