"""The LLM critic with hostile inputs: a cache shipped inside a received dataset, an endpoint that echoes the API
key, an endpoint that rejects every request (the unknown verdicts are asked again on the next run)."""

from __future__ import annotations

import json

import orjson
from chat_server import ChatServer, Reply
from test_critic_http import KEY, annotate, data, key_env, source, verdict_keys  # noqa: F401  (fixtures)

from srft_format.annotators.cache import request_key
from srft_format.dataset import Dataset


def test_a_cache_shipped_with_a_dataset_is_not_trusted_and_hits_say_so(data, key_env, tmp_path, monkeypatch):
    from srft_format.annotators import cache as cache_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "sender"))  # the sender's machine
    cache_module.machine_secret.cache_clear()
    with ChatServer() as server:
        annotate(data, server, "--limit", "1", "--annotator-id", "seed")
    monkeypatch.delenv("XDG_CACHE_HOME")
    cache_module.machine_secret.cache_clear()
    cache = data / ".srft-cache" / "critic-seed.jsonl"
    entries = [orjson.loads(line) for line in cache.read_bytes().splitlines()]
    poisoned = [{**e, "text": '{"label": "incorrect", "rationale": "POISONED"}'} for e in entries]
    (data / ".srft-cache" / "critic-llm.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in poisoned))
    with ChatServer() as server:
        code, summary = annotate(data, server, "--limit", "1")
        assert code == 0 and summary["cache_hits"] == 0 and server.count == len(entries)
    verdicts = [v for v in Dataset.open(data).verdicts() if v.annotator == "llm"]
    assert verdicts and not any("POISONED" in (v.rationale or "") for v in verdicts)
    assert not any(v.extra.get("cache_hit") for v in verdicts)
    # a genuine hit of this machine's own cache is marked on the verdict
    (data / ".srft-cache" / "critic-llm.jsonl").rename(data / ".srft-cache" / "critic-again.jsonl")
    with ChatServer() as server:
        annotate(data, server, "--limit", "1", "--annotator-id", "again")
        assert server.count == 0
    again = [v for v in Dataset.open(data).verdicts() if v.annotator == "again"]
    assert again and all(v.extra.get("cache_hit") is True for v in again)


def test_the_cache_key_depends_on_this_machine(tmp_path, monkeypatch):
    from srft_format.annotators import cache

    request = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    here = request_key(request)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache.machine_secret.cache_clear()
    try:
        assert request_key(request) != here
        assert (tmp_path / "srft" / "cache-key").stat().st_mode & 0o777 == 0o600
    finally:
        cache.machine_secret.cache_clear()


def test_a_symlinked_cache_is_refused(data, key_env, tmp_path):
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    (data / ".srft-cache").mkdir()
    (data / ".srft-cache" / "critic-llm.jsonl").symlink_to(outside)
    with ChatServer() as server:
        code, _ = annotate(data, server, "--limit", "1")
    assert code == 1 and outside.read_text() == ""


def test_an_echoed_key_never_reaches_a_verdict_or_the_cache_and_failed_requests_are_asked_again(data, key_env):
    echo = json.dumps({"error": {"message": f"bad request; headers: Authorization: Bearer {KEY}"}}).encode()
    with ChatServer(lambda request, n: Reply(status=400, body=echo)) as server:
        code, summary = annotate(data, server, "--limit", "1")
    assert code == 1 and summary["labels"] == {"unknown": summary["labeled"]}
    leaked = [p for p in data.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == []
    failed = verdict_keys(data)
    with ChatServer() as server:
        code, summary = annotate(data, server, "--limit", "1")
    assert code == 0 and summary["retried_failed"] == len(failed) and server.count == len(failed)
    verdicts = [v for v in Dataset.open(data).verdicts() if v.annotator == "llm"]
    assert sorted(verdict_keys(data)) == sorted(failed) and all(v.label.value != "unknown" for v in verdicts)


def test_keep_failed_keeps_unknown_verdicts(data, key_env):
    with ChatServer(lambda request, n: Reply(status=400, body=b'{"error": {"message": "no"}}')) as server:
        annotate(data, server, "--limit", "1")
    with ChatServer() as server:
        code, summary = annotate(data, server, "--limit", "1", "--keep-failed")
    assert code == 0 and server.count == 0 and summary["retried_failed"] == 0
