"""Benchmark ``srft convert`` against the floor of parsing the same bytes with bare ``orjson.loads``.

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
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from srft_format import arrow

from srft_format.converters.base import SourceRecord
from srft_format.converters.pipeline import (convert_file, convert_paths, fewer_gc_pauses,
                                            records_with_converters)
from srft_format.converters.predictions import is_predictions
from srft_format.converters.reader import InputFile, expand_inputs, iter_records
from srft_format.ids import sha256_hex, trajectory_id
from srft_format.io import ParquetRecordWriter
from srft_format.models import Trajectory

REPO = Path(__file__).resolve().parent.parent
JSON_SUFFIXES = (".traj", ".json", ".jsonl")


def corpus_sources(corpus: Path) -> list[Path]:
    """Corpus files that convert, and whose copies get new trajectory ids: no YAML (orjson cannot parse it),
    no predictions files, and no JSON lists split into records (an element's id is that of its content)."""
    out = []
    for path in sorted(corpus.rglob("*")):
        if not (path.is_file() and path.name.endswith(JSON_SUFFIXES)):
            continue
        records = [r for r in iter_records(InputFile(str(path), path.name)) if isinstance(r, SourceRecord)]
        if any(is_predictions(r.data) for r in records):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="Megabytes of input to build (default 200).")
    parser.add_argument("--jobs", type=int, default=2, help="Workers of the parallel run (default 2).")
    parser.add_argument("--corpus", type=Path,
                        default=Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="srft-bench-") as tmp:
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
