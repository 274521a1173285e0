"""The LLM critic against a real chat-completions server on 127.0.0.1: retries, concurrency, budget, resume."""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chat_server import ChatServer, Reply, label_for
from click.testing import CliRunner
from critic_data import small_corpus_dataset

from srft_format.annotators.modes import MODES
from srft_format.annotators.prompts import load_template
from srft_format.cli.main import cli
from srft_format.dataset import Dataset

KEY = "sk-srft-test-DO-NOT-STORE-4d1f0c"
SRFT = [sys.executable, "-m", "srft_format.cli.main"]


@pytest.fixture(scope="module")
def source(tmp_path_factory, corpus_dataset) -> Path:
    path = tmp_path_factory.mktemp("critic") / "source"
    small_corpus_dataset(path, corpus_dataset)
    return path


@pytest.fixture
def data(tmp_path, source) -> Path:
    path = tmp_path / "data"
    shutil.copytree(source, path)
    return path


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("CRITIC_KEY", KEY)


def trainable_steps(path: Path) -> set[tuple[str, int]]:
    return {(t.id, s.index) for t in Dataset.open(path).trajectories() for s in t.steps if not s.exclude}


def annotate(data: Path, server: ChatServer, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "openai", "--model", "critic-m",
                                      "--base-url", server.base_url, "--api-key-env", "CRITIC_KEY", "--json",
                                      "--annotator-id", "llm", *args])
    summary = json.loads(result.stdout[result.stdout.index("{"):]) if "{" in result.stdout else {}
    return result.exit_code, summary


def verdict_keys(data: Path, annotator: str = "llm") -> list[tuple[str, int]]:
    return [(v.trajectory, v.step) for v in Dataset.open(data).verdicts() if v.annotator == annotator]


@pytest.mark.parametrize("mode", ["per-step", "trajectory"])
def test_labels_every_step_with_the_servers_answer(data, key_env, mode):
    with ChatServer() as server:
        code, summary = annotate(data, server, "--mode", mode)
    assert code == 0, summary
    steps = trainable_steps(data)
    ds = Dataset.open(data)
    verdicts = list(ds.verdicts())
    assert {(v.trajectory, v.step) for v in verdicts} == steps and len(verdicts) == len(steps)
    assert all(v.label.value == label_for(v.step) for v in verdicts)
    assert all("tokens" in v.extra["context"] for v in verdicts)
    declared = ds.annotators["llm"]
    template = load_template(MODES[mode].template)
    assert (declared.prompt, declared.prompt_sha256, declared.model) == (template.name, template.sha256, "critic-m")
    calls = len(steps) if mode == "per-step" else server.count
    assert server.count == calls and summary["requests"] == calls
    if mode == "trajectory":
        assert server.count < len(steps) / 3


def test_retries_500_429_timeouts_and_unreadable_bodies(data, key_env):
    faults = {0: Reply(status=500, body=b'{"error": {"message": "boom"}}'),
              1: Reply(status=429, body=b'{"error": {"message": "slow down"}}'),
              2: Reply(delay=3.0),  # outlasts --timeout
              3: Reply(body=b'{"choices": [ {"mess')}

    with ChatServer(lambda request, n: faults.get(n, Reply())) as server:
        code, summary = annotate(data, server, "--timeout", "0.5", "--concurrency", "1")
    assert code == 0, summary
    steps = trainable_steps(data)
    assert sorted(verdict_keys(data)) == sorted(steps)
    assert summary["retries"] == 4 and summary["requests"] == len(steps) + 4
    assert server.count == len(steps) + 4
    assert summary["errors"] == {"HTTP 500": 1, "HTTP 429": 1, "APITimeoutError": 1, "JSONDecodeError": 1}


def test_endpoint_that_keeps_failing_stops_the_run_keeping_nothing_invented(data, key_env):
    with ChatServer(lambda request, n: Reply(status=503, body=b"{}")) as server:
        code, summary = annotate(data, server, "--max-retries", "2", "--concurrency", "1")
    assert code == 2 and "HTTP 503 after 2 retries" in summary["stopped"]
    assert server.count == 3 and verdict_keys(data) == []


def test_malformed_answer_is_reasked_once_then_recorded_unknown(data, key_env):
    def script(request, n):
        prompt = request["messages"][0]["content"]
        reask = len(request["messages"]) > 1
        if "Judge ONE step, step 1." in prompt and not reask:
            return Reply(content="Looks fine to me.")  # fixed by the re-ask
        if "Judge ONE step, step 4." in prompt:
            return Reply(content='{"label": "probably ok"}')  # never usable: never invent a label
        return Reply()

    with ChatServer(script) as server:
        code, summary = annotate(data, server, "--limit", "1")
    assert code == 0, summary
    verdicts = {v.step: v for v in Dataset.open(data).verdicts()}
    assert verdicts[1].label.value == "correct" and verdicts[1].extra["reasked"] is True
    assert verdicts[4].label.value == "unknown" and verdicts[4].score is None
    assert "label must be one of correct, incorrect, neutral, got 'probably ok'" in verdicts[4].rationale
    assert verdicts[0].label.value == "correct" and "reasked" not in verdicts[0].extra
    assert server.count == len(verdicts) + 2


def test_concurrency_limit_is_respected(data, key_env):
    with ChatServer(lambda request, n: Reply(delay=0.15)) as server:
        code, _ = annotate(data, server, "--concurrency", "3", "--limit", "2")
    assert code == 0
    assert server.max_in_flight == 3


def test_request_budget_stops_then_resumes_without_duplicates(data, key_env):
    with ChatServer() as server:
        code, summary = annotate(data, server, "--max-requests", "5", "--concurrency", "2")
        assert code == 2 and "request budget spent" in summary["stopped"]
        assert server.count == 5 and len(verdict_keys(data)) == 5
        code, summary = annotate(data, server)
    assert code == 0
    keys = verdict_keys(data)
    assert len(keys) == len(set(keys)) and set(keys) == trainable_steps(data)
    assert summary["already_labeled"] == 5 and server.count == len(keys)


def test_cost_budget_is_never_exceeded(data, key_env):
    # Each answer uses 20 completion tokens ($0.02 at $1000/M); the worst case of a request is 100 tokens ($0.10).
    # A request goes out only while spent + $0.10 <= $0.25: after 0, 1, ... 7 answers ($0.14) -> 8 requests.
    with ChatServer() as server:
        code, summary = annotate(data, server, "--max-cost", "0.25", "--price-in", "0", "--price-out", "1000",
                                 "--max-tokens", "100", "--concurrency", "1")
    assert code == 2 and "cost budget spent" in summary["stopped"]
    assert server.count == 8 and summary["cost_usd"] == pytest.approx(0.16)


def test_response_cache_makes_repeats_free(data, tmp_path, source, key_env):
    with ChatServer() as server:
        annotate(data, server, "--limit", "2")
        first = server.count
        fresh = tmp_path / "fresh"
        shutil.copytree(source, fresh)
        shutil.copytree(data / ".srft-cache", fresh / ".srft-cache")
        code, summary = annotate(fresh, server, "--limit", "2")
    assert code == 0 and server.count == first
    assert summary["cache_hits"] == first and summary["requests"] == 0
    assert sorted(verdict_keys(fresh)) == sorted(verdict_keys(data))


def test_dry_run_counts_calls_and_tokens_and_sends_nothing(data):
    plans = {}
    with ChatServer() as server:
        for mode in ("per-step", "trajectory"):
            result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "openai", "--model", "m",
                                              "--base-url", server.base_url, "--mode", mode, "--dry-run", "--json"])
            assert result.exit_code == 0, result.output
            plans[mode] = json.loads(result.stdout)
    assert server.count == 0 and not (data / ".srft-cache").exists() and verdict_keys(data) == []
    steps = len(trainable_steps(data))
    assert plans["per-step"]["calls"] == steps and plans["per-step"]["steps_to_label"] == steps
    assert plans["trajectory"]["calls"] < steps
    assert plans["trajectory"]["prompt_tokens"] * 3 < plans["per-step"]["prompt_tokens"]


def test_missing_api_key_is_a_clear_error(data, monkeypatch):
    monkeypatch.delenv("CRITIC_KEY", raising=False)
    with ChatServer() as server:
        result = CliRunner().invoke(cli, ["annotate", str(data), "--critic", "openai", "--model", "m",
                                          "--base-url", server.base_url, "--api-key-env", "CRITIC_KEY"])
    assert result.exit_code != 0 and "CRITIC_KEY is not set" in str(result.exception or result.output)
    assert server.count == 0


def test_kill_mid_run_then_resume_loses_and_duplicates_nothing(data):
    env = {**os.environ, "CRITIC_KEY": KEY}
    command = [*SRFT, "annotate", str(data), "--critic", "openai", "--model", "m", "--annotator-id", "llm",
               "--api-key-env", "CRITIC_KEY", "--concurrency", "2", "--batch-size", "3", "--batch-seconds", "0.2"]
    with ChatServer(lambda request, n: Reply(delay=0.1)) as server:
        proc = subprocess.Popen([*command, "--base-url", server.base_url], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while Dataset.open(data).manifest.counts.verdicts < 6:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_with = Dataset.open(data).manifest.counts.verdicts
        assert 6 <= killed_with < len(trainable_steps(data))
        done = subprocess.run([*command, "--base-url", server.base_url, "--json"], env=env, capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    keys = verdict_keys(data)
    assert len(keys) == len(set(keys)) and set(keys) == trainable_steps(data)
    assert json.loads(done.stdout)["already_labeled"] == killed_with
    assert all(h.get("authorization") == f"Bearer {KEY}" for h in server.headers)
    leaked = [p for p in data.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == []
    assert (data / ".srft-cache").is_dir()


def test_trajectory_mode_keeps_valid_items_and_marks_missing_steps_unknown(data, key_env):
    def script(request, n):
        prompt = request["messages"][0]["content"]
        asked = re.search(r"for exactly these steps: ([\d, ]+)", prompt).group(1).replace(" ", "").split(",")
        items = [{"step": int(s), "label": label_for(int(s))} for s in asked if s != "1"]  # step 1 never answered
        return Reply(content=json.dumps(items))

    with ChatServer(script) as server:
        code, summary = annotate(data, server, "--mode", "trajectory", "--limit", "1")
    assert code == 0, summary
    verdicts = {v.step: v for v in Dataset.open(data).verdicts()}
    assert verdicts[1].label.value == "unknown" and "no valid answer for steps 1" in verdicts[1].rationale
    assert all(v.label.value == label_for(s) for s, v in verdicts.items() if s != 1)
    assert verdicts[1].extra["reasked"] is True
    reasks = [r for r in server.requests if len(r["messages"]) > 1]
    assert len(reasks) == 1 and "no valid answer for steps 1" in reasks[0]["messages"][-1]["content"]


def test_a_request_the_endpoint_rejects_becomes_unknown_not_a_stop(data, key_env):
    too_long = b'{"error": {"message": "This model\'s maximum context length is 4096 tokens"}}'

    def script(request, n):
        return Reply(status=400, body=too_long) if "Judge ONE step, step 3." in request["messages"][0]["content"] \
            else Reply()

    with ChatServer(script) as server:
        code, summary = annotate(data, server, "--limit", "1")
    assert code == 0 and summary["errors"] == {"HTTP 400": 1}
    verdicts = {v.step: v for v in Dataset.open(data).verdicts()}
    assert verdicts[3].label.value == "unknown" and "maximum context length" in verdicts[3].rationale
    assert all(v.label.value == label_for(s) for s, v in verdicts.items() if s != 3)
