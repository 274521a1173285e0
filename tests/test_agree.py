"""``srft agree`` against a confusion matrix, precision/recall/F1 and Cohen's kappa computed by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from factories import make_trajectory

from srft_format.annotators.agreement import compare
from srft_format.cli.main import cli
from srft_format.dataset import write_dataset
from srft_format.models import FORMAT_VERSION, Annotator, VerdictRecord

# (trajectory, step): (A's label, B's label); None = that annotator did not label the step.
PAIRS = {
    ("t1", 0): ("correct", "correct"), ("t1", 1): ("incorrect", "incorrect"), ("t1", 2): ("incorrect", "correct"),
    ("t1", 3): ("correct", "incorrect"), ("t1", 4): ("correct", "correct"), ("t1", 5): ("neutral", "correct"),
    ("t2", 0): ("correct", "correct"), ("t2", 1): ("incorrect", "incorrect"), ("t2", 2): ("correct", "correct"),
    ("t2", 3): ("incorrect", "incorrect"), ("t2", 4): ("correct", None), ("t2", 5): (None, "incorrect"),
}
# By hand, leaving out the two one-sided steps (n = 10):
#            B: correct incorrect
# A correct        4        1
# A incorrect      1        3
# A neutral        1        0
# observed = 7/10; chance = (5*6 + 4*4 + 1*0) / 100 = 0.46; kappa = (0.7 - 0.46) / 0.54 = 0.4444
# incorrect: tp 3, fp 1, fn 1 -> precision 0.75, recall 0.75, F1 0.75
MATRIX = {"correct": {"correct": 4, "incorrect": 1, "neutral": 0},
          "incorrect": {"correct": 1, "incorrect": 3, "neutral": 0},
          "neutral": {"correct": 1, "incorrect": 0, "neutral": 0}}


@pytest.fixture
def dataset(tmp_path):
    # B's labels of t1 are inline verdicts; everything else is in sidecars.
    t1 = make_trajectory("t1", 6, labels=[PAIRS[("t1", i)][1] for i in range(6)], annotator="B")
    t2 = make_trajectory("t2", 6)
    records = [VerdictRecord(format_version=FORMAT_VERSION, trajectory=t, step=s, annotator=who, label=label)
               for (t, s), labels in PAIRS.items() for who, label in zip("AB", labels)
               if label is not None and not (who == "B" and t == "t1")]
    write_dataset(tmp_path / "d", [t1, t2], annotators=[Annotator(id="A", kind="rule")], verdicts=records)
    return tmp_path / "d"


def agree(dataset, *args):
    result = CliRunner().invoke(cli, ["agree", str(dataset), "--a", "A", "--b", "B", *args])
    assert result.exit_code == 0, result.output
    return result


def test_matches_the_hand_computed_matrix_and_kappa(dataset):
    report = json.loads(agree(dataset, "--format", "json").stdout)
    assert report["matrix"] == MATRIX
    assert (report["steps"], report["only_a"], report["only_b"]) == (10, 1, 1)
    assert report["observed_agreement"] == pytest.approx(0.7)
    assert report["kappa"] == pytest.approx(0.24 / 0.54)
    assert report["incorrect"] == {"tp": 3, "fp": 1, "fn": 1, "precision": 0.75, "recall": 0.75, "f1": 0.75}


def test_missing_verdicts_can_count_as_a_label(dataset):
    # t2/4 becomes (correct, correct) and t2/5 (correct, incorrect): n = 12, observed 8/12,
    # chance = (7*7 + 4*5 + 1*0) / 144 = 69/144 -> kappa = (96 - 69) / (144 - 69) = 0.36; recall 3/5
    report = json.loads(agree(dataset, "--format", "json", "--missing", "correct").stdout)
    assert report["steps"] == 12 and report["matrix"]["correct"]["incorrect"] == 2
    assert report["kappa"] == pytest.approx(0.36)
    assert report["incorrect"]["recall"] == pytest.approx(0.6)
    assert report["incorrect"]["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_table_output_shows_counts_and_scores(dataset):
    out = agree(dataset).stdout
    assert "steps compared: 10" in out and "Cohen's kappa 0.444" in out and "precision 0.750" in out


def test_unknown_annotator_is_a_clear_error(dataset):
    result = CliRunner().invoke(cli, ["agree", str(dataset), "--a", "A", "--b", "nobody"])
    assert result.exit_code != 0 and "no annotator 'nobody'" in str(result.exception)


def test_undefined_scores_are_none_not_errors():
    same = compare({1: "correct", 2: "correct"}, {1: "correct", 2: "correct"})
    assert same.kappa is None and same.precision is None and same.observed == 1.0
    assert compare({}, {}).kappa is None
