"""Critic modes against the real loopback chat server: what each prompt holds, prefix sharing, answer budgets,
cut answers, reasoning, first-error, user templates (and bad ones), --show-prompt, --list, evidence records."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from chat_server import ChatServer, Reply, default_content
from click.testing import CliRunner
from critic_data import MARSHMALLOW, PYDICOM, corpus_trajectory

from srft_format.annotators.context import approx_tokens
from srft_format.annotators.modes import MODES
from srft_format.annotators.prompts import load_template
from srft_format.cli.main import cli
from srft_format.dataset import Dataset, write_dataset
from srft_format.ids import sha256_hex
from srft_format.models import Evidence
from srft_format.tasks import join_tasks

GOLD = "diff --git a/pydicom/x.py b/pydicom/x.py\n+GOLD_FIX_MARKER = True\n"
FAILING = ["tests/test_numpy.py::test_GOLD_must_pass", "tests/test_numpy.py::test_other_must_pass"]


@pytest.fixture
def data(tmp_path, corpus_dataset) -> Path:
    """Two real corpus trajectories; the first gets a gold patch and FAIL_TO_PASS ids through `srft tasks`."""
    trajectories = [corpus_trajectory(corpus_dataset, name) for name in (PYDICOM, MARSHMALLOW)]
    path = tmp_path / "data"
    write_dataset(path, trajectories, storage="jsonl")
    rows = tmp_path / "tasks.jsonl"
    rows.write_text(json.dumps({"instance_id": trajectories[0].task.instance_id, "patch": GOLD,
                                "test_patch": "diff --git a/tests/test_numpy.py\n",
                                "FAIL_TO_PASS": json.dumps(FAILING), "PASS_TO_PASS": "[]"}) + "\n")
    join = join_tasks(path, rows)
    assert (join.matched, join.unmatched) == (1, 1)
    return path


def annotate(data: Path, server: ChatServer, *args: str):
    return CliRunner().invoke(cli, ["annotate", str(data), "--critic", "openai", "--model", "m", "--base-url",
                                    server.base_url, "--api-key-env", "K", "--annotator-id", "llm", *args])


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("K", "k")


def prompts_of(server: ChatServer) -> list[str]:
    return [r["messages"][0]["content"] for r in server.requests]


def test_hindsight_sees_the_whole_run_tests_and_gold_patch_per_step_sees_none(data):
    first = Dataset.open(data).trajectories().__next__()
    with ChatServer() as server:
        assert annotate(data, server, "--mode", "hindsight", "--limit", "1").exit_code == 0
    hindsight = prompts_of(server)
    assert len(hindsight) == len(first.steps)
    for prompt in hindsight:
        assert f"## Step {len(first.steps) - 1}" in prompt  # later steps
        assert all(test in prompt for test in FAILING) and "GOLD_FIX_MARKER" in prompt
        assert "# Outcome" in prompt and first.outcome.patch.strip()[:60] in prompt
    declared = Dataset.open(data).annotators["llm"]
    assert declared.evidence == [Evidence.prefix, Evidence.future, Evidence.outcome, Evidence.tests,
                                 Evidence.gold_patch]
    assert declared.prompt == "hindsight-v1" and declared.parameters["mode"] == "hindsight"

    with ChatServer() as server:
        assert annotate(data, server, "--mode", "per-step", "--limit", "1", "--annotator-id", "causal").exit_code == 0
    for n, prompt in enumerate(prompts_of(server)):
        step = int(re.search(r"Judge ONE step, step (\d+)", prompt).group(1))
        assert f"## Step {step + 1}\n" not in prompt and "GOLD_FIX_MARKER" not in prompt
        assert not any(test in prompt for test in FAILING) and "# Outcome" not in prompt
        shown = [int(s) for s in re.findall(r"^## Step (\d+)$", prompt, re.MULTILINE)]
        assert shown == sorted(shown) and shown[-1] == step  # earlier steps oldest first, the judged one last
    assert Dataset.open(data).annotators["causal"].evidence == [Evidence.prefix]


def common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def test_hindsight_prompts_of_one_trajectory_share_all_but_their_last_line(data):
    with ChatServer() as server:
        assert annotate(data, server, "--mode", "hindsight", "--limit", "1").exit_code == 0
    prompts = prompts_of(server)
    heads = {prompt.rsplit("\n", 1)[0] for prompt in prompts}
    assert len(prompts) > 1 and len(heads) == 1  # the same bytes up to the last line
    for n, prompt in enumerate(prompts):
        tail = prompt.rsplit("\n", 1)[1]
        assert tail == f"Judge ONE step, step {n}." and approx_tokens(tail) <= 8
        assert common_prefix(prompt, prompts[n - 1]) / len(prompt) > 0.99


def test_trajectory_windows_carry_an_account_of_earlier_steps_and_bigger_answer_budgets(data):
    with ChatServer() as server:
        result = annotate(data, server, "--mode", "trajectory", "--max-context-tokens", "3000", "--limit", "1")
        assert result.exit_code == 0, result.output
    assert len(server.requests) > 1

    def judged(prompt: str) -> list[int]:
        return [int(s) for s in re.search(r"for exactly these steps: ([\d, ]+)", prompt).group(1).split(", ")]

    # the windows are sent concurrently: put them in step order
    (first, *later) = sorted(zip(prompts_of(server), server.requests), key=lambda pair: judged(pair[0])[0])
    assert judged(first[0])[0] == 0 and "# Earlier steps" not in first[0]
    for prompt, request in later:
        steps = judged(prompt)
        assert "# Earlier steps" in prompt and re.search(rf"^step {steps[0] - 1}: ", prompt, re.MULTILINE)
        assert request["max_tokens"] >= 96 * len(steps)


def test_first_error_judges_up_to_the_mistake_and_leaves_the_rest_unknown(data):
    def script(request, n):
        return Reply(content=json.dumps([{"step": 0, "label": "correct"}, {"step": 1, "label": "neutral"},
                                         {"step": 2, "label": "incorrect", "rationale": "wrong fix"}]))

    with ChatServer(script=script) as server:
        assert annotate(data, server, "--mode", "first-error", "--limit", "1").exit_code == 0
    assert server.count == 1  # one call per trajectory, no re-ask: later steps may be left out
    assert "GOLD_FIX_MARKER" in prompts_of(server)[0]
    verdicts = {v.step: v for v in Dataset.open(data).verdicts()}
    assert [verdicts[s].label.value for s in range(3)] == ["correct", "neutral", "incorrect"]
    later = [verdicts[s] for s in range(3, len(verdicts))]
    assert later and all(v.label.value == "unknown" and "after the first decisive error (step 2)" in v.rationale
                         for v in later)


def test_an_answer_cut_at_max_tokens_is_asked_again_with_twice_the_budget_then_unknown(data):
    def once(request, n):  # the first answer per prompt is cut, the second is whole and carries reasoning
        return Reply(finish_reason="length", content='{"label": "corr') if request["max_tokens"] == 50 \
            else Reply(reasoning="the edit matches the traceback")

    with ChatServer(script=once) as server:
        assert annotate(data, server, "--limit", "1", "--max-tokens", "50").exit_code == 0
    assert sorted({r["max_tokens"] for r in server.requests}) == [50, 100]
    verdicts = list(Dataset.open(data).verdicts())
    assert verdicts and all(v.label.value != "unknown" and v.extra["cut_at_max_tokens"] == 50 for v in verdicts)
    assert all(v.extra["reasoning"] == "the edit matches the traceback" for v in verdicts)

    with ChatServer(script=lambda request, n: Reply(finish_reason="length", content="{")) as server:
        assert annotate(data, server, "--limit", "1", "--max-tokens", "50", "--annotator-id", "cut").exit_code == 0
    cut = [v for v in Dataset.open(data).verdicts() if v.annotator == "cut"]
    assert server.count == 2 * len(cut)  # asked twice each, never re-asked for JSON
    assert all(v.label.value == "unknown" and v.rationale == "answer cut at max_tokens twice (50, then 100)"
               for v in cut)


TEMPLATE = """Task: {{ task }}
{{ context }}
Evidence: {{ gold_patch or "none" }} | {{ tests.fail_to_pass | join(" ") }} | budget {{ limits.max_tokens }}
Judge ONE step, step {{ step }}.
"""


def test_a_user_template_renders_in_the_sandbox_and_is_recorded(data, tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text(TEMPLATE)
    with ChatServer() as server:
        result = annotate(data, server, "--mode", "hindsight", "--template", str(path), "--limit", "1")
        assert result.exit_code == 0, result.output
    assert all("GOLD_FIX_MARKER" in p and FAILING[0] in p and "budget 256" in p for p in prompts_of(server))
    declared = Dataset.open(data).annotators["llm"]
    assert (declared.prompt, declared.prompt_sha256) == ("mine.j2", sha256_hex(path.read_bytes()))
    # it reads no outcome: the declaration does not claim it
    assert declared.evidence == [Evidence.prefix, Evidence.future, Evidence.tests, Evidence.gold_patch]
    shown = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "openai", "--model", "m", "--base-url",
                                     server.base_url, "--mode", "hindsight", "--template", str(path),
                                     "--show-prompt", "2"])
    assert shown.exit_code == 0 and shown.stdout == server.requests[2]["messages"][0]["content"] + "\n"


BAD_TEMPLATES = [
    ("{% if step %}never closed", "line 1"),
    ("{{ nope }}", "unknown variable 'nope'"),
    ("{{ task.__class__.__mro__ }}", "not allowed in the sandbox"),
    ("{{ 'x' * 100000000 }}", "not allowed in the sandbox"),
    ("{% for i in range(100000) %}{{ context }}{% endfor %}", "the rendered text is longer than 4000000 characters"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "ran longer than"),
    ("{{ outcome }}", "which --mode per-step does not provide"),
]


@pytest.mark.parametrize("text, problem", BAD_TEMPLATES)
def test_a_bad_template_is_one_line_naming_it_and_the_problem(data, tmp_path, srft, text, problem, monkeypatch):
    monkeypatch.setenv("SRFT_RENDER_SECONDS", "2")  # the render deadline (default 60 s)
    path = tmp_path / "bad.j2"
    path.write_text(text)
    run = srft("annotate", data, "--critic", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
               "--template", path, "--show-prompt", "1")
    assert run.code == 1 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: template bad.j2: ") and problem in run.stderr
    assert "Traceback" not in run.stderr


def test_the_local_critic_refuses_what_it_cannot_run_by_name(data, srft):
    run = srft("annotate", data, "--critic", "local", "--mode", "hindsight")
    assert run.code == 1 and "the local critic cannot run --mode hindsight" in run.stderr
    run = srft("annotate", data, "--critic", "local", "--template", "first-error-v1")
    assert run.code == 1 and "cannot run template first-error-v1 (made for --mode first-error)" in run.stderr


def test_list_shows_every_critic_mode_and_its_evidence(srft):
    run = srft("annotate", "--list")
    assert run.code == 0
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["critic", "mode", "evidence", "template", "what"]
    for mode in MODES:
        row = next(line for line in lines if line.startswith("openai") and f" {mode} " in line)
        evidence = MODES[mode].evidence(load_template(MODES[mode].template))
        assert ", ".join(e.value for e in evidence) in row and MODES[mode].template in row
    assert any(line.startswith("rules") and "prefix, outcome" in line for line in lines)


def test_an_annotator_with_no_verdicts_is_still_declared(data):
    result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "outcome"])  # no trajectory resolved
    assert result.exit_code == 0, result.output
    ds = Dataset.open(data)
    assert "outcome" in ds.annotators and ds.manifest.counts.verdicts == 0


def test_default_content_still_answers_first_error_prompts():
    prompt = load_template("first-error-v1").render_empty(steps=[0, 1])
    assert json.loads(default_content({"messages": [{"content": prompt}]}))[1]["step"] == 1


def test_a_critic_declared_before_evidence_was_recorded_resumes_under_its_old_declaration(tmp_path, corpus_dataset):
    from srft_format.annotators.rules import RuleCritic

    old = RuleCritic("rules").annotator.model_copy(update={"evidence": []})  # as a 1.0 run declared it
    path = tmp_path / "old"
    write_dataset(path, [corpus_trajectory(corpus_dataset, PYDICOM)], annotators=[old], storage="jsonl")
    result = CliRunner().invoke(cli, ["annotate", str(path), "--critic", "rules"])
    assert result.exit_code == 0, result.output
    ds = Dataset.open(path)
    assert ds.annotators["rules"] == old and ds.manifest.counts.verdicts > 0
