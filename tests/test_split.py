"""srft split (grouped, deterministic, stable) and srft filter (SQL over the views)."""

from __future__ import annotations

import random

import pytest
from sharing import attempts, contents, critic, labelled, verdicts_by

from srft_format.dataset import Dataset
from srft_format.errors import SrftError
from srft_format.filter import filter_dataset
from srft_format.split import split_dataset
from srft_format.verify import verify_dataset

CRITIC = critic("critic")


def _instances(path) -> set[str]:
    return {t.task.instance_id for t in Dataset.open(path).trajectories()}


def _ids(path) -> set[str]:
    return {t.id for t in Dataset.open(path).trajectories()}


@pytest.fixture
def source(tmp_path):
    return labelled(tmp_path / "source", attempts(60, per_task=3), [(CRITIC, 0)])


def test_split_keeps_every_task_in_one_split_and_loses_nothing(tmp_path, source):
    manifests = split_dataset(source, tmp_path / "out", ratios=[0.7, 0.2, 0.1], names=["train", "dev", "test"],
                              seed=7)

    parts = {name: tmp_path / "out" / name for name in manifests}
    instances = {name: _instances(path) for name, path in parts.items()}
    assert not instances["train"] & instances["dev"]
    assert not instances["train"] & instances["test"]
    assert not instances["dev"] & instances["test"]
    assert set.union(*instances.values()) == _instances(source)
    assert sum(len(_ids(p)) for p in parts.values()) == 180
    assert 30 <= len(instances["train"]) <= 54  # 70% of 60 tasks, give or take
    for path in parts.values():
        assert verify_dataset(path).ok
        trajs, verdicts, _ = contents(path)
        assert set(verdicts) == set(trajs)  # the verdicts went with their trajectories
        assert Dataset.open(path).manifest.extra["derived"]["seed"] == 7


def test_split_is_the_same_on_every_run_whatever_the_record_order(tmp_path, source):
    split_dataset(source, tmp_path / "first", ratios=[0.8, 0.2], seed=3)
    shuffled = attempts(60, per_task=3)
    random.Random(1).shuffle(shuffled)
    labelled(tmp_path / "shuffled", shuffled, [(CRITIC, 0)])
    split_dataset(tmp_path / "shuffled", tmp_path / "second", ratios=[0.8, 0.2], seed=3)

    for name in ("train", "test"):
        assert _ids(tmp_path / "first" / name) == _ids(tmp_path / "second" / name)


def test_adding_tasks_never_moves_old_ones_and_the_seed_matters(tmp_path):
    small = labelled(tmp_path / "small", attempts(30), [])
    large = labelled(tmp_path / "large", attempts(50), [])
    split_dataset(small, tmp_path / "s", ratios=[0.5, 0.5], seed=1)
    split_dataset(large, tmp_path / "l", ratios=[0.5, 0.5], seed=1)
    split_dataset(small, tmp_path / "other-seed", ratios=[0.5, 0.5], seed=2)

    for name in ("train", "test"):
        assert _ids(tmp_path / "s" / name) <= _ids(tmp_path / "l" / name)
    assert _ids(tmp_path / "s" / "train") != _ids(tmp_path / "other-seed" / "train")


@pytest.mark.parametrize("ratios, names, message", [
    ([0.5, 0.4], ["train", "test"], "sum to 1"),
    ([0.5, 0.5], ["train"], "2 ratios but 1 split names"),
    ([0.5, 0.5], ["train", "train"], "distinct"),
    ([1.2, -0.2], ["train", "test"], "non-negative"),
])
def test_bad_split_arguments_are_refused(tmp_path, source, ratios, names, message):
    with pytest.raises(SrftError, match=message):
        split_dataset(source, tmp_path / "out", ratios=ratios, names=names)
    assert not (tmp_path / "out").exists()


def test_filter_selects_by_repo_and_length_with_verdicts(tmp_path):
    source = labelled(tmp_path / "source", attempts(10, repos=("octo/a", "octo/b")), [(CRITIC, 0)])

    manifest = filter_dataset(source, tmp_path / "out", "repo = 'octo/a' AND n_steps >= 3")

    trajs, verdicts, annotators = contents(tmp_path / "out")
    everything, _, _ = contents(source)
    expected = {i for i, t in everything.items() if t.task.repo == "octo/a" and len(t.steps) >= 3}
    assert set(trajs) == expected and expected
    assert set(verdicts) == expected
    assert list(annotators) == [CRITIC.id]
    assert manifest.extra["derived"]["where"] == "repo = 'octo/a' AND n_steps >= 3"
    assert verify_dataset(tmp_path / "out").ok


def test_filter_by_annotator_and_reject_rate(tmp_path):
    trajs = attempts(6)
    source = labelled(tmp_path / "source", trajs, [(CRITIC, 0)])
    filter_dataset(source, tmp_path / "high", "list_contains(annotators, 'critic') AND reject_rate > 0.4")
    filter_dataset(source, tmp_path / "none", "list_contains(annotators, 'somebody-else')")

    def reject_rate(traj):
        labels = [v.label.value for v in verdicts_by(CRITIC.id, traj)]
        return labels.count("incorrect") / (labels.count("incorrect") + labels.count("correct"))

    expected = {t.id for t in trajs if reject_rate(t) > 0.4}
    assert _ids(tmp_path / "high") == expected and 0 < len(expected) < len(trajs)
    assert Dataset.open(tmp_path / "none").manifest.counts.trajectories == 0


def test_filter_with_bad_sql_names_the_option(tmp_path, source):
    with pytest.raises(SrftError, match="--where"):
        filter_dataset(source, tmp_path / "out", "no_such_column > 3")
    assert not (tmp_path / "out").exists()
