"""srft redact: planted secrets of every kind are replaced everywhere, and the real corpus stays intact.

Secret values are generated at run time from a seeded RNG, so no key-shaped literal sits in the source.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

import pytest
from sharing import attempts, critic

from srft_format.dataset import Dataset, DatasetWriter
from srft_format.models import ImagePart, Message, TextPart, Trajectory, Verdict
from srft_format.redact import MARKER, Redactor, is_redacted, redact_dataset, redact_trajectory
from srft_format.secrets import PATTERNS

RNG = random.Random(20250101)
ALNUM = string.ascii_letters + string.digits


def _token(n: int, alphabet: str = ALNUM) -> str:
    """Random text with a character of each class the alphabet has (upper, lower, digit), as generated keys."""
    classes = [c for c in (str.isdigit, str.islower, str.isupper) if any(c(ch) for ch in alphabet)]
    while True:
        value = "".join(RNG.choice(alphabet) for _ in range(n))
        if all(any(c(ch) for ch in value) for c in classes):
            return value


def _b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


_PEM_BODY = "\n".join(_token(64, ALNUM + "+/") for _ in range(4))
_KEY_TYPE = "OPENSSH PRIVATE KEY"

PLANTED: dict[str, tuple[str, str]] = {
    # kind: (text the agent saw, the secret in it)
    "openai-key": ("export OPENAI_API_KEY={}", "sk-" + "proj-" + _token(56, ALNUM + "_-")),
    "anthropic-key": ("key: {}", "sk-" + "ant-api03-" + _token(90, ALNUM + "_-")),
    "aws-access-key": ("aws_access_key_id = {}", "AK" + "IA" + _token(16, string.ascii_uppercase + string.digits)),
    "aws-secret-key": ("aws_secret_access_key = {}", _token(40, ALNUM + "/+")),
    "github-token": ("git clone https://x:{}@github.com/o/r", "gh" + "p_" + _token(36)),
    "gitlab-token": ("GITLAB={}", "gl" + "pat-" + _token(20)),
    "slack-token": ("token {} ok", "xo" + "xb-" + "-".join(["".join(RNG.choices(string.digits, k=12))] * 2)
                    + "-" + _token(24)),
    "slack-webhook": ("notify {}", "https://hooks.slack.com/services/T" + _token(10, string.ascii_uppercase
                      + string.digits) + "/B" + _token(10, string.ascii_uppercase + string.digits) + "/" + _token(24)),
    "google-api-key": ("?key={}&q=1", "AI" + "za" + _token(35, ALNUM + "_-")),
    "huggingface-token": ("login --token {}", "h" + "f_" + _token(34)),
    "stripe-key": ("stripe.api_key = {}", "sk" + "_live_" + _token(24)),
    "jwt": ("cookie: session={}", "eyJ" + _b64url({"alg": "HS256"})[3:] + ".eyJ"
            + _b64url({"sub": _token(12), "exp": 1})[3:] + "." + _token(43, ALNUM + "_-")),
    "private-key": ("{}", f"-----BEGIN {_KEY_TYPE}-----\n{_PEM_BODY}\n-----END {_KEY_TYPE}-----"),
    "env-secret": ("DATABASE_PASSWORD={}", _token(18)),
    "secret-assignment": ('password = "{}"', "correct horse battery staple"),
    "url-credentials": ("DB=postgres://admin:{}@db.internal:5432/app", _token(14)),
    "auth-header": ("curl -H 'Authorization: Bearer {}' https://api", _token(40, ALNUM + "._-")),
    "high-entropy": ("SESSION_COOKIE_VALUE={}", _token(32)),
}
"""One planted secret per type the redactor reports (``secret-field`` is planted by key, below)."""
FIELD_SECRET = "tr0ub4dor & 3 more words"
"""A value that only its key (``api_key``) marks as secret."""
SECRETS = [secret for _, secret in PLANTED.values()] + [FIELD_SECRET]


def _leak_forms(secret: str) -> list[bytes]:
    """The bytes a leaked secret would show as: raw, JSON-escaped, and each line of a multi-line one."""
    forms = {secret, json.dumps(secret)[1:-1], *(line for line in secret.splitlines() if len(line) > 16)}
    return [form.encode() for form in forms]


def _plant(traj: Trajectory, text: str) -> Trajectory:
    """Put ``text`` in every kind of place a secret turns up: messages, parts, reasoning, tool arguments and
    results, task, patch, and extra fields at every level."""
    traj = traj.model_copy(deep=True)
    block = f"Here is what I found:\n{text}\nend"
    traj.task.problem_statement = block
    traj.outcome.patch = f"--- a/.env\n+++ b/.env\n+{text}\n"
    traj.agent.config = {"env": {"NOTE": text}, "api_key": FIELD_SECRET}
    traj.extra = {"raw": {"headers": [block]}, "nested": {"credentials": {"password": FIELD_SECRET}}}
    traj.messages[1] = Message(role="user", content=[TextPart(type="text", text=block)], extra={"log": text})
    assistant = traj.messages[2]
    assistant.reasoning = block
    assistant.tool_calls[0].arguments = json.dumps({"command": f"cat <<EOF\n{text}\nEOF", "env": {"X": text},
                                                    "api_key": FIELD_SECRET})
    traj.messages[3].content = block
    traj.steps[0].extra = {"stdout": [text]}
    return traj


@pytest.fixture(scope="module")
def planted_source(tmp_path_factory) -> Path:
    """One trajectory per secret type, with sidecar verdicts quoting the secret."""
    path = tmp_path_factory.mktemp("planted") / "source"
    annotator = critic("critic").model_copy(update={"parameters": {"base_url": "https://x", "api_key": FIELD_SECRET}})
    base = attempts(len(PLANTED), per_task=1)
    with DatasetWriter(path) as out:
        out.declare_annotator(annotator)
        for traj, (template, secret) in zip(base, PLANTED.values()):
            out.add(_plant(traj, template.format(secret)))
            out.add_verdict(traj.id, Verdict(step=0, annotator="critic", label="incorrect",
                                             rationale=f"it printed {template.format(secret)}"))
    return path


def _all_strings(value, out: list[str]) -> list[str]:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.append(k)
            _all_strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _all_strings(v, out)
    return out


def _assert_no_leak(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            leaked = [form for form in (f for s in SECRETS for f in _leak_forms(s)) if form in data]
            assert not leaked, f"{file} holds {leaked[0][:12]!r}..."


def _read_back_strings(path: Path) -> str:
    ds = Dataset.open(path)
    strings: list[str] = _all_strings(ds.manifest.model_dump(mode="json"), [])
    for traj in ds.trajectories():
        _all_strings(traj.model_dump(mode="json"), strings)
        for message in traj.messages:
            for call in message.tool_calls:
                _all_strings(json.loads(call.arguments), strings)  # still valid JSON
    for record in ds.verdicts():
        _all_strings(record.model_dump(mode="json"), strings)
    return "\n".join(strings)


@pytest.mark.parametrize("storage", ["parquet", "jsonl"])
def test_every_planted_secret_is_replaced_everywhere(planted_source, tmp_path, storage):
    out = tmp_path / "redacted"
    manifest, counts = redact_dataset(planted_source, out, storage=storage)

    text = _read_back_strings(out)
    for kind, (_, secret) in PLANTED.items():
        assert secret not in text, kind
        assert f"[REDACTED:{kind}]" in text
        assert counts[kind] >= 10, kind  # it was planted in 10+ places
    assert FIELD_SECRET not in text and counts["secret-field"] >= 3
    _assert_no_leak(out)  # raw bytes of every file (JSONL: the values themselves would be visible)
    assert manifest.extra[MARKER]["counts"] == dict(sorted(counts.items()))
    assert is_redacted(Dataset.open(out).manifest)
    assert "Here is what I found:" in text  # the rest of the text is intact


def test_source_really_held_the_secrets(planted_source):
    text = _read_back_strings(planted_source)
    assert all(secret in text for secret in SECRETS)


def test_redacted_dataset_is_valid_and_redaction_is_idempotent(planted_source, tmp_path):
    from srft_format.verify import verify_dataset

    redact_dataset(planted_source, tmp_path / "once")
    assert verify_dataset(tmp_path / "once").ok
    _, counts = redact_dataset(tmp_path / "once", tmp_path / "twice")
    assert sum(counts.values()) == 0
    once = {t.id: t for t in Dataset.open(tmp_path / "once").trajectories()}
    assert once == {t.id: t for t in Dataset.open(tmp_path / "twice").trajectories()}


def test_cli_prints_counts_never_values(planted_source, tmp_path, srft):
    run = srft("redact", planted_source, "-o", tmp_path / "out")
    assert run.code == 0
    assert "openai-key: " in run.stderr and f"secret(s) redacted in {len(PLANTED)} trajectories" in run.stderr
    assert not any(secret in run.stdout + run.stderr for secret in SECRETS)


def test_a_clean_trajectory_comes_back_unchanged():
    traj = attempts(1)[0]
    redacted, counts = redact_trajectory(traj)
    assert redacted is traj and not counts


def test_image_bytes_are_left_alone():
    # base64 text that happens to hold a key-shaped run must not be rewritten: that would corrupt the image
    url = "data:image/png;base64," + "iVBORw0KGgo" + PLANTED["google-api-key"][1] + "+AAAA"
    traj = attempts(1)[0]
    traj.messages[1] = Message(role="user", content=[TextPart(type="text", text="see"),
                                                     ImagePart(type="image", url=url)])
    redacted, counts = redact_trajectory(traj)
    assert redacted.messages[1].content[1].url == url and not counts


def test_tool_arguments_that_are_not_json_are_searched_as_text():
    redactor = Redactor()
    secret = PLANTED["github-token"][1]
    assert redactor.arguments(f"not json {secret}") == "not json [REDACTED:github-token]"
    assert redactor.arguments('{"a": 1,  "b": "x"}') == '{"a": 1,  "b": "x"}'  # untouched, formatting kept


@pytest.mark.parametrize("text", [
    "API_KEY=$OPENAI_API_KEY", "PASSWORD=${DB_PASSWORD}", 'api_key = os.environ["OPENAI_API_KEY"]',
    "TOKEN=<your-token>", "git commit 4f9c2e1b7a3d5f8e9c0b1a2d3e4f5a6b7c8d9e0f", "max_tokens: 4096",
    "sk-learn is not a key", "SECRET_KEY_LENGTH=64", "password = ''", "Authorization: Bearer $TOKEN",
    "PYTHONHASHSEED=0", "path/to/some_long_module_name_without_digits.py",
])
def test_lookalikes_are_left_alone(text):
    redactor = Redactor()
    assert redactor.text(text) == text and not redactor.counts


# The corpus: real agent logs, as raw files (all their strings, converted or not). Known false positives,
# documented in spec/redaction.md.
KNOWN_CORPUS_FALSE_POSITIVES = {
    ("openhands/All-Hands-AI__OpenHands__evaluation__benchmarks__swe_bench__examples__example_model_output.json",
     "secret-assignment"): 3,  # SECRET_KEY = 'fake-key...' in Django test settings the agent wrote
}


def _corpus_values(file: Path):
    """The decoded JSON documents of a corpus file, or its text when it is not JSON/JSONL."""
    text = file.read_text(errors="replace")
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return [text]


def test_no_false_positives_on_the_corpus_beyond_the_documented_few(corpus):
    found = {}
    for file in sorted(corpus.rglob("*")):
        if file.is_file() and file.suffix != ".md":
            redactor = Redactor()
            redactor.value(_corpus_values(file))
            for kind, n in redactor.counts.items():
                found[(file.relative_to(corpus).as_posix(), kind)] = n
    assert found == KNOWN_CORPUS_FALSE_POSITIVES


def test_the_converted_corpus_has_no_false_positives_and_comes_back_unchanged(corpus_dataset, tmp_path):
    manifest, counts = redact_dataset(corpus_dataset, tmp_path / "redacted")

    assert not counts
    assert manifest.counts == Dataset.open(corpus_dataset).manifest.counts
    assert list(Dataset.open(tmp_path / "redacted").trajectories()) == list(Dataset.open(corpus_dataset).trajectories())


def test_every_pattern_has_a_planted_example():
    assert {p.kind for p in PATTERNS} == set(PLANTED)


def test_convert_redacts_and_marks_only_fully_redacted_datasets(tmp_path):
    """`srft convert --redact`: secrets in the agent's logs never reach the dataset; an unredacted append
    removes the 'redacted' mark."""
    source = Path(__file__).parent.parent / "examples" / "sources" / "mini-swe-agent" / "demo__greeter-1.traj.json"
    data = json.loads(source.read_text())
    template, secret = PLANTED["openai-key"]
    data["messages"][-1]["content"] += "\n" + template.format(secret)
    leaky = tmp_path / "leaky.traj.json"
    leaky.write_text(json.dumps(data))
    from srft_format.converters.pipeline import convert_paths

    summary = convert_paths([str(leaky)], tmp_path / "ds", storage="jsonl", redact=True)
    assert summary.redactions == {"openai-key": 1}
    assert "redacted 1 secret(s): 1 openai-key" in summary.lines()
    _assert_no_leak(tmp_path / "ds")
    assert is_redacted(Dataset.open(tmp_path / "ds").manifest)
    convert_paths([str(source)], tmp_path / "ds")  # appended without --redact
    assert not is_redacted(Dataset.open(tmp_path / "ds").manifest)
