"""Rule critics on real corpus steps: each rule fires where the log shows the mistake, and only there."""

from __future__ import annotations

from pathlib import Path

import shutil

import pytest
from click.testing import CliRunner
from critic_data import ASTROPY, MARSHMALLOW, PANDAS, PYDICOM, SIMPY, TEST_REPO, corpus_trajectory, small_corpus_dataset

from srft_format.annotators.rules import RULES, RuleCritic, error_signature, step_views
from srft_format.cli.main import cli
from srft_format.dataset import Dataset


@pytest.fixture(scope="module")
def trajectories(corpus_dataset: Path) -> dict[str, object]:
    return {name: corpus_trajectory(corpus_dataset, name)
            for name in (PYDICOM, SIMPY, MARSHMALLOW, PANDAS, TEST_REPO, ASTROPY)}


def flagged(traj: object, rule: str) -> set[int]:
    return set(RULES[rule](step_views(traj), traj))


# (rule, corpus file, steps it must flag, steps it must leave alone) -- all real SWE-agent / SWE-smith steps.
CASES = [
    # pydicom: step 7 re-sends step 6's edit verbatim after it was rejected for a syntax error.
    # Negatives: step 9 re-runs step 2's failing reproduction after an edit (legit); marshmallow re-runs `ls -F`
    # (never failed); pandas re-runs a failing script after `pip install` changed the environment.
    ("repeat_after_failure", PYDICOM, {7}, {9, 6}),
    ("repeat_after_failure", MARSHMALLOW, set(), {6, 11}),
    ("repeat_after_failure", PANDAS, set(), {9, 11, 16}),
    # pydicom: steps 6 and 7 both fail with "unmatched ')'"; step 6 differs from step 5's "unmatched ']'".
    # pandas: step 9 re-runs step 7 but gets a different error; no repeats.
    ("same_error_twice", PYDICOM, {7}, {5, 6}),
    ("same_error_twice", PANDAS, set(), {7, 9}),
    # mini-swe-agent runs every command as `cd /testbed && ...`: the program is what follows the cd, so step 5
    # (`python`) does not repeat step 2's `python3` error, nor step 46 (a new build command) step 44's; step 9
    # re-runs step 5's `python` and gets the same ModuleNotFoundError.
    ("same_error_twice", ASTROPY, {9, 12, 52}, {5, 17, 46}),
    # SWE-agent's linter rejected the edit: "Your proposed edit has introduced new syntax error(s)".
    ("edit_syntax_error", PYDICOM, {5, 6, 7}, {1, 8}),
    ("edit_syntax_error", MARSHMALLOW, {9}, {4, 10}),
    # simpy: submitted with no patch at all; the others submitted a diff.
    ("empty_submit", SIMPY, {1}, {0}),
    ("empty_submit", PYDICOM, set(), {11}),
    ("empty_submit", TEST_REPO, set(), {4}),
]


@pytest.mark.parametrize("rule, name, positive, negative", CASES, ids=[f"{c[0]}-{c[1][-30:]}" for c in CASES])
def test_rule_on_corpus_steps(trajectories, rule, name, positive, negative):
    hits = flagged(trajectories[name], rule)
    assert positive <= hits
    assert not (negative & hits)


def test_every_rule_has_a_positive_and_a_negative_case():
    for rule in RULES:
        assert any(c[0] == rule and c[2] for c in CASES), rule
        assert any(c[0] == rule and c[3] for c in CASES), rule
        assert RULES[rule].__doc__ and "Rationale" in RULES[rule].__doc__


def test_error_signature_reads_tracebacks_and_lint_errors(trajectories):
    views = step_views(trajectories[PYDICOM])
    assert error_signature(views[2].observation).startswith("AttributeError: Unable to convert the pixel data")
    assert error_signature(views[5].observation) == "edit rejected, syntax error: E999 SyntaxError: unmatched ']'"
    assert error_signature(views[9].observation) is None  # "Script completed successfully, no errors."


def test_rule_critic_combines_reasons_into_one_verdict(trajectories):
    critic = RuleCritic()
    flags = critic.flags(trajectories[PYDICOM])
    assert sorted(flags) == [5, 6, 7]
    assert set(flags[7]) == {"repeat_after_failure", "same_error_twice", "edit_syntax_error"}


def test_srft_annotate_rules_writes_verdicts_and_resumes(tmp_path, corpus_dataset):
    data = tmp_path / "data"
    small_corpus_dataset(data, corpus_dataset)
    runner = CliRunner()
    first = runner.invoke(cli, ["annotate", str(data), "--critic", "rules", "--json"])
    assert first.exit_code == 0, first.output
    ds = Dataset.open(data)
    verdicts = sorted((v.trajectory, v.step) for v in ds.verdicts())
    assert len(verdicts) == 5  # pydicom 5, 6, 7; simpy 1; marshmallow 9
    assert {v.label.value for v in ds.verdicts()} == {"incorrect"}
    assert ds.annotators["rules"].kind.value == "rule"
    again = runner.invoke(cli, ["annotate", str(data), "--critic", "rules", "--json"])
    assert again.exit_code == 0, again.output
    assert '"already_labeled": 5' in again.output
    assert sorted((v.trajectory, v.step) for v in Dataset.open(data).verdicts()) == verdicts


def test_rules_over_the_whole_corpus_flag_only_steps_that_show_a_mistake(tmp_path, corpus_dataset):
    data = tmp_path / "corpus"
    shutil.copytree(corpus_dataset, data)
    result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "rules", "--json"])
    assert result.exit_code == 0, result.output
    ds = Dataset.open(data)
    by_file = {t.id: t.provenance.source_file for t in ds.trajectories()}
    flagged_steps = {(by_file[v.trajectory], v.step) for v in ds.verdicts()}
    assert {(PYDICOM, 5), (PYDICOM, 6), (PYDICOM, 7), (SIMPY, 1), (MARSHMALLOW, 9)} <= flagged_steps
    # a cheap critic must stay rare: far fewer than one step in ten flagged across the real corpus
    assert len(flagged_steps) < ds.manifest.counts.steps / 10
