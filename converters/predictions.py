"""SWE-bench predictions files (``all_preds.jsonl``, ``preds.json``, ``<id>.pred``, lists of predictions).

They hold patches, not trajectories: ``srft convert`` does not convert them, but uses the patches of those
found beside ``.traj`` files (a SWE-agent run directory) for trajectories that record none, and explains
that a predictions file given alone is an input for evaluation (``--eval``).
"""

from __future__ import annotations

from typing import Any

PREDICTION_KEYS = frozenset(("instance_id", "model_patch"))
PREDICTION_FILE_NAMES = ("all_preds.jsonl", "preds.json")
PREDICTION_SUFFIX = ".pred"
REFUSAL = ("this is a predictions file (patches, no trajectory): use it with --eval once SWE-bench has "
           "evaluated it; beside .traj files its patches fill in trajectories that record none")


def is_prediction(data: Any) -> bool:
    """One prediction ``{instance_id, model_patch, ...}``."""
    return isinstance(data, dict) and PREDICTION_KEYS <= data.keys() and "trajectory" not in data \
        and "history" not in data and "messages" not in data


def is_predictions(data: Any) -> bool:
    """A prediction, a list of them, or a ``preds.json`` dict keyed by instance id."""
    if is_prediction(data):
        return True
    if isinstance(data, list):
        return bool(data) and all(is_prediction(item) for item in data)
    if isinstance(data, dict) and data:
        return all(is_prediction(v) and v["instance_id"] == k for k, v in data.items())
    return False


def patches(data: Any) -> dict[str, str]:
    """``{instance_id: model_patch}`` of a predictions document (empty when it is not one)."""
    if is_prediction(data):
        items = [data]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = list(data.values())
    else:
        return {}
    return {p["instance_id"]: p["model_patch"] for p in items
            if is_prediction(p) and isinstance(p["model_patch"], str)}


def is_predictions_file_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base in PREDICTION_FILE_NAMES or base.endswith(PREDICTION_SUFFIX)
