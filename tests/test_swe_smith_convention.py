"""Tool calls written as text equal SWE-smith's own ``transform_traj_xml``, byte for byte, on real runs.

SWE-smith's function comes from the ``swesmith`` package (a dev dependency). Its module reads a YAML file of the
SWE-smith repository at import (the system prompt it substitutes), which the wheel does not ship, so the test
takes the three functions it needs from the installed source and runs them as written, with the system prompt
replaced by a placeholder (srft keeps the run's own system prompt; it is not compared).
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from convert_helpers import corpus_file, one
from masking import tokenizer
from srft_format.trainers.chat import ChatTemplate, text_tool_calls, to_chat

SWE_SMITH_FUNCTIONS = ("get_messages", "tool_call_to_action", "transform_traj_xml")

RUNS = [  # (folder, file, whether observations are compared too)
    ("swe-smith", "pandas-dev__pandas.95280573.pr_53856.traj", True),  # SWE-agent 1.0.1, SWE-smith's own run
    # SWE-agent 1.0-dev: its last step's messages elide old observations ("Old environment output: (7 lines
    # omitted)"), which srft keeps whole, so only the assistant turns are compared
    ("swe-agent", "function_calling_replace_from_source__marshmallow-code__marshmallow-1867.traj", False)]


def swe_smith_transform() -> Any:
    """``swesmith.train.traj_mgr.utils.transform_traj_xml`` from the installed package's source."""
    spec = importlib.util.find_spec("swesmith")
    assert spec is not None and spec.origin, "the swesmith package is a dev dependency: pip install swesmith"
    source = (Path(spec.origin).parent / "train" / "traj_mgr" / "utils.py").read_text(encoding="utf-8")
    wanted = [node for node in ast.parse(source).body
              if (isinstance(node, ast.FunctionDef) and node.name in SWE_SMITH_FUNCTIONS)
              or (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "XML_STR_REPLACES"
                                                       for t in node.targets))]
    assert len(wanted) == len(SWE_SMITH_FUNCTIONS) + 1, "swesmith's utils.py no longer defines these functions"
    namespace: dict[str, Any] = {"json": json, "SYSTEM_PROMPT": "<system prompt>"}
    exec(compile(ast.Module(wanted, type_ignores=[]), str(spec.origin), "exec"), namespace)  # noqa: S102
    return namespace["transform_traj_xml"]


@pytest.mark.parametrize(("folder", "name", "observations"), RUNS)
def test_text_rendering_equals_swe_smith(corpus: Path, folder: str, name: str, observations: bool) -> None:
    """A template without tool calls (SmolLM2's): every assistant turn and observation, as SWE-smith writes."""
    path = corpus_file(corpus, folder, name)
    theirs = swe_smith_transform()(json.loads(path.read_text(encoding="utf-8")))["messages"]
    plain_chatml = ChatTemplate.for_tokenizer(tokenizer("smollm2"))  # SmolLM2's stock ChatML: no tool calls
    assert not plain_chatml.abilities.tool_calls
    ours = to_chat(one(path), plain_chatml).messages
    assert ours[0]["role"] == theirs[0]["role"] == "system"
    # SWE-smith's messages are the chat of the last step: srft's may hold the final submission turn beyond it
    ours = ours[1:len(theirs)]
    # SWE-smith sends tool results as user messages; this template has a tool role, which srft keeps
    assert [m["role"].replace("tool", "user") for m in ours] == [m["role"] for m in theirs[1:]]
    assistant = [i for i, m in enumerate(ours) if m["role"] == "assistant"]
    assert sum("<function=" in ours[i]["content"] for i in assistant) >= 5  # calls written as text
    for i, (mine, smith) in enumerate(zip(ours, theirs[1:]), start=1):
        if mine["role"] == "assistant" or observations:
            assert mine["content"] == smith["content"], f"messages[{i}] ({mine['role']}) differs from SWE-smith's"


def test_text_tool_calls_rules() -> None:
    """The rule, on the cases a run may not show: several calls, no content, non-string and raw arguments."""
    edit = {"function": {"name": "str_replace_editor", "arguments": {
        "command": "str_replace", "path": "/a.py", "old_str": "x = 1", "new_str": "x = 2", "view_range": [1, 3]}}}
    submit = {"function": {"name": "submit", "arguments": {}}}
    raw = {"function": {"name": "bash", "arguments": "ls -la"}}
    assert text_tool_calls("  Fix it.", [edit, submit]) == (
        "Fix it.\n\n<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n"
        "<parameter=path>/a.py</parameter>\n<parameter=old_str>\nx = 1\n</parameter>\n"
        "<parameter=new_str>\nx = 2\n</parameter>\n<parameter=view_range>[1, 3]</parameter>\n</function>\n"
        "<function=submit>\n</function>")
    assert text_tool_calls("", [submit]) == "<function=submit>\n</function>"
    assert text_tool_calls("\n", [raw]) == "<function=bash>\n<parameter=arguments>ls -la</parameter>\n</function>"
    assert text_tool_calls(" no calls ", []) == " no calls "
    # and SWE-smith's own function agrees on each (arguments as the JSON strings it parses)
    for content, calls in (("  Fix it.", [edit, submit]), ("", [submit]), ("\n", [edit])):
        message = {"role": "assistant", "content": content, "tool_calls": [
            {"function": {"name": c["function"]["name"], "arguments": json.dumps(c["function"]["arguments"])}}
            for c in calls]}
        (turn,) = swe_smith_transform()({"trajectory": [{"messages": [message, {}]}]})["messages"]
        assert text_tool_calls(content, calls) == turn["content"]
