"""Datasets: manifests, atomic writes, appends with dedup, sidecar verdicts, storages."""

from __future__ import annotations

import json

import pytest

from factories import make_trajectory
from srft_format.dataset import MANIFEST, Dataset, DatasetWriter, copy_dataset, file_sha256, write_dataset
from srft_format.errors import SrftError
from srft_format.models import Annotator, Verdict

CRITIC = Annotator(id="critic", kind="llm", model="critic-1")


@pytest.mark.parametrize("storage, compression", [("parquet", None), ("jsonl", None), ("jsonl", "zst"),
                                                  ("jsonl", "gz")])
def test_write_then_read_with_manifest_counts_and_checksums(tmp_path, storage, compression):
    trajs = [make_trajectory(f"t{i}", n_steps=i + 1) for i in range(3)]
    with DatasetWriter(tmp_path / "ds", name="demo", storage=storage, compression=compression,
                       trajectories_per_file=2) as out:
        out.declare_annotator(CRITIC)
        for traj in trajs:
            out.add(traj)
        out.add_verdict("t2", Verdict(step=2, annotator="critic", label="incorrect", score=0.1))
    ds = Dataset.open(tmp_path / "ds")
    assert list(ds.trajectories()) == trajs
    assert ds.verdicts_by_trajectory() == {"t2": [Verdict(step=2, annotator="critic", label="incorrect", score=0.1)]}
    m = ds.manifest
    assert (m.counts.trajectories, m.counts.steps, m.counts.messages, m.counts.verdicts) == (3, 6, 18, 1)
    assert [f.records for f in m.files if f.kind == "trajectories"] == [2, 1]  # rotated every 2
    for data_file in m.files:
        path = tmp_path / "ds" / data_file.path
        assert file_sha256(path) == data_file.sha256 and path.stat().st_size == data_file.bytes


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "ds", name="demo") as out:
            out.add(make_trajectory("t1"))
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_append_leaves_the_last_good_dataset_intact(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1")], name="demo")
    before = (tmp_path / "ds" / MANIFEST).read_bytes()
    files_before = sorted(p.name for p in (tmp_path / "ds").rglob("*"))
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "ds", mode="append") as out:
            out.add(make_trajectory("t2"))
            raise RuntimeError("crash")
    assert (tmp_path / "ds" / MANIFEST).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "ds").rglob("*")) == files_before
    assert [t.id for t in Dataset.open(tmp_path / "ds").trajectories()] == ["t1"]


def test_stray_files_from_a_killed_writer_are_ignored_then_removed(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1")], name="demo")
    stray = tmp_path / "ds" / "trajectories" / "part-deadbeef-00000.parquet"
    stray.write_bytes(b"half a file")  # what a SIGKILL between data file and manifest leaves
    assert [t.id for t in Dataset.open(tmp_path / "ds").trajectories()] == ["t1"]
    with DatasetWriter(tmp_path / "ds", mode="append") as out:
        out.add(make_trajectory("t2"))
    assert not stray.exists()
    assert [t.id for t in Dataset.open(tmp_path / "ds").trajectories()] == ["t1", "t2"]


def test_append_dedups_by_trajectory_id(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1"), make_trajectory("t2")], name="demo")
    with DatasetWriter(tmp_path / "ds", mode="append") as out:
        assert out.add(make_trajectory("t2")) is False
        assert out.add(make_trajectory("t3")) is True
    assert (out.added, out.duplicates) == (1, 1)
    ds = Dataset.open(tmp_path / "ds")
    assert [t.id for t in ds.trajectories()] == ["t1", "t2", "t3"] and ds.manifest.counts.trajectories == 3


def test_create_refuses_an_existing_dataset_and_overwrite_replaces_it(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1")], name="demo")
    with pytest.raises(SrftError, match="a dataset already exists here"):
        write_dataset(tmp_path / "ds", [make_trajectory("t2")])
    write_dataset(tmp_path / "ds", [make_trajectory("t2")], overwrite=True)
    assert [t.id for t in Dataset.open(tmp_path / "ds").trajectories()] == ["t2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporary folders left behind


def test_sidecar_verdicts_are_checked_when_added(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1", n_steps=2)], name="demo", annotators=[CRITIC])
    with pytest.raises(SrftError) as info:
        with DatasetWriter(tmp_path / "ds", mode="append") as out:
            out.add_verdict("t1", Verdict(step=5, annotator="ghost", label="correct"))
    assert str(info.value) == ("step: verdict for step 5, but the trajectory has 2 steps (trajectory 't1')\n"
                               "annotator: annotator 'ghost' is not declared (declared: critic) (trajectory 't1')")
    with DatasetWriter(tmp_path / "ds", mode="append") as out:
        out.add_verdict("t1", Verdict(step=1, annotator="critic", label="correct"))
        with pytest.raises(SrftError, match="already has a verdict by 'critic'"):
            out.add_verdict("t1", Verdict(step=1, annotator="critic", label="incorrect"))
        with pytest.raises(SrftError, match="unknown trajectory 'nope'"):
            out.add_verdict("nope", Verdict(step=0, annotator="critic", label="correct"))
    assert Dataset.open(tmp_path / "ds").manifest.counts.verdicts == 1


def test_annotator_redefinition_is_refused(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1")], name="demo", annotators=[CRITIC])
    with pytest.raises(SrftError, match="'critic' is already declared with a different definition"):
        with DatasetWriter(tmp_path / "ds", mode="append") as out:
            out.declare_annotator(Annotator(id="critic", kind="human"))


def test_copy_between_storages_keeps_manifest_metadata(tmp_path):
    with DatasetWriter(tmp_path / "a", name="demo", description="d", license="MIT") as out:
        out.declare_annotator(CRITIC)
        out.add(make_trajectory("t1", n_steps=2))
        out.add_verdict("t1", Verdict(step=0, annotator="critic", label="correct"))
    copy_dataset(tmp_path / "a", tmp_path / "b", storage="jsonl")
    a, b = Dataset.open(tmp_path / "a"), Dataset.open(tmp_path / "b")
    assert (b.manifest.name, b.manifest.license, b.manifest.description) == ("demo", "MIT", "d")
    assert b.manifest.annotators == a.manifest.annotators and b.manifest.counts == a.manifest.counts
    assert list(b.verdicts()) == list(a.verdicts()) and list(b.trajectories()) == list(a.trajectories())


def test_bad_manifest_is_named(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1")], name="demo")
    manifest = json.loads((tmp_path / "ds" / MANIFEST).read_text())
    manifest["counts"]["steps"] = "many"
    (tmp_path / "ds" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SrftError, match=r"ds/manifest.json: counts.steps: Input should be a valid integer"):
        Dataset.open(tmp_path / "ds")
    with pytest.raises(SrftError, match="is not an srft dataset"):
        Dataset.open(tmp_path)


def test_append_keeps_the_datasets_storage(tmp_path):
    write_dataset(tmp_path / "ds", [make_trajectory("t1")], name="demo", storage="jsonl")
    with DatasetWriter(tmp_path / "ds", mode="append") as out:
        out.add(make_trajectory("t2"))
    ds = Dataset.open(tmp_path / "ds")
    assert [f.storage for f in ds.manifest.files] == ["jsonl", "jsonl"] and ds.storage == "jsonl"
