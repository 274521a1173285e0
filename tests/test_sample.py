"""`srft sample`: stratified, reproducible, recorded draws; labelers and double annotation; label export."""

from __future__ import annotations

import json
from collections import Counter

from factories import make_trajectory

from srft_format.annotators.sampling import Candidate, _allocate, assign, draw
from srft_format.dataset import write_dataset


def _pool() -> list[Candidate]:
    out = []
    for t in range(20):
        outcome = "unresolved" if t < 10 else "resolved"
        for s in range(8):
            out.append(Candidate(f"t{t}", s, outcome, ("a", "b", "c", "d")[s * 4 // 8], "bash" if s % 2 else "edit"))
    return out


def test_allocation_is_proportional_with_largest_remainders():
    assert _allocate({"a": 60, "b": 30, "c": 10}, 10) == {"a": 6, "b": 3, "c": 1}
    assert _allocate({"a": 2, "b": 1}, 2) == {"a": 1, "b": 1}  # 1.33 / 0.67: b has the larger remainder
    assert _allocate({"a": 2, "b": 1}, 5) == {"a": 2, "b": 1}


def test_draw_takes_unresolved_first_stratified_and_capped_per_trajectory():
    pool = _pool()
    drawn = draw(pool, 40, seed=3, per_trajectory=3)
    assert len(drawn) == 40 and len(set(drawn)) == 40
    assert Counter(c.outcome for c in drawn) == {"unresolved": 30, "resolved": 10}  # 10 x cap 3, then resolved
    assert max(Counter(c.trajectory for c in drawn).values()) == 3
    unresolved = [c for c in draw(pool, 16, seed=3) if c.outcome == "unresolved"]
    assert len(unresolved) == 16 and set(Counter(c.stratum for c in unresolved).values()) == {2}  # 8 strata x 2
    assert draw(pool, 40, seed=3, per_trajectory=3) == drawn and draw(pool, 40, seed=4, per_trajectory=3) != drawn


def test_double_annotation_gives_the_share_two_different_labelers():
    steps = draw(_pool(), 20, seed=1)
    who = assign(steps, ["alice", "bob", "carol"], 0.5, seed=1)
    assert sum(len(w) == 2 for w in who) == 10 and all(len(set(w)) == len(w) for w in who)
    assert Counter(w[0] for w in who) == {"alice": 7, "bob": 7, "carol": 6}


def test_sample_is_reproducible_and_recorded_then_exported_for_label_studio(tmp_path, srft):
    trajs = [make_trajectory(f"t{i}", 6, resolved=[False, None, True][i % 3]) for i in range(9)]
    write_dataset(tmp_path / "d", trajs, storage="jsonl")
    for out in ("s1", "s2"):
        run = srft("sample", tmp_path / "d", "--steps", "10", "--seed", "5", "--per-trajectory", "2",
                   "--labelers", "alice,bob", "--double", "0.3", "-o", tmp_path / out)
        assert run.code == 0, run.stderr
    assert (tmp_path / "s1" / "steps.jsonl").read_bytes() == (tmp_path / "s2" / "steps.jsonl").read_bytes()
    record = json.loads((tmp_path / "s1" / "sample.json").read_text())
    assert record["options"] == {"steps": 10, "seed": 5, "per_trajectory": 2, "labelers": ["alice", "bob"],
                                 "double": 0.3}
    assert record["drawn"] == 10 and sum(s["drawn"] for s in record["strata"]) == 10
    rows = [json.loads(line) for line in (tmp_path / "s1" / "steps.jsonl").read_text().splitlines()]
    assert [r["stratum"].split(" / ")[0] for r in rows].count("unresolved") == 6  # 3 unresolved runs x 2
    assert sum(len(r["labelers"]) == 2 for r in rows) == 3

    run = srft("label", "export", tmp_path / "d", tmp_path / "s1")
    assert run.code == 0, run.stderr
    tasks = json.loads((tmp_path / "s1" / "label-studio-tasks.json").read_text())
    first = tasks[0]["data"]
    assert (first["srft_trajectory"], first["srft_step"]) == (rows[0]["trajectory"], rows[0]["step"])
    assert first["step"].startswith(f"Step {first['srft_step']}: let me look.") and "output" in first["observation"]
    assert "outcome: not resolved" in first["outcome"] and first["task"].startswith("Fix the bug")
    config = (tmp_path / "s1" / "label-studio-config.xml").read_text()
    for needed in ('name="srft_label"', '<Choice value="unsure"/>', 'name="srft_rationale"', "<Collapse>", "$before"):
        assert needed in config


def test_import_of_steps_not_in_the_dataset_is_one_line(tmp_path, srft):
    write_dataset(tmp_path / "d", [make_trajectory("t1", 2)], storage="jsonl")
    export = [{"id": 1, "data": {"srft_trajectory": "t1", "srft_step": 7}, "annotations": [
        {"id": 1, "completed_by": 1, "result": [{"from_name": "srft_label", "to_name": "srft_step",
                                                  "type": "choices", "value": {"choices": ["incorrect"]}}]}]}]
    (tmp_path / "e.json").write_text(json.dumps(export))
    run = srft("label", "import", tmp_path / "e.json", tmp_path / "d")
    assert run.code == 1 and run.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'e.json'}: data.srft_trajectory: trajectory 't1' step 7 is not in {tmp_path / 'd'}"]
    export[0]["data"]["srft_step"] = 1
    export[0]["annotations"][0]["result"][0]["value"]["choices"] = ["maybe"]
    (tmp_path / "e.json").write_text(json.dumps(export))
    run = srft("label", "import", tmp_path / "e.json", tmp_path / "d")
    assert run.code == 1 and "[0].annotations[0].result[0]: choices must be one of correct, incorrect, neutral, " \
                              "unsure, not ['maybe']" in run.stderr
