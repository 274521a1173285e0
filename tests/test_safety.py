"""A received dataset is hostile input: it stays inside itself, its SQL is sandboxed, concurrent writers are
serialised, a crash is repairable, and a directory search never loses a folder silently."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from factories import make_trajectory

from srft_format.converters.pipeline import convert_paths
from srft_format.dataset import Dataset, DatasetWriter, write_dataset
from srft_format.errors import SrftError
from srft_format.filter import filter_dataset
from srft_format.lock import write_lock
from srft_format.query import open_views
from srft_format.repair import repair_dataset
from srft_format.verify import verify_dataset

SRFT = [sys.executable, "-m", "srft_format.cli.main"]


@pytest.fixture
def ds(tmp_path) -> Path:
    path = tmp_path / "ds"
    write_dataset(path, [make_trajectory(f"t-{i}", n_steps=2) for i in range(3)])
    return path


def _set_entry(ds: Path, value: str) -> None:
    manifest = orjson.loads((ds / "manifest.json").read_bytes())
    manifest["files"][0]["path"] = value
    (ds / "manifest.json").write_bytes(orjson.dumps(manifest))


@pytest.mark.parametrize("entry, why", [
    ("../outside.parquet", "not a normalised path"),
    ("/etc/passwd", "not a relative path"),
    ("trajectories/./x.parquet", "not a normalised path"),
    ("manifest.json", "not under trajectories/ or verdicts/"),
])
def test_an_entry_outside_the_dataset_is_refused_naming_it(ds, entry, why):
    _set_entry(ds, entry)
    with pytest.raises(SrftError, match=f"files\\[0\\].path: '{entry}' is {why}"):
        Dataset.open(ds)
    report = verify_dataset(ds)
    assert not report.ok and entry in str(report.problems[0])


def test_a_symlinked_part_or_data_folder_is_refused_and_never_written_through(ds, tmp_path):
    part = next((ds / "trajectories").iterdir())
    outside = tmp_path / "outside"
    outside.mkdir()
    os.replace(part, outside / part.name)
    part.symlink_to(outside / part.name)
    with pytest.raises(SrftError, match="goes through a symbolic link"):
        Dataset.open(ds)
    # a verdicts/ folder that is a link: appending must neither delete nor write in the target
    os.replace(outside / part.name, part)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (ds / "verdicts").symlink_to(victim)
    with pytest.raises(SrftError, match="symbolic link"):
        DatasetWriter(ds, mode="append")
    assert [p.name for p in victim.iterdir()] == ["precious.txt"]


def test_verify_accepts_srfts_own_side_files(ds):
    (ds / ".srft-cache").mkdir()
    (ds / ".srft-cache" / "critic-x.jsonl").write_text("{}\n")
    (ds / "conversion-errors.jsonl").write_text("{}\n")
    assert verify_dataset(ds).ok


def test_a_second_writer_is_refused_naming_the_holder_or_waits(ds):
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time
from srft_format.lock import write_lock
with write_lock({str(ds)!r}):
    print("held", flush=True)
    time.sleep(4)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    refused = subprocess.run([*SRFT, "card", str(ds)], capture_output=True, text=True)
    assert refused.returncode == 1 and f"pid {holder.pid}" in refused.stderr
    assert "another srft command is writing this dataset" in refused.stderr
    started = time.monotonic()
    waited = subprocess.run([*SRFT, "--wait", "card", str(ds)], capture_output=True, text=True)
    assert waited.returncode == 0 and "waiting for" in waited.stderr and time.monotonic() - started > 0.3
    holder.wait()
    with write_lock(ds):  # free again, and re-entrant within a process
        with DatasetWriter(ds, mode="append") as out:
            out.add(make_trajectory("t-new", n_steps=1))
    assert Dataset.open(ds).manifest.counts.trajectories == 4


def test_repair_rebuilds_a_manifest_that_names_a_removed_file_and_moves_bad_parts_aside(ds):
    with DatasetWriter(ds, mode="append") as out:
        out.add(make_trajectory("t-3", n_steps=2))
    first = Dataset.open(ds).manifest.files[0].path
    (ds / first).unlink()  # what a concurrent writer's clean-up did to the other's part
    (ds / "trajectories" / "part-junk-00000.jsonl").write_bytes(b'{"not": "a trajectory"\n')
    assert not verify_dataset(ds).ok
    report = repair_dataset(ds)
    assert len(report.rejected) == 1 and report.rejected[0].startswith("trajectories/part-junk-00000.jsonl: "
                                                                       "unreadable")
    assert (ds / "repair-rejected" / "trajectories" / "part-junk-00000.jsonl").is_file()
    (ds / "repair-rejected" / "trajectories" / "part-junk-00000.jsonl").unlink()
    (ds / "repair-rejected" / "trajectories").rmdir()
    (ds / "repair-rejected").rmdir()
    assert verify_dataset(ds).ok
    assert Dataset.open(ds).manifest.counts.trajectories == 1


def test_stale_temporary_directories_of_dead_writers_are_removed(tmp_path):
    stale, alive = tmp_path / ".out.tmp-deadbeef", tmp_path / ".out.tmp-alive000"
    (stale / "trajectories").mkdir(parents=True)
    alive.mkdir()
    with write_lock(alive):  # a live writer's temporary directory stays
        write_dataset(tmp_path / "out", [make_trajectory("t-1", n_steps=1)])
    assert not stale.exists() and alive.is_dir()


def test_filter_where_is_one_expression_on_a_locked_connection(ds, tmp_path):
    target = tmp_path / "written.csv"
    with pytest.raises(SrftError, match="must be one SQL expression"):
        filter_dataset(ds, tmp_path / "o1", f"1=1); COPY (SELECT 1) TO '{target}'; SELECT (1")
    with pytest.raises(SrftError, match="Permission Error"):
        filter_dataset(ds, tmp_path / "o2", "id IN (SELECT content FROM read_text('/etc/passwd'))")
    assert not target.exists()
    assert filter_dataset(ds, tmp_path / "o4", "id = 't-1'").counts.trajectories == 1


def test_query_safe_reads_only_the_datasets(ds, tmp_path):
    con = open_views([ds], safe=True)
    assert con.execute("SELECT count(*) FROM trajectories").fetchone() == (3,)
    for sql in ("SELECT * FROM read_text('/etc/passwd')", "INSTALL httpfs", f"ATTACH '{tmp_path}/x.db'",
                "SET enable_external_access = true"):
        with pytest.raises(Exception, match="Permission|locked|disabled"):
            con.execute(sql)
    help_text = subprocess.run([*SRFT, "query", "--help"], capture_output=True, text=True).stdout
    assert "can read and write any file" in help_text and "--safe" in help_text


def test_a_folder_that_cannot_be_searched_counts_as_an_error(tmp_path, corpus, monkeypatch):
    src = tmp_path / "src"
    (src / "locked").mkdir(parents=True)
    (src / "open").mkdir()
    one = next((corpus / "mini-swe-agent").glob("*.traj.json"))
    (src / "open" / one.name).write_bytes(one.read_bytes())
    (src / "locked" / one.name).write_bytes(one.read_bytes())
    scandir = os.scandir

    def refusing(path="."):  # what listing a folder without read permission does (the tests run as root)
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    monkeypatch.setattr("pathlib.os.scandir", refusing, raising=False)
    summary = convert_paths([str(src)], tmp_path / "out", on_error="skip")
    assert any("locked/" in str(e) and "Permission denied" in str(e) for e in summary.errors)


def test_merge_and_copy_never_carry_a_cache(ds, tmp_path):
    from srft_format.dataset import copy_dataset
    from srft_format.merge import merge_datasets

    (ds / ".srft-cache").mkdir()
    (ds / ".srft-cache" / "critic-x.jsonl").write_text('{"key": "k", "text": "POISONED"}\n')
    other = tmp_path / "other"
    write_dataset(other, [make_trajectory("o-1", n_steps=1)])
    merge_datasets([ds, other], tmp_path / "merged")
    copy_dataset(ds, tmp_path / "copied")
    assert not (tmp_path / "merged" / ".srft-cache").exists() and not (tmp_path / "copied" / ".srft-cache").exists()


def test_a_dataset_created_by_another_writer_meanwhile_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    writer = DatasetWriter(out)
    writer.add(make_trajectory("mine", n_steps=1))
    write_dataset(out, [make_trajectory("theirs", n_steps=1)])
    with pytest.raises(SrftError, match="another command created a dataset here"):
        writer.commit()
    assert [t.id for t in Dataset.open(out).trajectories()] == ["theirs"]
    assert not list(tmp_path.glob(".out.tmp-*"))
