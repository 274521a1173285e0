"""Annotators other than the HTTP critic: outcome, human sheets, prompts, context cutting, parsing, policies."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil

import pytest
from click.testing import CliRunner
from critic_data import PYDICOM, SIMPY, corpus_trajectory, small_corpus_dataset
from factories import make_trajectory

from srft_format.annotators.context import approx_tokens, render_trajectory, step_context, trajectory_windows
from srft_format.annotators.parsing import MalformedAnswer, parse_step_answer, parse_trajectory_answer
from srft_format.annotators.prompts import load_template
from srft_format.annotators.runner import AnnotationRun, annotate
from srft_format.annotators.rules import RuleCritic
from srft_format.cli.main import cli
from srft_format.dataset import Dataset, write_dataset
from srft_format.errors import SrftError
from srft_format.ids import sha256_hex
from srft_format.models import Label
from srft_format.policy import Resolution, TrainingPolicy, VerdictPolicy


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


@pytest.fixture
def data(tmp_path, corpus_dataset):
    small_corpus_dataset(tmp_path / "data", corpus_dataset)
    return tmp_path / "data"


# ------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, label, score", [
    ('{"label": "incorrect", "score": 0.1, "rationale": "broken edit"}', "incorrect", 0.1),
    ('Sure!\n```json\n{"label": "Correct", "score": 1, "rationale": "ok"}\n```', "correct", 1.0),
    ('My verdict: {"label": " neutral ", "score": 7}', "neutral", None),  # a score outside [0, 1] is dropped
    ('{"x": {"label": "correct"}} then {"label": "incorrect"}', "incorrect", None),
])
def test_step_answers_parse_robustly(text, label, score):
    judged = parse_step_answer(text)
    assert (judged.label.value, judged.score) == (label, score)


@pytest.mark.parametrize("text", ["looks good", '{"label": "mostly right"}', '{"label": true}', "[1, 2]",
                                  '{"label": "correct"'])
def test_step_answers_that_name_no_valid_label_are_rejected(text):
    with pytest.raises(MalformedAnswer):
        parse_step_answer(text)


def test_trajectory_answers_keep_valid_items_and_say_what_is_missing():
    text = json.dumps([{"step": 0, "label": "correct"}, {"step": 2, "label": "maybe"}, {"step": 9, "label": "correct"}])
    found, problem = parse_trajectory_answer(text, [0, 1, 2])
    assert set(found) == {0} and "step 2" in problem and "unexpected item" in problem and "steps 1, 2" in problem
    found, problem = parse_trajectory_answer('{"steps": [{"step": 1, "label": "incorrect"}]}', [1])
    assert found[1].label is Label.incorrect and problem is None


# ------------------------------------------------------------------------------------ prompts, context


def test_templates_are_versioned_package_files_with_their_hash():
    template = load_template("per-step-v1")
    from importlib import resources

    raw = resources.files("srft_format.annotators").joinpath("prompts", "per-step-v1.j2").read_bytes()
    assert template.sha256 == sha256_hex(raw)
    with pytest.raises(SrftError, match="no prompt template 'nope'"):
        load_template("nope")


def test_long_contexts_are_cut_by_the_documented_strategy_and_say_so(corpus_dataset):
    rendered = render_trajectory(corpus_trajectory(corpus_dataset, PYDICOM))
    task, context, info = step_context(rendered, 11, 2000, with_observation=True, overhead=300)
    assert info.truncated and info.omitted_steps and info.omitted_steps == list(range(info.omitted_steps[-1] + 1))
    assert "## Step 11" in context and "## Step 10" in context  # the step and the most recent steps stay
    assert f"steps {info.to_dict()['omitted_steps']} left out to fit the context" in context
    assert info.tokens <= 2000 and approx_tokens(task) <= 500
    _, full, untouched = step_context(rendered, 3, 100_000, with_observation=False, overhead=300)
    assert not untouched.truncated and "## Step 0" in full and "Environment answer to step 3" not in full
    windows = trajectory_windows(rendered, 4000, overhead=300)
    assert [s for w in windows for s in w[2]] == list(range(12)) and len(windows) > 1
    assert all(w[3].tokens <= 4000 for w in windows) and windows[1][3].omitted_steps == list(range(windows[1][2][0]))


def test_truncation_is_recorded_in_each_verdict(data, monkeypatch):
    from chat_server import ChatServer

    monkeypatch.setenv("K", "k")
    with ChatServer() as server:
        invoke("annotate", data, "--critic", "openai", "--model", "m", "--base-url", server.base_url,
               "--api-key-env", "K", "--max-context-tokens", "1500", "--limit", "1")
    contexts = [v.extra["context"] for v in Dataset.open(data).verdicts()]
    assert any(c["truncated"] and c.get("omitted_steps") for c in contexts)
    assert all(c["tokens"] <= 1500 for c in contexts)


# ------------------------------------------------------------------------------------- outcome, rules


def test_outcome_labels_every_step_of_resolved_trajectories_only(tmp_path):
    write_dataset(tmp_path / "d", [make_trajectory("won", 3, resolved=True), make_trajectory("lost", 3),
                                   make_trajectory("unknown", 2, resolved=None)])
    out = json.loads(invoke("annotate", tmp_path / "d", "--critic", "outcome", "--json"))
    verdicts = list(Dataset.open(tmp_path / "d").verdicts())
    assert {(v.trajectory, v.step, v.label.value) for v in verdicts} == {("won", i, "correct") for i in range(3)}
    assert out["labeled"] == 3 and out["no_verdict"] == 5
    assert Dataset.open(tmp_path / "d").annotators["outcome"].kind.value == "outcome"


def test_batches_commit_as_they_go(data):
    run = AnnotationRun(data, RuleCritic())
    stats = asyncio.run(annotate(run, batch_steps=2, batch_seconds=3600))
    assert stats.committed == 5 and stats.batches == 3  # 2 + 2 + 1


def test_same_id_with_another_definition_is_refused(data):
    invoke("annotate", data, "--critic", "rules", "--rules", "empty_submit")
    result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "rules"])
    assert result.exit_code != 0 and "already declared with a different definition" in str(result.exception)


def test_prefilter_skips_steps_the_rules_rejected(data):
    from chat_server import ChatServer

    invoke("annotate", data, "--critic", "rules")
    with ChatServer() as server:
        plan = json.loads(invoke("annotate", data, "--critic", "openai", "--model", "m", "--base-url",
                                 server.base_url, "--prefilter", "rules", "--dry-run", "--json"))
    steps = Dataset.open(data).manifest.counts.steps
    assert plan["prefiltered"] == 5 and plan["calls"] == steps - 5


# --------------------------------------------------------------------------------------------- human


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_human_sheet_round_trip(data, tmp_path, suffix):
    sheet = tmp_path / f"sheet{suffix}"
    invoke("annotate", data, "--critic", "human", "--annotator-id", "alice", "--export-sheet", sheet, "--limit", "2")
    if suffix == ".csv":
        rows = list(csv.DictReader(sheet.open(newline="")))
    else:
        rows = [json.loads(line) for line in sheet.read_text().splitlines()]
    assert len(rows) == 2 + 12 and rows[0]["task"] and "step_text" in rows[0]
    rows[0].update(label="incorrect", score="0.2", rationale="wrong file")
    rows[3].update(label="Correct")
    if suffix == ".csv":
        with sheet.open("w", newline="") as f:
            writer = csv.DictWriter(f, rows[0].keys())
            writer.writeheader()
            writer.writerows(rows)
    else:
        sheet.write_text("".join(json.dumps(r) + "\n" for r in rows))
    invoke("annotate", data, "--critic", "human", "--annotator-id", "alice", "--import-sheet", sheet)
    ds = Dataset.open(data)
    got = {(v.trajectory, v.step): v for v in ds.verdicts()}
    assert set(got) == {(rows[0]["trajectory"], int(rows[0]["step"])), (rows[3]["trajectory"], int(rows[3]["step"]))}
    first = got[(rows[0]["trajectory"], int(rows[0]["step"]))]
    assert (first.label.value, first.score, first.rationale) == ("incorrect", 0.2, "wrong file")
    assert ds.annotators["alice"].kind.value == "human"


def test_bad_sheet_label_names_file_line_and_field(data, tmp_path):
    sheet = tmp_path / "bad.csv"
    sheet.write_text("trajectory,step,label\nt,0,correct\nt,1,great\n")
    result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "human", "--annotator-id", "bob",
                                      "--import-sheet", str(sheet)])
    assert result.exit_code != 0
    assert str(result.exception).startswith(f"{sheet}:3: label: label must be one of")


def test_sheet_rows_for_unknown_steps_are_refused(data, tmp_path):
    sheet = tmp_path / "stray.jsonl"
    sheet.write_text(json.dumps({"trajectory": "no-such-trajectory", "step": 0, "label": "correct"}) + "\n")
    result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "human", "--annotator-id", "bob",
                                      "--import-sheet", str(sheet)])
    assert result.exit_code != 0 and "1 labeled row(s) name no step of the dataset" in str(result.exception)
    assert Dataset.open(data).manifest.counts.verdicts == 0


# ------------------------------------------------------------------------------------------- verdicts


def test_srft_verdicts_resolves_with_the_trainers_policy_objects(data, tmp_path):
    invoke("annotate", data, "--critic", "rules")
    human = tmp_path / "h.jsonl"
    ds = Dataset.open(data)
    traj = next(t for t in ds.trajectories() if t.provenance.source_file == PYDICOM)
    human.write_text("".join(json.dumps({"trajectory": traj.id, "step": s, "label": lab}) + "\n"
                             for s, lab in [(5, "correct"), (6, "incorrect"), (8, "correct")]))
    invoke("annotate", data, "--critic", "human", "--annotator-id", "alice", "--import-sheet", human)
    for resolution in ("priority", "veto", "majority"):
        rows = json.loads(invoke("verdicts", data, "--annotator", "alice", "--annotator", "rules",
                                 "--resolution", resolution, "--format", "json"))
        policy = TrainingPolicy(verdicts=VerdictPolicy(("alice", "rules"), Resolution(resolution)))
        sidecar = Dataset.open(data).verdicts_by_trajectory()
        mine = {(r["trajectory"], r["step"]): r for r in rows}
        for t in Dataset.open(data).trajectories():
            weights = policy.step_weights(t, sidecar.get(t.id, []))
            assert [mine[(t.id, i)]["weight"] for i in range(len(t.steps))] == weights
        labels = {r["step"]: r["label"] for r in rows if r["trajectory"] == traj.id}
        expected_5 = {"priority": "correct", "veto": "incorrect", "majority": "incorrect"}[resolution]
        assert (labels[5], labels[6], labels[7], labels[8], labels[0]) == (expected_5, "incorrect", "incorrect",
                                                                           "correct", "-")
    summary = json.loads(invoke("verdicts", data, "--summary", "--format", "json"))
    assert summary["steps"] == Dataset.open(data).manifest.counts.steps


def test_simpy_empty_submit_reaches_the_verdicts_table(data):
    invoke("annotate", data, "--critic", "rules")
    out = invoke("verdicts", data, "--format", "csv")
    simpy_id = next(t.id for t in Dataset.open(data).trajectories() if t.provenance.source_file == SIMPY)
    assert f"{simpy_id},1,incorrect,0.0,rules,0.0" in out.splitlines()


def test_rule_run_on_a_copy_leaves_the_source_alone(data, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    invoke("annotate", copy, "--critic", "rules")
    assert Dataset.open(data).manifest.counts.verdicts == 0 and Dataset.open(copy).manifest.counts.verdicts == 5
