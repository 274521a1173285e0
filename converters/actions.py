"""Parse agent actions (tool calls, command lines, text-embedded calls) into srft :class:`Action` s."""

from __future__ import annotations

import re
from typing import Any

import orjson

from srft_format.models import Action, ActionKind, ToolCall

COMMAND_KINDS: dict[str, ActionKind] = {
    **dict.fromkeys(("submit", "exit", "finish"), ActionKind.submit),
    **dict.fromkeys(("edit", "create", "insert", "append", "str_replace", "undo_edit", "edit_file",
                     "write_file", "apply_patch", "sed", "patch"), ActionKind.edit),
    **dict.fromkeys(("open", "goto", "scroll_up", "scroll_down", "view", "cat", "head", "tail", "less", "nl"),
                    ActionKind.view),
    **dict.fromkeys(("search_dir", "search_file", "find_file", "grep", "find", "rg", "ag", "ls", "tree"),
                    ActionKind.search),
    **dict.fromkeys(("think",), ActionKind.think),
}
"""First word of a command (or a tool name) -> what kind of action it is; anything else is ``bash``."""

SUBMIT_MARKERS = ("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "MINI_SWE_AGENT_FINAL_OUTPUT")
"""mini-swe-agent submits by printing one of these as the first output line."""
LEADING_CD = re.compile(r"^\s*cd\s+\S+\s*&&\s*")
EDITOR_TOOLS = ("str_replace_editor", "str_replace_based_edit_tool", "edit_file")
SHELL_TOOLS = ("bash", "execute_bash", "shell")
XML_CALL = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
XML_PARAM = re.compile(r"<parameter=([^>\s]+)>(.*?)</parameter>", re.DOTALL)
FENCED = re.compile(r"^```[^\n`]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def command_kind(command: str) -> ActionKind:
    """The kind of a shell-style command line, from its first word (after a leading ``cd DIR &&``).

    A text-mode tool call (SWE-agent 1.x: ``str_replace_editor view PATH``, ``bash ls``) is classified as the
    function call it stands for, by :func:`tool_kind`: one table for both paths."""
    if any(marker in command for marker in SUBMIT_MARKERS):
        return ActionKind.submit
    command = LEADING_CD.sub("", command, count=1).strip()
    word, rest = (*command.split(None, 1), "", "")[:2]
    name = word.rsplit("/", 1)[-1]
    if name in EDITOR_TOOLS:
        return tool_kind(name, {"command": rest.split(None, 1)[0] if rest.strip() else ""})
    if name in SHELL_TOOLS and rest.strip():
        return command_kind(rest)
    return COMMAND_KINDS.get(name, ActionKind.bash)


def tool_kind(tool: str, arguments: dict[str, Any]) -> ActionKind:
    """The kind of a function call: editors by their sub-command, ``bash`` by its command line."""
    if tool in EDITOR_TOOLS:
        sub = str(arguments.get("command", ""))
        return ActionKind.view if sub == "view" else ActionKind.edit
    if tool in SHELL_TOOLS:
        return command_kind(str(arguments.get("command", "")))
    return COMMAND_KINDS.get(tool, ActionKind.other)


def decode_arguments(arguments: str) -> dict[str, Any]:
    """A tool call's JSON arguments as a dict ({} when they are not a JSON object)."""
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def call_action(call: ToolCall, command: str | None = None) -> Action:
    """The action of one tool call; ``command`` is the scaffold's own rendering, when it recorded one."""
    args = decode_arguments(call.arguments)
    if command is None:
        shell = args.get("command") if call.name in SHELL_TOOLS else None
        command = shell if isinstance(shell, str) else f"{call.name} {call.arguments}".rstrip()
    return Action(kind=tool_kind(call.name, args), command=command, tool=call.name, tool_call_id=call.id)


def command_action(command: str) -> Action:
    """The action of a command line typed as text (SWE-agent 0.x, mini-swe-agent text mode)."""
    return Action(kind=command_kind(command), command=command)


def xml_function_actions(text: str) -> list[Action]:
    """Actions of ``<function=NAME><parameter=K>V</parameter></function>`` blocks (SWE-smith xml style)."""
    actions = []
    for name, body in XML_CALL.findall(text):
        params = {k: v.strip("\n") for k, v in XML_PARAM.findall(body)}
        shell = params.get("command") if name in SHELL_TOOLS else None
        command = shell if shell is not None else " ".join([name, *(f"--{k} {v}" for k, v in params.items())])
        actions.append(Action(kind=tool_kind(name, params), command=command, tool=name))
    return actions


def fenced_command(text: str) -> str | None:
    """The command in the last fenced code block of a reply (the ``thought_action`` format), if any."""
    blocks = FENCED.findall(text)
    return blocks[-1].rstrip("\n") if blocks else None


def text_actions(text: str) -> list[Action]:
    """Actions written in the text of a reply: XML function calls, else a fenced command block."""
    actions = xml_function_actions(text)
    if actions:
        return actions
    command = fenced_command(text)
    return [command_action(command)] if command is not None else []
