"""``srft show``: read a trajectory step by step, with its verdicts."""

from __future__ import annotations

import click
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from srft_format.dataset import Dataset
from srft_format.errors import SrftError
from srft_format.models import Label, Message, Trajectory, Verdict

LABEL_STYLES = {Label.correct: ("✓", "green"), Label.incorrect: ("✗", "red"),
                Label.neutral: ("·", "yellow"), Label.unknown: ("?", "bright_black")}


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--trajectory", "-t", "trajectory_id", help="The trajectory to show (default: list them).")
@click.option("--step", "-s", "step_index", type=int, help="Show only this step.")
@click.option("--max-lines", default=12, show_default=True, help="Lines kept of each text (0: everything).")
def show(dataset: str, trajectory_id: str | None, step_index: int | None, max_lines: int) -> None:
    """Show a dataset's trajectories, or one trajectory step by step with its verdicts.

    \b
    Examples:
      srft show my-dataset                          # one line per trajectory
      srft show my-dataset -t swe-agent-3f2a...     # every step
      srft show my-dataset -t swe-agent-3f2a... -s 4 --max-lines 0
    """
    ds = Dataset.open(dataset)
    console = Console()
    sidecar = ds.verdicts_by_trajectory()
    if trajectory_id is None:
        console.print(_listing(ds, sidecar))
        return
    traj = ds.trajectory(trajectory_id)
    verdicts = [*traj.verdicts, *sidecar.get(traj.id, [])]
    if step_index is not None and not 0 <= step_index < len(traj.steps):
        raise SrftError(f"trajectory {traj.id!r} has steps 0..{len(traj.steps) - 1}, not {step_index}")
    console.print(_header(traj))
    for step in traj.steps:
        if step_index is None or step.index == step_index:
            console.print(_step_panel(traj, step.index, [v for v in verdicts if v.step == step.index], max_lines))


def _listing(ds: Dataset, sidecar: dict[str, list[Verdict]]) -> Table:
    table = Table(title=f"{ds.name}: trajectories", title_justify="left", show_edge=False)
    for column in ("id", "instance", "model", "steps", "resolved", "verdicts"):
        table.add_column(column, justify="right" if column in ("steps", "verdicts") else "left")
    for traj in ds.trajectories():
        n_verdicts = len(traj.verdicts) + len(sidecar.get(traj.id, []))
        table.add_row(traj.id, traj.task.instance_id or "", traj.agent.model or "", str(len(traj.steps)),
                      _resolved(traj.outcome.resolved), str(n_verdicts))
    return table


def _resolved(value: bool | None) -> Text:
    return Text("unknown", "bright_black") if value is None else Text("yes", "green") if value else Text("no", "red")


def _header(traj: Trajectory) -> Panel:
    lines = Text()
    lines.append(f"{traj.task.instance_id or '(no instance id)'}", "bold")
    if traj.task.repo:
        lines.append(f"  {traj.task.repo}")
    lines.append(f"\n{traj.agent.scaffold or '?'} {traj.agent.scaffold_version or ''} · {traj.agent.model or '?'}")
    lines.append(f"\n{len(traj.steps)} steps · exit {traj.outcome.exit_status or '?'} · resolved ")
    lines.append_text(_resolved(traj.outcome.resolved))
    if traj.provenance:
        p = traj.provenance
        lines.append(f"\nfrom {p.source_format} {p.source_version or ''} · {p.source_file or ''}"
                     f" · messages {p.messages}", "bright_black")
    return Panel(lines, title=traj.id, title_align="left")


def _clip(text: str, max_lines: int) -> str:
    lines = text.splitlines()
    if max_lines and len(lines) > max_lines:
        return "\n".join([*lines[:max_lines], f"… ({len(lines) - max_lines} more lines)"])
    return text


def _text(message: Message) -> str:
    if isinstance(message.content, list):
        return "\n".join(p.text if p.type == "text" else f"[image {p.url[:40]}]" for p in message.content)
    return message.content or ""


def _step_panel(traj: Trajectory, index: int, verdicts: list[Verdict], max_lines: int) -> Panel:
    step = traj.steps[index]
    output = traj.messages[step.output]
    parts: list[Text] = []
    if output.reasoning:
        parts.append(Text(_clip(output.reasoning, max_lines), "italic bright_black"))
    if _text(output):
        parts.append(Text(_clip(_text(output), max_lines)))
    for action in step.actions:
        parts.append(Text(f"$ {_clip(action.command or action.tool or '', max_lines)}", "bold cyan"))
    for obs in step.observations:
        parts.append(Text(_clip(_text(traj.messages[obs]), max_lines), "bright_black"))
    for verdict in verdicts:
        mark, colour = LABEL_STYLES[verdict.label]
        line = Text(f"{mark} {verdict.annotator}: {verdict.label.value}", colour)
        if verdict.score is not None:
            line.append(f" ({verdict.score:.2f})", colour)
        if verdict.rationale:
            line.append(f" — {_clip(verdict.rationale, 3)}")
        parts.append(line)
    kinds = ", ".join(a.kind.value for a in step.actions) or "no action"
    facts = [kinds, *(f"never trained: {', '.join(e.value for e in step.exclude)}" for _ in step.exclude[:1])]
    if step.duration_s is not None:
        facts.append(f"{step.duration_s:.1f}s")
    if step.usage and step.usage.completion_tokens is not None:
        facts.append(f"{step.usage.completion_tokens} tokens out")
    border = "red" if any(v.label is Label.incorrect for v in verdicts) else "blue"
    return Panel(Group(*parts), title=f"step {index} · {' · '.join(facts)}", title_align="left",
                 border_style=border)
