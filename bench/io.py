"""Read/write throughput of srft datasets, against the JSON parse floor measured in the same run.

    python bench/io.py                      # 10,000 trajectories x 50 steps (about 1.3 GB of JSONL)
    python bench/io.py --trajectories 1000  # a quicker look

Prints MB/s for writing and reading JSONL and Parquet, the ratio of validated JSONL reading to bare
``orjson.loads`` of the same lines (target: >= 1/3), and DuckDB column scans over the Parquet files.
Validated reading comes two ways: ``read_objects`` (JSON objects checked against the spec's schema and the
cross-reference rules, as ``srft validate`` does) and ``read_records`` (the same checks, building pydantic models).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import string
import tempfile
import time
from pathlib import Path

import duckdb
import orjson

from srft_format.dataset import Dataset, DatasetWriter
from srft_format.check import find_problems
from srft_format.io import read_objects, read_records
from srft_format.jsonl import iter_lines
from srft_format.models import (FORMAT_VERSION, Action, Agent, Message, Outcome, Step, Task, ToolCall, Trajectory,
                                Usage)
from srft_format.records import parse_record

WORDS = ["the", "file", "def", "return", "self", "import", "test", "error", "value", "None", "assert", "line",
         "class", "path", "config", "=", "(", ")", ":", "\n", "    ", "fix", "bug", "raise", "if", "for", "in"]


def prose(rng: random.Random, n_chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < n_chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def synthetic_trajectory(rng: random.Random, traj_id: str, n_steps: int) -> Trajectory:
    """Realistic sizes: a 3 KB system prompt, a 2 KB task, ~600-char thoughts, ~1.5 KB observations."""
    messages = [Message(role="system", content=prose(rng, 3000)), Message(role="user", content=prose(rng, 2000))]
    steps = []
    for i in range(n_steps):
        call = f"call_{i}_{''.join(rng.choices(string.ascii_letters, k=12))}"
        command = f"grep -rn {rng.choice(WORDS)} src/ | head -{rng.randint(5, 50)}"
        messages.append(Message(role="assistant", content=prose(rng, rng.randint(200, 1000)),
                                tool_calls=[ToolCall(id=call, name="bash",
                                                     arguments=json.dumps({"command": command}))]))
        messages.append(Message(role="tool", content=prose(rng, rng.randint(300, 3000)), tool_call_id=call))
        steps.append(Step(index=i, output=len(messages) - 2, observations=[len(messages) - 1],
                          actions=[Action(kind="bash", command=command, tool="bash", tool_call_id=call)],
                          duration_s=rng.random() * 10,
                          usage=Usage(prompt_tokens=rng.randint(1000, 30000), completion_tokens=rng.randint(20, 400))))
    return Trajectory(format_version=FORMAT_VERSION, id=traj_id,
                      task=Task(instance_id=f"repo__pkg-{rng.randint(1, 5000)}", repo="repo/pkg"),
                      agent=Agent(scaffold="swe-agent", scaffold_version="1.1.0", model="policy-32b"),
                      outcome=Outcome(exit_status="submitted", patch=prose(rng, 800), resolved=rng.random() < 0.3),
                      messages=messages, steps=steps)


def timed(label: str, nbytes: int, fn, baseline: float | None = None, repeat: int = 3) -> float:
    """Best of ``repeat`` runs (the machine may be shared), with the cyclic GC paused for every contender."""
    seconds = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        fn()
        seconds = min(seconds, time.perf_counter() - start)
        gc.enable()
    rate = nbytes / seconds / 1e6
    ratio = f"   {rate / baseline:5.2f}x of the parse floor" if baseline else ""
    print(f"  {label:<44} {seconds:7.2f} s  {rate:8.1f} MB/s{ratio}")
    return rate


def parse_in_memory(jsonl_file: Path, nbytes: int) -> float:
    """The parse floor (bare ``orjson.loads`` of every line, in memory) and model parsing of the same lines."""
    lines = [line for _, line in iter_lines(jsonl_file)]
    floor = timed("parse floor: orjson.loads per line", nbytes, lambda: sum(1 for x in lines if orjson.loads(x)))
    timed("parse into models (no cross-checks)", nbytes,
          lambda: sum(1 for x in lines if parse_record(x, Trajectory)), floor)
    return floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--distinct", type=int, default=40, help="distinct bodies; the rest vary only by id")
    args = parser.parse_args()

    rng = random.Random(0)
    bodies = [synthetic_trajectory(rng, f"body-{i}", args.steps) for i in range(args.distinct)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        records = (bodies[i % len(bodies)].model_copy(update={"id": f"traj-{i:07d}"})
                   for i in range(args.trajectories))
        start = time.perf_counter()
        with DatasetWriter(root / "jsonl", name="bench", storage="jsonl") as out:
            for record in records:
                out.add(record)
        write_jsonl = time.perf_counter() - start
        jsonl_file = Dataset.open(root / "jsonl").files("trajectories")[0]
        nbytes = jsonl_file.stat().st_size
        print(f"{args.trajectories} trajectories x {args.steps} steps: {nbytes / 1e6:.0f} MB of JSONL")
        print(f"  {'write JSONL dataset (models -> file)':<44} {write_jsonl:7.2f} s  "
              f"{nbytes / write_jsonl / 1e6:8.1f} MB/s")

        floor = parse_in_memory(jsonl_file, nbytes)
        timed("validated read: read_objects (streamed)", nbytes,
              lambda: sum(1 for _ in read_objects(jsonl_file, Trajectory)), floor)
        timed("validated read into models: read_records", nbytes,
              lambda: sum(1 for _ in read_records(jsonl_file, Trajectory)), floor)
        timed("srft validate (every problem, ids unique)", nbytes,
              lambda: find_problems(jsonl_file, Trajectory), floor)

        start = time.perf_counter()
        with DatasetWriter(root / "parquet", name="bench", storage="parquet") as out:
            for traj in read_records(jsonl_file, Trajectory):
                out.add(traj)
        seconds = time.perf_counter() - start
        parquet_bytes = sum(p.stat().st_size for p in Dataset.open(root / "parquet").files("trajectories"))
        print(f"  {'JSONL -> Parquet dataset':<44} {seconds:7.2f} s  {nbytes / seconds / 1e6:8.1f} MB/s"
              f"   ({parquet_bytes / 1e6:.0f} MB on disk, {nbytes / parquet_bytes:.1f}x smaller)")
        timed("validated read of the Parquet dataset", nbytes,
              lambda: sum(1 for _ in Dataset.open(root / "parquet").trajectories()), floor)
        parquet_files = Dataset.open(root / "parquet").files("trajectories")
        timed("... of its files with read_objects", nbytes,
              lambda: sum(1 for f in parquet_files for _ in read_objects(f, Trajectory)), floor)

        files = [str(p) for p in parquet_files]
        con = duckdb.connect()
        queries = {
            "resolved rate": "SELECT avg(outcome.resolved::INT) FROM read_parquet($files)",
            "steps and tokens": "SELECT sum(len(steps)), sum(list_sum(list_transform(steps, "
                                "lambda s: s.usage.completion_tokens))) FROM read_parquet($files)",
            "action kinds (unnested)": "SELECT a.kind, count(*) FROM (SELECT unnest(s.actions) AS a FROM "
                                       "(SELECT unnest(steps) AS s FROM read_parquet($files))) GROUP BY 1",
        }
        print("DuckDB over the Parquet files (equivalent JSONL MB/s):")
        for label, sql in queries.items():
            timed(label, nbytes, lambda sql=sql: con.execute(sql, {"files": files}).fetchall(), floor)


if __name__ == "__main__":
    main()
