"""Real corpus trajectories for the critic tests, picked from the ``corpus_dataset`` fixture by source file."""

from __future__ import annotations

from pathlib import Path

from srft_format.dataset import Dataset, write_dataset
from srft_format.models import Trajectory

PYDICOM = "swe-agent/SWE-agent__SWE-agent__tests__test_data__trajectories__gpt4__swe-bench-dev-easy_first_only__" \
          "default__t-0.00__p-0.95__c-3.00__install-1__pydicom__pydicom-1458.traj"
SIMPY = "swe-agent/SWE-agent__SWE-agent__commit0_prepare__traj_example__simpy_madeup_test__97af1e.traj"
MARSHMALLOW = "swe-agent/SWE-agent__SWE-agent__trajectories__demonstrations__replay__marshmallow-code__" \
              "marshmallow-1867__default__t-0.20__p-0.95__c-2.00__install-1___install_from_source__" \
              "marshmallow-code__marshmallow-1867.traj"
PANDAS = "swe-smith/SWE-bench__SWE-smith__tests__test_logs__trajectories__pandas-dev__pandas.95280573.pr_53856__" \
         "pandas-dev__pandas.95280573.pr_53856.traj"
TEST_REPO = "swe-agent/SWE-agent__SWE-agent__tests__test_data__trajectories__gpt4__swe-agent-test-repo__" \
            "default_from_url__t-0.00__p-0.95__c-3.00__install-1__6e44b9__sweagenttestrepo-1c2844.traj"

ASTROPY = "mini-swe-agent/SWE-agent__mini-swe-agent__eval__example_trajectories__astropy__astropy-12907.traj.json"


def corpus_trajectory(corpus_dataset: Path, source_file: str) -> Trajectory:
    """The (first) trajectory converted from ``source_file`` (relative to the corpus root)."""
    for traj in Dataset.open(corpus_dataset).trajectories():
        if traj.provenance and traj.provenance.source_file == source_file:
            return traj
    raise AssertionError(f"the corpus dataset has no trajectory from {source_file}")


def small_corpus_dataset(path: Path, corpus_dataset: Path,
                         names: tuple[str, ...] = (PYDICOM, SIMPY, MARSHMALLOW, PANDAS)) -> list[Trajectory]:
    """A dataset of a few real corpus trajectories (JSONL storage), for tests that label every step."""
    trajectories = [corpus_trajectory(corpus_dataset, name) for name in names]
    write_dataset(path, trajectories, storage="jsonl")
    return trajectories
