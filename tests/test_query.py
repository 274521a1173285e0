"""The SQL views: documented columns, Parquet = JSONL, several datasets, equality with srft_format.policy."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from factories import make_trajectory
from query_data import write_random_dataset, write_small_dataset

from srft_format.cli.query import query, split_arguments
from srft_format.dataset import Dataset, copy_dataset, write_dataset
from srft_format.models import FORMAT_VERSION, Annotator, VerdictRecord
from srft_format.errors import SrftError
from srft_format.policy import Resolution, TrainingPolicy, VerdictPolicy
from srft_format.query import VIEW_FILES, VIEWS, open_views, set_policy, sql_errors, sql_text, view_columns

SPEC = Path(__file__).resolve().parent.parent / "spec" / "views.md"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return write_small_dataset(tmp_path_factory.mktemp("q") / "small")


@pytest.fixture(scope="module")
def randoms(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("random")
    return [write_random_dataset(root / f"r{seed}", seed) for seed in (1, 2)]


def rows(con, sql: str) -> list[tuple]:
    return con.sql(sql).fetchall()


# ------------------------------------------------------------------------------------- the views


def documented_columns() -> dict[str, list[str]]:
    """``spec/views.md``: each ``### `view` `` heading, then a table whose first column names the columns."""
    documented: dict[str, list[str]] = {}
    view = None
    for line in SPEC.read_text().splitlines():
        heading = re.match(r"^### `(\w+)`", line)
        if heading:
            view = heading.group(1)
            documented[view] = []
        cell = re.match(r"^\| `(\w+)` \|", line)
        if view and cell:
            documented[view].append(cell.group(1))
    return documented


def test_views_have_the_documented_columns(small):
    assert view_columns(open_views([small])) == {view: documented_columns()[view] for view in VIEWS}


def test_the_spec_recipe_gives_the_same_views_in_plain_duckdb(tmp_path, monkeypatch):
    """spec/views.md tells users how to run the packaged SQL in their own DuckDB: it must work."""
    recipe = re.search(r"```sql\n(.*?)```", SPEC.read_text(), re.S).group(1)
    write_small_dataset(tmp_path / "my-dataset", name="my-dataset")
    monkeypatch.chdir(tmp_path)
    plain = duckdb.connect()
    for sql in (recipe, *(sql_text(f) for f in VIEW_FILES)):
        plain.execute(sql)
    ours = open_views([tmp_path / "my-dataset"])
    for view in VIEWS:
        sql = f"SELECT * FROM {view} ORDER BY ALL"
        assert rows(plain, sql) == rows(ours, sql), view


def test_small_dataset_rows(small):
    con = open_views([small])
    sql = "SELECT id, repo, model, resolved, n_steps, completion_tokens FROM trajectories ORDER BY id"
    assert rows(con, sql) == [
        ("t1", "o/alpha", "m1", True, 4, 100), ("t2", "o/alpha", "m2", False, 5, 25),
        ("t3", "o/beta", "m1", None, 2, None), ("t4", "o/beta", "m1", False, 10, 10)]
    assert rows(con, "SELECT step, decile, excluded, action_kind, completion_tokens FROM steps "
                     "WHERE trajectory_id = 't3' ORDER BY step") == [(0, 0, True, "bash", None),
                                                                     (1, 5, False, "submit", None)]
    assert rows(con, "SELECT role, content, content_parts FROM messages "
                     "WHERE trajectory_id = 't3' AND message >= 4 ORDER BY message") == [
        ("assistant", "Step 1: let me look.", None),
        ("tool", None, [{"type": "text", "text": "last output", "url": None, "detail": None}])]
    assert rows(con, "SELECT source, count(*) FROM verdicts GROUP BY ALL ORDER BY ALL") == [("inline", 4),
                                                                                         ("sidecar", 8)]
    assert rows(con, "SELECT id, kind, parameters FROM annotators ORDER BY id") == [
        ("critic-a", "llm", '{"temperature":0}'), ("critic-b", "rule", "{}")]


@pytest.mark.parametrize("storage,compression", [("jsonl", None), ("jsonl", "zst"), ("jsonl", "gz")])
def test_jsonl_datasets_give_the_same_rows_as_parquet(small, tmp_path, storage, compression):
    other = tmp_path / "copy"
    copy_dataset(small, other, storage=storage, compression=compression)
    parquet, jsonl = open_views([small]), open_views([other])
    for view in ("trajectories", "steps", "messages", "verdicts", "effective_verdicts", "training_signal"):
        columns = ", ".join(c for c in view_columns(parquet)[view] if c != "dataset")
        sql = f"SELECT {columns} FROM {view} ORDER BY ALL"
        assert rows(jsonl, sql) == rows(parquet, sql), view


def test_no_progress_bar_in_piped_results(small):
    """DuckDB draws its progress bar on standard output, where `srft query --format csv` writes the result."""
    assert rows(open_views([small]), "SELECT current_setting('enable_progress_bar')") == [(False,)]


def test_several_datasets_have_a_dataset_column(small, randoms):
    con = open_views([small, *randoms])
    counts = dict(rows(con, "SELECT dataset, count(*) FROM trajectories GROUP BY dataset"))
    assert counts == {"small": 4, "random-1": 40, "random-2": 40}
    steps = dict(rows(con, "SELECT dataset, count(*) FROM steps GROUP BY dataset"))
    assert steps == {Dataset.open(p).name: Dataset.open(p).manifest.counts.steps for p in (small, *randoms)}


def test_datasets_with_the_same_name_are_told_apart_by_path(small, tmp_path):
    twin = tmp_path / "twin"
    copy_dataset(small, twin, storage="jsonl")  # and Parquet and JSONL datasets mix
    con = open_views([small, twin])
    names = sorted(r[0] for r in rows(con, "SELECT DISTINCT dataset FROM trajectories"))
    assert names == sorted([str(small), str(twin)])
    per_dataset = rows(con, "SELECT dataset, count(*), count(content), count(content_parts) FROM messages "
                            "GROUP BY dataset ORDER BY dataset")
    assert [r[1:] for r in per_dataset] == [(50, 46, 4)] * 2


# ------------------------------------------------------------------- equality with srft_format.policy


def python_inputs(path: Path):
    ds = Dataset.open(path)
    sidecar = ds.verdicts_by_trajectory()
    return [(traj, sidecar.get(traj.id, [])) for traj in ds.trajectories()]


POLICIES = [VerdictPolicy(annotators, resolution, threshold)
            for resolution in Resolution
            for annotators in ((), ("critic-b", "critic-a"), ("critic-c",))
            for threshold in ((0.5, 0.75) if resolution is Resolution.threshold else (0.5,))] + \
           [VerdictPolicy(resolution=resolution, order=order)  # default orders by kind; critic-b missing: last
            for resolution in (Resolution.priority, Resolution.majority)
            for order in (("critic-c", "critic-a"), ("critic-b", "critic-c", "critic-a"))]


WEIGHTS = "SELECT trajectory_id, step, weight FROM training_signal"
TRAINING = [("sft", "mask", False), ("rft", "mask", False),
            *((("srft", unlabeled, soft) for unlabeled in ("mask", "train") for soft in (False, True)))]
"""(name, unlabeled, soft): sft and rft ignore the last two."""


def test_effective_verdicts_equal_verdict_policy_resolve(randoms):
    for path in randoms:
        con = open_views([path])
        inputs = python_inputs(path)
        for policy in POLICIES:
            set_policy(con, TrainingPolicy(verdicts=policy))
            got = {(t, s): (label, score, tuple(names)) for t, s, label, score, names in
                   rows(con, "SELECT trajectory_id, step, label, score, annotators FROM effective_verdicts")}
            expected = {(traj.id, step): (ev.label.value, ev.score, ev.annotators)
                        for traj, extra in inputs
                        for step, ev in policy.resolve([*traj.verdicts, *extra]).items()}
            assert got == expected, policy


def test_training_signal_equals_step_weights(randoms):
    for path in randoms:
        con = open_views([path])
        inputs = python_inputs(path)
        for (name, unlabeled, soft), verdicts in itertools.product(TRAINING, POLICIES[::3]):
            policy = TrainingPolicy(name, verdicts, unlabeled, soft)
            set_policy(con, policy)
            got = {(t, s): w for t, s, w in rows(con, WEIGHTS)}
            expected = {(traj.id, i): w for traj, extra in inputs
                        for i, w in enumerate(policy.step_weights(traj, extra))}
            assert got == expected, policy


# --------------------------------------------------------------------------------------- bad input


def test_missing_data_file_is_named(small, tmp_path):
    broken = tmp_path / "broken"
    copy_dataset(small, broken)
    victim = Dataset.open(broken).files("verdicts")[0]
    victim.unlink()
    with pytest.raises(SrftError, match=re.escape(str(victim)) + ".*missing verdicts file"):
        open_views([broken])


def test_corrupt_parquet_file_is_named(small, tmp_path):
    broken = tmp_path / "broken"
    copy_dataset(small, broken)
    victim = Dataset.open(broken).files("trajectories")[0]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(SrftError, match=re.escape(str(victim)) + ": cannot read this data file"):
        open_views([broken])


def test_sql_error_lists_the_views_and_columns(small):
    con = open_views([small])
    with pytest.raises(SrftError) as caught, sql_errors(con):
        con.sql("SELECT no_such_column FROM steps")
    message = str(caught.value)
    assert 'Referenced column "no_such_column" not found' in message
    for view, columns in view_columns(con).items():
        assert f"  {view}({', '.join(columns)})" in message


def test_not_a_dataset(tmp_path):
    with pytest.raises(SrftError, match="not an srft dataset"):
        open_views([tmp_path])
    with pytest.raises(SrftError, match="no dataset"):
        open_views([])


# --------------------------------------------------------------------------------------- srft query


def test_split_arguments(small):
    assert split_arguments((str(small), "SELECT 1")) == ([str(small)], "SELECT 1")
    assert split_arguments((str(small), str(small))) == ([str(small), str(small)], None)
    with pytest.raises(SrftError, match="no dataset"):
        split_arguments(("SELECT 1",))


def invoke(*args: str, input: str | None = None):
    result = CliRunner().invoke(query, [str(a) for a in args], input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


SQL = "SELECT id, resolved, n_steps FROM trajectories ORDER BY id LIMIT 2"


def test_query_formats(small, tmp_path):
    assert invoke(small, SQL, "--format", "csv").splitlines() == ["id,resolved,n_steps", "t1,true,4",
                                                                  "t2,false,5"]
    expected = [{"id": "t1", "resolved": True, "n_steps": 4}, {"id": "t2", "resolved": False, "n_steps": 5}]
    assert orjson.loads(invoke(small, SQL, "--format", "json")) == expected
    assert [orjson.loads(line) for line in invoke(small, SQL, "--format", "jsonl").splitlines()] == expected
    assert invoke(small, SQL, "--format", "parquet", "-o", tmp_path / "out.parquet") == ""
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == expected
    table = invoke(small, SQL)
    assert re.search(r"t1\s+│\s+True\s+│\s+4", table)


def test_query_policy_options_reach_the_views(small):
    sql = "SELECT label FROM effective_verdicts WHERE trajectory_id = 't2' AND step = 0"
    assert invoke(small, sql, "--format", "csv").splitlines()[1] == "correct"  # priority: critic-a first
    assert invoke(small, sql, "--format", "csv", "--resolution", "veto").splitlines()[1] == "incorrect"
    assert invoke(small, sql, "--format", "csv", "--annotator", "critic-b").splitlines()[1] == "incorrect"


def test_interactive_prompt_reads_statements_from_stdin(small):
    out = invoke(small, input="SELECT count(*) AS n\nFROM steps;\n.views\nSELECT nope FROM steps;\n"
                              "SELECT 42 AS answer;\n")
    assert re.search(r"n\s*\n.*\n\s*21", out)
    assert "training_signal(dataset, trajectory_id, step" in out
    assert 'Referenced column "nope" not found' in out
    assert re.search(r"answer\s*\n.*\n\s*42", out)


def test_query_error_is_one_clean_message(small, srft):
    run = srft("query", small, "SELECT nope FROM trajectories")
    assert run.code == 1
    rule, error = run.stderr.split("\n", 1)  # small has two annotators: the rule combining them comes first
    assert rule.startswith("verdicts: priority") and error.startswith("error: Binder Error")
    assert "Traceback" not in run.stderr and "available views:" in run.stderr


# ------------------------------------------------------------------- default priority by annotator kind

KINDS = [Annotator(id="outcome", kind="outcome", evidence=["outcome"]),
         Annotator(id="rules", kind="rule", evidence=["prefix", "outcome"]),
         Annotator(id="a-causal", kind="llm", model="m", evidence=["prefix"]),
         Annotator(id="z-hindsight", kind="llm", model="m", evidence=["prefix", "future", "gold_patch"]),
         Annotator(id="old-llm", kind="llm", model="m"),  # a 1.0 declaration: no evidence, so causal
         Annotator(id="zed", kind="human")]
# step: {annotator: label}; the kind order decides every step (ids alone would decide otherwise)
CONFLICTS = {0: {"outcome": "correct", "rules": "incorrect"},
             1: {"a-causal": "correct", "z-hindsight": "incorrect"},
             2: {"zed": "correct", "z-hindsight": "incorrect", "rules": "incorrect", "a-causal": "incorrect"},
             3: {"outcome": "correct"},
             4: {"old-llm": "incorrect", "a-causal": "correct", "outcome": "correct"}}
WINNERS = {0: "incorrect", 1: "incorrect", 2: "correct", 3: "correct", 4: "correct"}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kinds") / "kinds"
    traj = make_trajectory("t-k", 5, resolved=False)
    records = [VerdictRecord(format_version=FORMAT_VERSION, trajectory="t-k", step=step, annotator=who, label=label)
               for step, labels in CONFLICTS.items() for who, label in labels.items()]
    write_dataset(path, [traj], annotators=KINDS, verdicts=records)
    return path


def test_default_priority_goes_by_kind_the_same_in_policy_sql_and_exports(kinds, tmp_path, srft):
    ds = Dataset.open(kinds)
    policy = TrainingPolicy().for_annotators(ds.manifest.annotators)
    assert policy.verdicts.order == ("zed", "z-hindsight", "a-causal", "old-llm", "rules", "outcome")
    traj = next(ds.trajectories())
    python = {s: ev.label.value for s, ev in policy.verdicts.resolve(ds.verdicts_by_trajectory()["t-k"]).items()}
    assert python == {s: WINNERS[s] for s in CONFLICTS}
    sql = dict(rows(open_views([kinds]), "SELECT step, label FROM effective_verdicts"))  # default policy
    assert sql == python
    run = srft("verdicts", kinds, "--format", "json")
    assert {r["step"]: r["label"] for r in json.loads(run.stdout) if r["label"] != "-"} == python
    assert run.stderr.startswith("verdicts: priority: the first decisive verdict wins; all annotators, by kind "
                                 "(human > llm hindsight > llm causal > rule > outcome; ids break ties): zed > ")
    out = tmp_path / "sft.jsonl"
    assert srft("export", kinds, "--to", "openai", "-o", out).code == 0
    record = json.loads(Path(f"{out}.srft.json").read_text())["policy"]["verdicts"]
    assert record["order"] == list(policy.verdicts.order) and record["rule"] == policy.verdicts.describe()
    weights = [m["weight"] for m in json.loads(out.read_text().splitlines()[0])["messages"] if "weight" in m]
    assert weights == [int(w > 0) for w in policy.step_weights(traj, ds.verdicts_by_trajectory()["t-k"])]


def test_sql_and_stats_separate_hindsight_from_causal_labels(kinds, srft):
    classes = dict(rows(open_views([kinds]), "SELECT id, priority_class FROM annotators"))
    assert classes == {"zed": "human", "z-hindsight": "llm hindsight", "a-causal": "llm causal",
                       "old-llm": "llm causal", "rules": "rule", "outcome": "outcome"}
    evidence = dict(rows(open_views([kinds]), "SELECT id, evidence FROM annotators"))
    assert evidence["z-hindsight"] == ["prefix", "future", "gold_patch"] and evidence["old-llm"] == []
    run = srft("stats", kinds, "--by", "evidence", "--format", "json")
    rates = {r["evidence"]: (r["labeled"], r["reject_rate"]) for r in json.loads(run.stdout)["reject_rate"]}
    assert rates["llm hindsight"] == (2, 1.0) and rates["llm causal"] == (4, 0.5)
