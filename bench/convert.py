"""Benchmark ``srft convert`` against SWE-smith's own trajectory-to-SFT transform and the bare-parse floor.

The peer: SWE-smith (PyPI ``swesmith``, a bench-only dependency: ``pip install --no-deps swesmith``) turns
SWE-agent trajectories into SFT records with ``swesmith.train.traj_mgr.utils.transform_traj_xml`` (its default
style), reading each ``.traj`` and writing JSON Lines as ``collect_trajs`` does. Both convert the same copies
of the corpus's SWE-agent runs that the transform accepts; the line prints srft's time as a ratio to it
(below 1: srft is faster), srft validating every trajectory and keeping every leaf, the transform neither.

Builds corpus-shaped input (the corpus's trajectory files, copied until there are ``--mb`` megabytes; each
copy differs by a trailing-whitespace tag, so it gets its own trajectory id), then converts it single
process and with ``--jobs``, and prints MB/s and the ratio to the orjson floor measured in the same run,
by wall clock and by CPU time (this process's plus what the workers report): on a shared machine only
the CPU figures are stable, and equal CPU time for 1 and N jobs means the work divides among the workers.
More lines split the single-process time: conversion alone (read, detect, convert, check; nothing written),
the stages any conversion runs, each timed alone against the budget that 1/4 of the floor allows, and the
whole run with JSON Lines storage instead of Parquet. The last two convert one JSON Lines
file of the same size (the corpus's JSON Lines records, copied), which ``--jobs`` splits into pieces.

    python bench/convert.py                 # 200 MB, 1 and 2 jobs
    python bench/convert.py --mb 50 --jobs 4
    python bench/convert.py --peer-only     # just srft against SWE-smith's transform
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from srft_format import arrow

from srft_format.converters.base import SourceRecord
from srft_format.converters.conversion import convert_file, records_with_converters
from srft_format.converters.pipeline import convert_paths
from srft_format.runtime import fewer_gc_pauses
from srft_format.converters import run_files
from srft_format.converters.reader import InputFile, expand_inputs, iter_records
from srft_format.ids import sha256_hex, trajectory_id
from srft_format.io import ParquetRecordWriter
from srft_format.models import Trajectory

REPO = Path(__file__).resolve().parent.parent
JSON_SUFFIXES = (".traj", ".json", ".jsonl")


def corpus_sources(corpus: Path) -> list[Path]:
    """Corpus files that convert, and whose copies get new trajectory ids: no YAML (orjson cannot parse it),
    no run files (predictions, evaluation output), and no JSON lists split into records (an element's id is
    that of its content)."""
    out = []
    for path in sorted(corpus.rglob("*")):
        if not (path.is_file() and path.name.endswith(JSON_SUFFIXES)):
            continue
        records = [r for r in iter_records(InputFile(str(path), path.name)) if isinstance(r, SourceRecord)]
        if any(run_files.explain(r.data) is not None for r in records):
            continue
        if all(element is record for record in records for element, _, _ in records_with_converters(record)):
            out.append(path)
    return out


def tag(n: int) -> bytes:
    """Whitespace that is different for every copy number: JSON ignores it, the trajectory id does not."""
    return b" " + format(n, "b").replace("0", " ").replace("1", "\t").encode()


def build_input(corpus: Path, target: Path, megabytes: float) -> int:
    """Copies of the corpus files in ``target`` until they hold ``megabytes``; returns the byte count."""
    sources = [(p, p.read_bytes()) for p in corpus_sources(corpus)]
    total, n = 0, 0
    while total < megabytes * 1e6:
        for path, data in sources:
            n += 1
            if path.name.endswith(".jsonl"):
                lines = data.rstrip(b"\n").split(b"\n")
                copy = b"\n".join(line + tag(n * 1000 + i) for i, line in enumerate(lines)) + b"\n"
            else:
                copy = data + tag(n)
            (target / f"{n:06d}-{path.name}").write_bytes(copy)
            total += len(copy)
    return total


def build_json_lines(corpus: Path, target: Path, megabytes: float) -> int:
    """One JSON Lines file of ``megabytes`` holding copies of the corpus's JSON Lines records."""
    lines = [line for path in corpus_sources(corpus) if path.name.endswith(".jsonl")
             for line in path.read_bytes().splitlines() if line.strip()]
    total, n = 0, 0
    with open(target, "wb") as out:
        while total < megabytes * 1e6:
            for line in lines:
                n += 1
                total += out.write(line + tag(n) + b"\n")
    return total


def records_of(target: Path) -> list[bytes]:
    """The bytes of every record of the input: a line of a JSON Lines file, or a whole document."""
    docs = []
    for path in sorted(target.iterdir()) if target.is_dir() else [target]:
        data = path.read_bytes()
        docs += [line for line in data.split(b"\n") if line.strip()] if path.name.endswith(".jsonl") else [data]
    return docs


def orjson_floor(target: Path) -> tuple[float, float]:
    """Wall and CPU seconds to ``orjson.loads`` every record of the input (bytes already in memory)."""
    docs = records_of(target)
    started, cpu = time.perf_counter(), time.process_time()
    for doc in docs:
        orjson.loads(doc)
    return time.perf_counter() - started, time.process_time() - cpu


def stage_costs(target: Path, floor_cpu: float) -> None:
    """CPU time of the stages any conversion of the input runs, each timed alone, against the budget that 1/4
    of the floor allows: parsing, the two SHA-256 passes (trajectory id, ``record_sha256``), and writing the
    converted trajectories (Arrow columns, zstd Parquet) with the writer ``srft convert`` uses."""
    budget = 4 * floor_cpu
    cpu = time.process_time()
    for doc in records_of(target):
        trajectory_id("bench", doc), sha256_hex(doc)
    hashing = time.process_time() - cpu
    writing = 0.0
    with fewer_gc_pauses(), tempfile.TemporaryDirectory() as tmp:
        arrow.to_table([], Trajectory)  # pyarrow imports pandas on first use: not a per-byte cost
        out = ParquetRecordWriter(Path(tmp) / "t.parquet", Trajectory)
        for file in expand_inputs([str(target)]):
            trajectories = convert_file(file).trajectories
            cpu = time.process_time()
            for trajectory in trajectories:
                out.write(trajectory)
            writing += time.process_time() - cpu
        cpu = time.process_time()
        out.close()
        writing += time.process_time() - cpu
    print(f"stages, CPU-s and share of the {budget:.2f} CPU-s that 1/4 of the floor allows:")
    stages = [("orjson.loads (the floor)", floor_cpu), ("two SHA-256 passes", hashing),
              ("Arrow columns and Parquet write (zstd)", writing)]
    for name, seconds in [*stages, ("sum of these", sum(seconds for _, seconds in stages))]:
        print(f"  {name:40} {seconds:5.2f} CPU-s {seconds / budget:6.0%}")


def swesmith_transform():
    """SWE-smith's ``transform_traj_xml``. Its module reads the inference system prompt from the SWE-smith
    repository's ``agent/swesmith_infer.yaml``, which the PyPI package does not ship: a stand-in file is given
    (the prompt only replaces the system message's text)."""
    import swesmith

    agent = Path(tempfile.mkdtemp(prefix="swesmith-repo-")) / "agent"
    agent.mkdir()
    (agent / "swesmith_infer.yaml").write_text("agent:\n  templates:\n    system_template: SWE-agent-LM\n")
    swesmith.REPO_DIR = agent.parent
    from swesmith.train.traj_mgr.utils import transform_traj_xml

    return transform_traj_xml


def peer_sources(corpus: Path, transform) -> list[Path]:
    """The corpus's SWE-agent runs (``.traj``) that SWE-smith's transform accepts (1.0+: per-step messages)."""
    out = []
    for path in corpus_sources(corpus):
        if path.name.endswith(".traj"):
            try:
                transform(json.loads(path.read_text()))
            except (KeyError, IndexError, AssertionError, TypeError, ValueError):
                continue
            out.append(path)
    return out


def against_swesmith(corpus: Path, tmp: Path, megabytes: float) -> None:
    """srft convert (--jobs 1, Parquet) and SWE-smith's transform on the same SWE-agent runs; srft's time as a
    ratio to the transform's, by wall clock and CPU time."""
    try:
        transform = swesmith_transform()
    except ImportError:
        print("SWE-smith's transform: not installed (pip install --no-deps swesmith); skipped")
        return
    sources = peer_sources(corpus, transform)
    source = tmp / "peer-input"
    source.mkdir()
    total, n = 0, 0
    while total < megabytes * 1e6:
        for path in sources:
            n += 1
            copy = path.read_bytes() + tag(n)
            (source / f"{n:06d}-{path.name}").write_bytes(copy)
            total += len(copy)
    mb = total / 1e6
    print(f"against SWE-smith {swesmith_version()}: {mb:.1f} MB in {n} copies of {len(sources)} SWE-agent runs "
          f"({', '.join(p.name[-40:] for p in sources)})")
    started, cpu = time.perf_counter(), time.process_time()
    with open(tmp / "peer.xml.jsonl", "w") as out:  # collect_trajs: read, json.loads, transform, json.dumps
        for path in sorted(source.iterdir()):
            traj = transform(json.loads(path.read_text()))
            out.write(json.dumps(traj) + "\n")
    peer = (time.perf_counter() - started, time.process_time() - cpu)
    report("SWE-smith transform_traj_xml", mb, peer, peer)
    for storage in ("parquet", "jsonl"):  # the transform writes JSON Lines
        started, cpu = time.perf_counter(), time.process_time()
        summary = convert_paths([str(source)], tmp / f"peer-srft-{storage}", jobs=1, storage=storage)
        spent = (time.perf_counter() - started, time.process_time() - cpu)
        report(f"srft convert --storage {storage}", mb, peer, spent, f", {summary.trajectories} trajectories")
        print(f"  srft's time / SWE-smith's: wall {spent[0] / peer[0]:.2f}, CPU {spent[1] / peer[1]:.2f} "
              "(target: at most 1)")
    shutil.rmtree(source)


def swesmith_version() -> str:
    from importlib.metadata import version

    return version("swesmith")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="Megabytes of input to build (default 200).")
    parser.add_argument("--jobs", type=int, default=2, help="Workers of the parallel run (default 2).")
    parser.add_argument("--corpus", type=Path,
                        default=Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus")))
    parser.add_argument("--peer-only", action="store_true", help="Only srft against SWE-smith's transform.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="srft-bench-") as tmp:
        against_swesmith(args.corpus, Path(tmp), args.mb)
        if args.peer_only:
            return
        source = Path(tmp) / "input"
        source.mkdir()
        size = build_input(args.corpus, source, args.mb)
        mb = size / 1e6
        files = len(list(source.iterdir()))
        floor, floor_cpu = orjson_floor(source)
        originals = len(corpus_sources(args.corpus))
        print(f"input: {mb:.1f} MB in {files} files (copies of {originals} corpus files)")
        report("orjson.loads floor", mb, (floor, floor_cpu), (floor, floor_cpu))
        started, cpu = time.perf_counter(), time.process_time()
        with fewer_gc_pauses():
            for file in expand_inputs([str(source)]):
                convert_file(file)
        report("conversion only, nothing written", mb, (floor, floor_cpu),
               (time.perf_counter() - started, time.process_time() - cpu))
        stage_costs(source, floor_cpu)
        for jobs, storage in [(1, "parquet"), (args.jobs, "parquet"), (1, "jsonl")]:
            out = Path(tmp) / f"out-{jobs}-{storage}"
            started, cpu = time.perf_counter(), time.process_time()
            summary = convert_paths([str(source)], out, jobs=jobs, storage=storage)
            report(f"srft convert --jobs {jobs} --storage {storage}", mb, (floor, floor_cpu),
                   (time.perf_counter() - started, time.process_time() - cpu + summary.worker_cpu_seconds),
                   f", {summary.trajectories} trajectories, {summary.steps} steps")
            shutil.rmtree(out)
        shutil.rmtree(source)
        single = Path(tmp) / "one.jsonl"
        mb = build_json_lines(args.corpus, single, args.mb) / 1e6
        floor = orjson_floor(single)
        print(f"one JSON Lines file: {mb:.1f} MB")
        for jobs in (1, args.jobs):
            out = Path(tmp) / f"one-{jobs}"
            started, cpu = time.perf_counter(), time.process_time()
            summary = convert_paths([str(single)], out, jobs=jobs)
            report(f"srft convert --jobs {jobs} (one file)", mb, floor,
                   (time.perf_counter() - started, time.process_time() - cpu + summary.worker_cpu_seconds),
                   f", {summary.trajectories} trajectories")
            shutil.rmtree(out)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: on a busy machine wall-clock "
              "ratios are noise; CPU ratios (CPU-s of every process) are not")


def report(what: str, mb: float, floor: tuple[float, float], spent: tuple[float, float],
           more: str = "") -> None:
    """One line: MB/s and the ratio to the orjson floor, by wall clock and by CPU time."""
    (floor_wall, floor_cpu), (wall, cpu) = floor, spent
    print(f"{what + ':':42} wall {mb / wall:6.1f} MB/s (ratio {floor_wall / wall:.3f})  "
          f"CPU {mb / cpu:6.1f} MB/s (ratio {floor_cpu / cpu:.3f})  [{wall:.1f}s, {cpu:.1f} CPU-s{more}]")


if __name__ == "__main__":
    main()
