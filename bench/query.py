"""``srft stats`` and ``srft query`` on a large dataset, against an in-memory pandas/pyarrow baseline.

    python bench/query.py                          # 100,000 trajectories, ~5 M steps, ~5.5 M verdicts
    python bench/query.py --trajectories 10000     # a quicker look

Generates the dataset straight as Arrow tables (the Parquet layout of ``srft_format.arrow``), then runs, each
in a fresh subprocess that reports its time and peak memory (ru_maxrss): the figures of ``srft stats`` and
three typical queries through the srft views, and the same figures and queries computed after loading the
Parquet files into memory (pyarrow + pandas). Prints times, peak memory, ratios, and whether both agree.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from srft_format.arrow import schema_of
from srft_format.dataset import file_sha256, write_manifest
from srft_format.models import (FORMAT_VERSION, Annotator, Counts, DataFile, Manifest, Trajectory,
                                VerdictRecord)

PER_FILE = 10_000
ROW_GROUP = 256
REPOS = [f"org{i}/project{i}" for i in range(50)]
MODELS = ["policy-7b", "policy-32b", "gpt-4o", "claude-sonnet"]
KINDS = ["bash", "edit", "view", "search", "submit", "think"]
TEXTS = ["Let me look at the failing test first.", "I will run the tests.", "Editing utils.py.",
         "The output shows the error is in parse().", "Submitting the patch."]
ANNOTATORS = [Annotator(id="critic", kind="llm", model="critic-32b"), Annotator(id="rules", kind="rule")]

QUERIES = {
    "reject rate per repo": """
        SELECT t.repo, count(*) FILTER (WHERE e.label = 'incorrect') / count(*) AS reject_rate
        FROM effective_verdicts e JOIN trajectories t ON t.dataset = e.dataset AND t.id = e.trajectory_id
        WHERE e.label IN ('correct', 'incorrect') GROUP BY t.repo ORDER BY t.repo""",
    "tokens per action kind": """
        SELECT action_kind, count(*) AS steps, sum(completion_tokens) AS tokens
        FROM steps GROUP BY action_kind ORDER BY action_kind""",
    "costliest unresolved": """
        SELECT id, round(cost, 6) AS cost FROM trajectories WHERE resolved = false
        ORDER BY cost DESC, id LIMIT 10""",
}


# ---------------------------------------------------------------------------------------------- generate


def struct(struct_type: pa.StructType, n: int, **children: pa.Array) -> pa.StructArray:
    """A struct array of ``struct_type``: the given children, nulls for every other field."""
    arrays = [children.pop(f.name) if f.name in children else pa.nulls(n, f.type) for f in struct_type]
    assert not children, children
    return pa.StructArray.from_arrays(arrays, fields=list(struct_type))


def lists(kind: pa.ListType, lengths: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=kind)


def pick(rng: np.random.Generator, choices: list[str], n: int, p: list[float] | None = None) -> pa.Array:
    codes = rng.choice(len(choices), size=n, p=p).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(choices)).cast(pa.string())


def trajectory_table(rng: np.random.Generator, first: int, n: int,
                     mean_steps: int) -> tuple[pa.Table, pa.Table]:
    """``n`` trajectories and their sidecar verdicts."""
    schema = schema_of(Trajectory)
    n_steps = rng.integers(mean_steps // 5, 2 * mean_steps - mean_steps // 5 + 1, size=n)
    total = int(n_steps.sum())
    starts = np.repeat(np.cumsum(n_steps) - n_steps, n_steps)
    index = np.arange(total) - starts
    step_type = schema.field("steps").type.value_type
    usage_type = step_type.field("usage").type
    action_type = step_type.field("actions").type.value_type
    completion = rng.integers(20, 400, size=total)
    ones = np.ones(total, dtype=np.int32)
    steps = struct(step_type, total, index=pa.array(index), output=pa.array(2 + 2 * index),
                   observations=lists(step_type.field("observations").type, ones, pa.array(3 + 2 * index)),
                   actions=lists(step_type.field("actions").type, ones,
                                 struct(action_type, total, kind=pick(rng, KINDS, total),
                                        command=pa.repeat("ls -la", total), tool=pa.repeat("bash", total))),
                   exclude=lists(step_type.field("exclude").type, np.zeros(total, dtype=np.int32),
                                 pa.array([], pa.string())),
                   usage=struct(usage_type, total, completion_tokens=pa.array(completion),
                                prompt_tokens=pa.array(rng.integers(1000, 30000, size=total)),
                                cost=pa.array(completion * 1e-5)))
    n_messages = 2 + 2 * n_steps
    positions = np.arange(int(n_messages.sum())) - np.repeat(np.cumsum(n_messages) - n_messages, n_messages)
    role_codes = np.where(positions == 0, 0, np.where((positions >= 2) & (positions % 2 == 0), 2, 1))
    message_type = schema.field("messages").type.value_type
    m = len(positions)
    roles = pa.DictionaryArray.from_arrays(pa.array(role_codes.astype(np.int32)),
                                           pa.array(["system", "user", "assistant"])).cast(pa.string())
    messages = struct(message_type, m, role=roles, content=pick(rng, TEXTS, m))
    ids = pa.array([f"syn-{first + i:07d}" for i in range(n)])
    resolved = rng.choice([1, 0, -1], size=n, p=[0.3, 0.6, 0.1])
    columns = {
        "format_version": pa.repeat(FORMAT_VERSION, n), "id": ids,
        "task": struct(schema.field("task").type, n, instance_id=ids, repo=pick(rng, REPOS, n)),
        "agent": struct(schema.field("agent").type, n, scaffold=pick(rng, ["swe-agent", "openhands"], n),
                        model=pick(rng, MODELS, n)),
        "outcome": struct(schema.field("outcome").type, n,
                          resolved=pa.array(resolved == 1, mask=resolved == -1),
                          exit_status=pick(rng, ["submitted", "cost_limit"], n)),
        "messages": lists(schema.field("messages").type, n_messages, messages),
        "steps": lists(schema.field("steps").type, n_steps, steps),
        "provenance": struct(schema.field("provenance").type, n, source_format=pa.repeat("synthetic", n),
                             converter=pa.repeat("bench/query.py", n), converter_version=pa.repeat("1", n)),
    }
    table = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema)
    return table, verdict_table(rng, np.repeat(ids.to_numpy(zero_copy_only=False), n_steps), index,
                                index / np.repeat(n_steps, n_steps))


def verdict_table(rng: np.random.Generator, trajectory: np.ndarray, step: np.ndarray,
                  position: np.ndarray) -> pa.Table:
    """A critic on 90% of the steps (incorrect 15% early to 45% late), a rule on 20%."""
    parts = []
    for annotator, coverage, base, slope in (("critic", 0.9, 0.15, 0.3), ("rules", 0.2, 0.3, 0.0)):
        chosen = rng.random(len(step)) < coverage
        incorrect = rng.random(int(chosen.sum())) < base + slope * position[chosen]
        n = int(chosen.sum())
        parts.append(pa.table({"step": step[chosen], "annotator": pa.repeat(annotator, n),
                               "label": np.where(incorrect, "incorrect", "correct"),
                               "trajectory": trajectory[chosen]}))
    verdicts = pa.concat_tables(parts)
    n = len(verdicts)
    schema = schema_of(VerdictRecord)
    columns = {"format_version": pa.repeat(FORMAT_VERSION, n),
               **{c: verdicts[c] for c in verdicts.column_names}}
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema)


def generate(root: Path, n: int, mean_steps: int, seed: int = 0) -> Manifest:
    rng = np.random.default_rng(seed)
    files: list[DataFile] = []
    counts = Counts()
    for part, first in enumerate(range(0, n, PER_FILE)):
        table, verdicts = trajectory_table(rng, first, min(PER_FILE, n - first), mean_steps)
        counts.trajectories += len(table)
        counts.steps += int(pa.compute.sum(pa.compute.list_value_length(table["steps"])).as_py())
        counts.messages += int(pa.compute.sum(pa.compute.list_value_length(table["messages"])).as_py())
        counts.verdicts += len(verdicts)
        for kind, data, rows in (("trajectories", table, ROW_GROUP), ("verdicts", verdicts, 1 << 20)):
            path = root / kind / f"part-{part:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(data, path, row_group_size=rows, compression="zstd")
            files.append(DataFile(path=path.relative_to(root).as_posix(), kind=kind, storage="parquet",
                                  records=len(data), bytes=path.stat().st_size, sha256=file_sha256(path)))
    manifest = Manifest(format_version=FORMAT_VERSION, name="bench", annotators=ANNOTATORS, counts=counts,
                        files=files)
    write_manifest(root, manifest)
    return manifest


# ------------------------------------------------------------------------------------------- measure

MEASURED = """
import json, resource, sys, time
start = time.perf_counter()
result = {kind!r}
{body}
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_mib": peak_mib, "result": result}}, default=str))
"""

SRFT_STATS = """
from srft_format.query import open_views
from srft_format.stats import compute_stats
figures = compute_stats(open_views([sys.argv[1]]))
result = {"reject_rate": figures["reject_rate"][0]["reject_rate"],
          "signal": {r["policy"]: [r["steps"], r["tokens"]] for r in figures["training_signal"]},
          "deciles": [r["incorrect"] for r in figures["reject_by_position"]]}
"""

SRFT_QUERY = """
from srft_format.query import open_views
con = open_views([sys.argv[1]])
result = con.sql(sys.argv[2]).fetchall()
"""

BASELINE_LOAD = """
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
from srft_format.dataset import Dataset
ds = Dataset.open(sys.argv[1])
table = pq.read_table(ds.files("trajectories"))          # everything in memory, as a user would in a notebook
verdicts = pq.read_table(ds.files("verdicts")).to_pandas()
n_steps = pc.list_value_length(table["steps"]).to_numpy()
flat = pc.list_flatten(table["steps"])
usage = pc.struct_field(flat, "usage")
resolved = pc.struct_field(table["outcome"], "resolved").to_pandas().to_numpy()
steps = pd.DataFrame({"trajectory": np.repeat(table["id"].to_numpy(zero_copy_only=False), n_steps),
                      "repo": np.repeat(pc.struct_field(table["task"], "repo").to_numpy(zero_copy_only=False),
                                        n_steps),
                      "step": pc.struct_field(flat, "index").to_numpy(),
                      "n_steps": np.repeat(n_steps, n_steps),
                      "resolved": np.repeat(resolved, n_steps),
                      "excluded": pc.list_value_length(pc.struct_field(flat, "exclude")).fill_null(0)
                                  .to_numpy() > 0,
                      "kind": pc.struct_field(pc.list_element(pc.struct_field(flat, "actions"), 0), "kind")
                              .to_numpy(zero_copy_only=False),
                      "tokens": pc.struct_field(usage, "completion_tokens").to_numpy(),
                      "cost": pc.struct_field(usage, "cost").to_numpy()})
# effective verdicts, priority by annotator id, as VerdictPolicy() resolves them
verdicts["decisive"] = verdicts["label"].isin(["correct", "incorrect"])
verdicts = verdicts.sort_values(["decisive", "annotator"], ascending=[False, True], kind="stable")
effective = verdicts.drop_duplicates(["trajectory", "step"])[["trajectory", "step", "label"]]
steps = steps.merge(effective, on=["trajectory", "step"], how="left")
decided = steps[steps["label"].isin(["correct", "incorrect"])]
"""

BASELINE_STATS = BASELINE_LOAD + """
incorrect = steps["label"] == "incorrect"
resolved = steps["resolved"].eq(True)
weights = {"sft": ~steps["excluded"], "rft": ~steps["excluded"] & resolved,
           "srft": ~steps["excluded"] & (resolved | steps["label"].isin(["correct", "neutral"]))}
decile = 10 * steps["step"] // steps["n_steps"]
result = {"reject_rate": float((decided["label"] == "incorrect").mean()),
          "signal": {k: [int(w.sum()), int(steps.loc[w, "tokens"].sum())] for k, w in weights.items()},
          "deciles": [int(x) for x in incorrect.groupby(decile).sum().tolist()]}
"""

BASELINE_QUERIES = BASELINE_LOAD + """
per_trajectory = steps.groupby("trajectory", sort=False).agg(cost=("cost", "sum"),
                                                             resolved=("resolved", "first"))
unresolved = per_trajectory[per_trajectory["resolved"].eq(False)].reset_index(names="id")
costliest = unresolved.sort_values(["cost", "id"], ascending=[False, True]).head(10)
result = {
    "reject rate per repo": [list(x) for x in
                             (decided["label"] == "incorrect").groupby(decided["repo"]).mean().items()],
    "tokens per action kind": [[k, int(len(g)), int(g["tokens"].sum())] for k, g in steps.groupby("kind")],
    "costliest unresolved": [[i, round(c, 6)] for i, c in costliest[["id", "cost"]].itertuples(index=False)]}
"""


def measure(kind: str, body: str, *args: str) -> dict:
    code = MEASURED.format(kind=kind, body=body)
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # the last line: what MEASURED prints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, default=100_000)
    parser.add_argument("--mean-steps", type=int, default=50)
    parser.add_argument("--dir", type=Path, help="Where to write the dataset (default: a temporary folder).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / "bench"
        start = time.perf_counter()
        manifest = generate(root, args.trajectories, args.mean_steps)
        size = sum(f.bytes for f in manifest.files) / 2**20
        print(f"generated {manifest.counts.trajectories:,} trajectories, {manifest.counts.steps:,} steps, "
              f"{manifest.counts.messages:,} messages, {manifest.counts.verdicts:,} verdicts "
              f"({size:,.0f} MiB of Parquet) in {time.perf_counter() - start:.1f} s")
        stats = measure("srft stats", SRFT_STATS, str(root))
        queries = {name: measure(name, SRFT_QUERY, str(root), sql) for name, sql in QUERIES.items()}
        baseline_stats = measure("baseline stats", BASELINE_STATS, str(root))
        baseline_queries = measure("baseline queries", BASELINE_QUERIES, str(root))
    print(f"\n{'what':44} {'seconds':>8} {'peak MiB':>9}")
    rows = [("srft stats (every figure)", stats),
            ("baseline: load in memory + the same figures", baseline_stats),
            *((f"srft query: {name}", run) for name, run in queries.items()),
            ("baseline: load in memory + the same 3 queries", baseline_queries)]
    for name, run in rows:
        print(f"{name:44} {run['seconds']:8.1f} {run['peak_mib']:9.0f}")
    query_seconds = sum(q["seconds"] for q in queries.values())
    query_peak = max(q["peak_mib"] for q in queries.values())
    print(f"\nstats:   baseline / srft time {baseline_stats['seconds'] / stats['seconds']:.2f}x, "
          f"peak memory {baseline_stats['peak_mib'] / stats['peak_mib']:.2f}x")
    print(f"queries: baseline / srft time {baseline_queries['seconds'] / query_seconds:.2f}x "
          f"(srft: 3 separate processes, {query_seconds:.1f} s), "
          f"peak memory {baseline_queries['peak_mib'] / query_peak:.2f}x")
    same = {k: stats["result"][k] == baseline_stats["result"][k] for k in ("signal", "deciles")}
    reject_rates = stats["result"]["reject_rate"], baseline_stats["result"]["reject_rate"]
    same["reject_rate"] = abs(reject_rates[0] - reject_rates[1]) < 1e-12
    for name, q in queries.items():
        same[name] = rounded(q["result"]) == rounded(baseline_queries["result"][name])
    print("same numbers as the baseline: "
          + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
    if not all(same.values()):
        raise SystemExit("srft and the baseline disagree")


def rounded(rows: list) -> list:
    return [[round(v, 9) if isinstance(v, float) else v for v in row] for row in rows]


if __name__ == "__main__":
    main()
