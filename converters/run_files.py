"""Files that agent runs write beside their trajectories but that hold none: recognised and explained.

A run directory holds more than trajectories: predictions (patches for SWE-bench), the run's
configuration (SWE-agent ``<id>.config.yaml``, ``run_batch.config.yaml``, 0.x ``args.yaml``, OpenHands
``metadata.json``), exit-status summaries (``run_batch_exit_statuses.yaml``, mini-swe-agent
``exit_statuses_*.yaml``) and SWE-bench evaluation results (``report.json``, run summaries).
``srft convert`` skips them with a reason instead of failing on them.
"""

from __future__ import annotations

from typing import Any

from . import outcomes, predictions

TRAJECTORY_KEYS = ("trajectory", "history", "messages")


def is_run_config(data: Any) -> bool:
    """A scaffold configuration (an ``agent`` section, or OpenHands ``metadata.json``), no trajectory."""
    if not isinstance(data, dict) or any(key in data for key in TRAJECTORY_KEYS):
        return False
    return isinstance(data.get("agent"), dict) or "agent_class" in data and bool(
        {"llm_config", "max_iterations"} & data.keys())


def is_exit_statuses(data: Any) -> bool:
    """A batch run's ``{instances_by_exit_status: {status: [instance ids]}}``."""
    return isinstance(data, dict) and isinstance(data.get("instances_by_exit_status"), dict)


EXPLANATIONS = (
    (predictions.is_predictions, predictions.REFUSAL),
    (is_run_config, "this is a run configuration (no trajectory): trajectories that recorded it keep it "
                    "in agent.config"),
    (is_exit_statuses, "this is a batch run's exit-status summary (no trajectory): each trajectory records "
                       "its own exit status"),
)


def explain(data: Any) -> str | None:
    """Why a record is not converted, when it is a known run file; None for anything else."""
    for matches, reason in EXPLANATIONS:
        if matches(data):
            return reason
    return outcomes.evaluation_refusal(data)
