"""Inputs users try that srft does not read: say what they look like instead of a key list or a JSON error.

Moatless Tools trajectories (``transitions`` of a state machine, or the search tree of moatless-tree-search)
and the logs and Markdown reports evaluation harnesses write beside their ``report.json``.
"""

from __future__ import annotations

from typing import Any

from .reader import base_name

NOT_READ = "not supported by srft convert"
TEXT_FILES = {
    ".log": "a log file (SWE-bench's harness writes run_instance.log and test_output.txt beside each report.json): "
            f"{NOT_READ}; give the harness's report.json files to --eval",
    ".txt": "a text file (SWE-bench's harness writes test_output.txt beside each report.json): "
            f"{NOT_READ}; give the harness's report.json files to --eval",
    ".md": "a Markdown file (an evaluation README.md or results summary): "
           f"{NOT_READ}; give the evaluation's report.json files to --eval",
}


def describe_file(name: str) -> str | None:
    """Why a file srft does not read by its name is refused (logs, Markdown); None for anything else."""
    name = base_name(name)
    return next((why for suffix, why in TEXT_FILES.items() if name.endswith(suffix)), None)


def describe_record(data: Any) -> str | None:
    """What an unrecognised record looks like, when it is a known format srft does not read."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("transitions"), list) and {"initial_message", "transition_rules", "workspace"} & data.keys():
        return f"this looks like a Moatless Tools trajectory (state-machine 'transitions'): {NOT_READ}"
    root = data.get("root")
    nodes = data.get("nodes")
    if (isinstance(root, dict) and "node_id" in root) or (
            isinstance(nodes, list) and nodes and isinstance(nodes[0], dict) and "node_id" in nodes[0]):
        return f"this looks like a Moatless Tools search tree (moatless-tree-search 'nodes'): {NOT_READ}"
    return None
