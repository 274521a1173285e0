"""The Label Studio round trip against a real Label Studio server on 127.0.0.1 (SQLite, temp data dir).

Label Studio runs from its own venv (``make label-studio`` builds ``.venv-label-studio``; its pins clash with
srft's), and only its HTTP API is used: a project with srft's labeling config, srft's tasks imported,
annotations posted as two users, the JSON export read back into srft and compared with what was posted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import REPO
from srft_format.dataset import Dataset

pytestmark = pytest.mark.slow
TOKEN = "srft-test-token-0123456789abcdef"
TIMINGS: dict[str, float] = {}
CHOICES = ("correct", "incorrect", "neutral", "unsure")
LABELS = {"correct": "correct", "incorrect": "incorrect", "neutral": "neutral", "unsure": "unknown"}


@dataclass
class Server:
    url: str
    http: httpx.Client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory) -> Iterator[Server]:
    exe = Path(os.environ.get("SRFT_LABEL_STUDIO", REPO / ".venv-label-studio" / "bin" / "label-studio"))
    if not exe.exists():
        pytest.fail(f"{exe} is missing: `make label-studio` builds Label Studio's own venv (make test does)")
    data = tmp_path_factory.mktemp("label-studio")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data / "server.log", "wb")
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port), "--data-dir",
         str(data / "data"), "--username", "alice@example.com", "--password", "srft-test-pass-1",
         "--user-token", TOKEN, "--enable-legacy-api-token"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data / "data")})
    http = httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=60)
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Label Studio exited with {proc.returncode}: {(data / 'server.log').read_text()[-3000:]}")
            try:
                if http.get("/api/projects/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - started > 600:
                pytest.fail("Label Studio did not answer within 600 s")
            time.sleep(1)
        TIMINGS["server start (migrations on a fresh SQLite)"] = time.monotonic() - started
        yield Server(url, http)
    finally:
        http.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        print("\nLabel Studio round trip timings: " + json.dumps({k: round(v, 2) for k, v in TIMINGS.items()}))


def _ok(response: httpx.Response) -> dict | list:
    assert response.status_code in (200, 201), (response.status_code, response.text[:500])
    return response.json()


def _project(server: Server, title: str, config: str, tasks: list[dict]) -> list[dict]:
    """A project with ``config``, the ``tasks`` imported; its tasks as the server holds them."""
    project = _ok(server.http.post("/api/projects/", json={"title": title, "label_config": config}))
    _ok(server.http.post(f"/api/projects/{project['id']}/import", json=tasks))
    listed = _ok(server.http.get("/api/tasks/", params={"project": project["id"], "page_size": 1000}))
    return sorted(listed["tasks"], key=lambda t: t["id"]), project["id"]


def _annotate(server: Server, task_id: int, user: int | None, choice: str | None = None, rationale: str | None = None,
              cancelled: bool = False) -> None:
    result = []
    if choice:
        result.append({"from_name": "srft_label", "to_name": "srft_step", "type": "choices",
                       "value": {"choices": [choice]}})
    if rationale:
        result.append({"from_name": "srft_rationale", "to_name": "srft_step", "type": "textarea",
                       "value": {"text": [rationale]}})
    body = {"result": result, "was_cancelled": cancelled, **({"completed_by": user} if user else {})}
    _ok(server.http.post(f"/api/tasks/{task_id}/annotations/", json=body))


def _export(server: Server, project: int, path: Path) -> Path:
    response = server.http.get(f"/api/projects/{project}/export", params={"exportType": "JSON"})
    assert response.status_code == 200, response.text[:500]
    path.write_bytes(response.content)
    return path


@pytest.fixture
def dataset(tmp_path, gold, srft) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in ("3.json", "7.json"):  # two Who&When hand-crafted runs
        (folder / name).write_bytes((gold / "who-and-when" / "Hand-Crafted" / name).read_bytes())
    assert srft("convert", folder, "-o", tmp_path / "data").code == 0
    return tmp_path / "data"


def test_round_trip_through_a_real_label_studio(label_studio, dataset, tmp_path, srft):
    sheet = tmp_path / "sheet"
    assert srft("sample", dataset, "--steps", "8", "--seed", "1", "--labelers", "alice,bob", "--double", "1",
                "-o", sheet).code == 0
    run = srft("label", "export", dataset, sheet)
    assert run.code == 0, run.stderr
    tasks = json.loads((sheet / "label-studio-tasks.json").read_text())
    assert len(tasks) == 8 and all(t["data"]["labelers"] == "alice, bob" or t["data"]["labelers"] == "bob, alice"
                                   for t in tasks)

    t0 = time.monotonic()
    held, project = _project(label_studio, "srft steps", (sheet / "label-studio-config.xml").read_text(), tasks)
    TIMINGS["create project + import 8 tasks"] = time.monotonic() - t0
    assert [(t["data"]["srft_trajectory"], t["data"]["srft_step"]) for t in held] == \
        [(t["data"]["srft_trajectory"], t["data"]["srft_step"]) for t in tasks]
    bob = _ok(label_studio.http.post("/api/users/", json={"email": "bob@example.com", "username": "bob@example.com",
                                                           "password": "srft-test-pass-2"}))["id"]

    t0 = time.monotonic()
    expected: dict[tuple[str, int, str], tuple[str, str]] = {}
    for i, task in enumerate(held):
        key = (task["data"]["srft_trajectory"], task["data"]["srft_step"])
        if i == 5:
            _annotate(label_studio, task["id"], None, cancelled=True)  # alice skips it: no label
        else:
            choice = CHOICES[i % 4]
            _annotate(label_studio, task["id"], None, choice, f"alice on task {i}")
            expected[(*key, "alice")] = (LABELS[choice], f"alice on task {i}")
        if i == 3:
            _annotate(label_studio, task["id"], bob, None, "bob could not decide")  # no choice: no label
            continue
        if i == 0:
            _annotate(label_studio, task["id"], bob, "correct", "bob's first thought")  # superseded below
        choice = "incorrect" if i % 2 else "unsure"
        _annotate(label_studio, task["id"], bob, choice, f"bob on task {i}")
        expected[(*key, "bob")] = (LABELS[choice], f"bob on task {i}")
    TIMINGS["post 16 annotations as two users"] = time.monotonic() - t0

    t0 = time.monotonic()
    export = _export(label_studio, project, tmp_path / "export.json")
    TIMINGS["export JSON"] = time.monotonic() - t0
    t0 = time.monotonic()
    run = srft("label", "import", export, dataset, "--user", "1=alice", "--user", f"{bob}=bob")
    TIMINGS["srft label import"] = time.monotonic() - t0
    assert run.code == 0, run.stderr
    assert "14 verdict(s) imported, 0 already imported; 8 task(s), 0 without a label; 1 skipped and 1 empty" \
           in run.stderr and "1 older annotation(s) superseded" in run.stderr

    ds = Dataset.open(dataset)
    got = {(v.trajectory, v.step, v.annotator): (v.label.value, v.rationale) for v in ds.verdicts()}
    assert got == expected
    assert {a.id: a.kind.value for a in ds.manifest.annotators if a.id in ("alice", "bob")} == \
        {"alice": "human", "bob": "human"}
    unsure = [v for v in ds.verdicts() if v.label.value == "unknown"]
    assert unsure and all(v.extra["choice"] == "unsure" and v.rationale for v in unsure)

    again = srft("label", "import", export, dataset, "--user", "1=alice", "--user", f"{bob}=bob")
    assert again.code == 0 and "0 verdict(s) imported, 14 already imported" in again.stderr
    assert sum(1 for _ in Dataset.open(dataset).verdicts()) == 14

    agreement = srft("eval-critic", dataset, "--critic", "bob", "--gold", "alice", "--format", "json",
                     "--resamples", "100")
    assert agreement.code == 0, agreement.stderr
    assert json.loads(agreement.stdout)["critics"][0]["steps"] == 6  # both labeled: 8 less the skip and the empty


def test_an_export_from_another_labeling_config_is_one_line(label_studio, dataset, tmp_path, srft):
    config = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
              '<Choice value="positive"/><Choice value="negative"/></Choices></View>')
    held, project = _project(label_studio, "sentiment", config, [{"data": {"text": "great tool"}}])
    _ok(label_studio.http.post(f"/api/tasks/{held[0]['id']}/annotations/", json={"result": [
        {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["positive"]}}]}))
    export = _export(label_studio, project, tmp_path / "other.json")
    run = srft("label", "import", export, dataset)
    assert run.code == 1
    assert run.stderr.strip().splitlines() == [
        f"error: {export}: [0].data: task has no data.srft_trajectory / data.srft_step: not an export of tasks made "
        "by `srft label export` (another labeling config?)"]
