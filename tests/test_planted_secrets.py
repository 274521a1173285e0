"""Planted secrets against every kind of output srft writes: none may survive a redacting pipeline.

Secrets of eleven kinds are planted in an agent log, in a source's version string, in a record that fails
conversion, and as the critic's own API key echoed back by an endpoint. The log is converted with --redact,
labeled by an LLM critic, and turned into every output (dataset files, error report, export, query result,
HTML report, dataset card, verify report, all of stdout and stderr). Survivors are listed by file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_server import ChatServer, Reply
from test_no_tracebacks import run_main

CRITIC_KEY = "sk-critic-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PLANTED = {
    "openai-key": "sk-proj-4fQ9zR2mX7vB1nK8pL3sT6wY0cE5hJ2dA9gU",
    "aws-access-key": "AKIAZ7Q4M2X9B6K1P3TW",
    "aws-secret-key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz8Kq2Lm4Np",
    "github-token": "ghp_7Yh2Kd9Qm4Xz1Rb8Wn5Tc3Vf6Lp0Ja2Se4Ug",
    "huggingface-token": "hf_Qx8Lm2Vr7Tn4Kc9Wb1Zp6Yd3Hs5Jf0Ga2Ek",
    "slack-token": "xoxb-2048617395-7735284910-Rk4Tq8Wz2Mn6Lp0Xc",
    "anthropic-key": "sk-ant-api03-Zq7Lm2Xr9Tv4Kn8Wb1Pc6Yd3Hs",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbjEyMyJ9.Tz8Kq2Lm4NpXr7Vb1Wc6Yd3",
    "url-password": "S3cr3tPassw0rdXq",
    "env-secret": "hunter2-Very-Secret-77",
    "version-token": "ghp_Vr9Tn4Kc1Wb8Zp6Yd3Hs5Jf0Ga2Ek7Qx2LmAb",
    "failed-record-key": "sk-proj-Hs5Jf0Ga2Ek7Qx8Lm2Vr7Tn4Kc9Wb1Zp6",
}


def _plant(corpus: Path, src: Path) -> None:
    log = json.loads(next((corpus / "mini-swe-agent").glob("*.traj.json")).read_text())
    text = (f"export OPENAI_API_KEY={PLANTED['openai-key']}\n"
            f"aws configure set aws_access_key_id {PLANTED['aws-access-key']}\n"
            f"aws configure set aws_secret_access_key {PLANTED['aws-secret-key']}\n"
            f"git clone https://{PLANTED['github-token']}@github.com/o/r\n"
            f"HF_TOKEN={PLANTED['huggingface-token']} SLACK={PLANTED['slack-token']}\n"
            f"client = Anthropic(api_key={PLANTED['anthropic-key']!r})\n"
            f"curl -H 'Authorization: Bearer {PLANTED['jwt']}' https://api.example.com\n"
            f"psql postgres://admin:{PLANTED['url-password']}@db.example.com/prod\n"
            f"DB_PASSWORD={PLANTED['env-secret']}\n")
    for message in log["messages"][2:6]:
        message["content"] = text + (message["content"] if isinstance(message["content"], str) else "")
    log["trajectory_format"] = f"mini-swe-agent-9 {PLANTED['version-token']}"
    (src / "planted.traj.json").write_text(json.dumps(log))
    (src / "broken.json").write_text(json.dumps({PLANTED["failed-record-key"]: 1, "messages": "x"}))


@pytest.mark.slow
def test_no_planted_secret_survives_any_output(corpus, tmp_path, monkeypatch):
    src, ds = tmp_path / "src", tmp_path / "ds"
    src.mkdir()
    _plant(corpus, src)
    monkeypatch.setenv("CRITIC_KEY", CRITIC_KEY)
    echo = json.dumps({"error": {"message": f"invalid request, headers: Authorization: Bearer {CRITIC_KEY}"}})
    printed = []

    def srft(*args: str, redacting: bool = True) -> None:
        code, output = run_main(*args)
        assert "Traceback" not in output, output
        if redacting:  # a conversion without --redact may echo the log it was given
            printed.append(output)

    srft("convert", str(src), "-o", str(ds), "--redact", "--on-error", "skip")
    srft("convert", str(src), "-o", str(tmp_path / "plain"), "--on-error", "skip", redacting=False)
    srft("redact", str(tmp_path / "plain"), "-o", str(tmp_path / "redacted"))
    with ChatServer(lambda request, n: Reply(status=400, body=echo.encode()) if n % 2 else Reply()) as server:
        srft("annotate", str(ds), "--critic", "openai", "--model", "m", "--base-url", server.base_url,
             "--api-key-env", "CRITIC_KEY", "--annotator-id", "llm", "--json")
    srft("export", str(ds), "--to", "openai", "--policy", "sft", "-o", str(tmp_path / "export.jsonl"))
    srft("query", str(ds), "SELECT * FROM messages", "--format", "jsonl", "-o", str(tmp_path / "q.jsonl"))
    srft("query", str(ds), "SELECT rationale FROM verdicts")
    srft("verdicts", str(ds))
    srft("report", str(ds), "-o", str(tmp_path / "report.html"))
    srft("card", str(ds))
    srft("verify", str(ds), "--json")
    srft("info", str(ds))

    planted = {**PLANTED, "critic-key": CRITIC_KEY}
    outputs = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*")
               if p.is_file() and not p.is_relative_to(src) and not p.is_relative_to(tmp_path / "plain")}
    outputs["stdout+stderr"] = "\n".join(printed).encode()
    assert (ds / "conversion-errors.jsonl").is_file() and any("redact" in o for o in printed)
    survivors = sorted(f"{kind} in {name}" for kind, value in planted.items() for name, data in outputs.items()
                       if value.encode() in data)
    print(f"planted {len(planted)} secrets, {len(outputs)} outputs; survivors: {len(survivors)}")
    assert survivors == [], survivors
