"""Attacks on srft as a hostile or careless user would make them (issue 18), each run through the CLI.

    python bench/attacks.py [SRFT_EXECUTABLE ...]      # default: this checkout's srft

Prints, per attack, whether the srft given is vulnerable (and what happened), then the totals and the
planted-secret survivors. Run it with an older srft (e.g. /work/main/.venv/bin/srft) to get the "before"
column; the datasets and inputs are the same for every executable.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from chat_server import ChatServer, Reply  # noqa: E402
from factories import make_trajectory  # noqa: E402

from srft_format.dataset import write_dataset  # noqa: E402

CORPUS = Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus"))
KEY = "sk-critic-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
Result = tuple[bool, str]
"""(vulnerable, what happened)"""


class Attacks:
    def __init__(self, srft: str, root: Path):
        self.srft, self.root = srft, root
        help_text = self.run("--help").stdout
        self.has_wait = "--wait" in help_text

    def run(self, *args: str, env: dict | None = None, timeout: float = 120, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
        def limit() -> None:  # a hostile template must not take the machine down
            resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

        try:
            return subprocess.run([self.srft, *args], capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "CRITIC_KEY": KEY, **(env or {})}, preexec_fn=limit, cwd=cwd)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, -9, "", "HANG (timeout)")

    def dataset(self, name: str, n: int = 3, resolved: bool = True) -> Path:
        path = self.root / name
        write_dataset(path, [make_trajectory(f"t-{i}", n_steps=3, resolved=resolved) for i in range(n)])
        return path

    def _entry(self, ds: Path, value: str) -> None:
        manifest = json.loads((ds / "manifest.json").read_text())
        manifest["files"][0]["path"] = value
        (ds / "manifest.json").write_text(json.dumps(manifest))

    def _outside_entry(self, name: str, value: Callable[[Path, Path], str]) -> Result:
        outside = self.dataset(name + "-outside", n=5)
        ds = self.dataset(name, n=2)
        self._entry(ds, value(ds, outside))
        verify = self.run("verify", str(ds))
        query = self.run("query", str(ds), "SELECT count(*) AS n FROM trajectories", "--format", "csv")
        leaked = query.returncode == 0 and query.stdout.strip().endswith("5")
        return leaked or verify.returncode == 0, f"verify exit {verify.returncode}; query counts outside: {leaked}"

    # -- 1. a received dataset reaches outside itself

    def entry_dotdot(self) -> Result:
        return self._outside_entry("dotdot", lambda ds, out: "../dotdot-outside/" + _first(out))

    def entry_absolute(self) -> Result:
        return self._outside_entry("absolute", lambda ds, out: str(out / _first(out)))

    def entry_symlink(self) -> Result:
        def link(ds: Path, out: Path) -> str:
            part = ds / "trajectories" / "part-link-00000.parquet"
            part.symlink_to(out / _first(out))
            return "trajectories/part-link-00000.parquet"

        return self._outside_entry("symlink", link)

    def verdicts_dir_symlink(self) -> Result:
        ds = self.dataset("vlink")
        victim = self.root / "victim"
        victim.mkdir()
        (victim / "precious.txt").write_text("keep")
        (ds / "verdicts").symlink_to(victim)
        run = self.run("annotate", str(ds), "--critic", "outcome")
        names = sorted(p.name for p in victim.iterdir())
        return names != ["precious.txt"], f"exit {run.returncode}; target now holds {names}"

    def cache_symlink(self) -> Result:
        ds = self.dataset("clink", n=1)
        outside = self.root / "outside-cache.jsonl"
        outside.write_text("")
        (ds / ".srft-cache").mkdir()
        (ds / ".srft-cache" / "critic-llm.jsonl").symlink_to(outside)
        with ChatServer() as server:
            self._openai(ds, server)
        size = outside.stat().st_size
        return size > 0, f"{size} bytes appended outside the dataset"

    def poisoned_cache(self) -> Result:
        sender = self.dataset("sender", n=2)
        with ChatServer() as server:
            self._openai(sender, server, env={"XDG_CACHE_HOME": str(self.root / "sender-home")})
        receiver = self.dataset("receiver", n=2)
        (receiver / ".srft-cache").mkdir()
        lines = (sender / ".srft-cache" / "critic-llm.jsonl").read_text().splitlines()
        poisoned = [json.dumps({**json.loads(line), "text": '{"label": "incorrect", "rationale": "POISONED"}'})
                    for line in lines]
        (receiver / ".srft-cache" / "critic-llm.jsonl").write_text("\n".join(poisoned) + "\n")
        with ChatServer() as server:
            self._openai(receiver, server)
            sent = server.count
        query = self.run("query", str(receiver), "SELECT count(*) FILTER (rationale = 'POISONED'), count(*) "
                         "FROM verdicts", "--format", "csv")
        poisoned_n, total = query.stdout.strip().splitlines()[-1].split(",")
        return int(poisoned_n) > 0, f"{poisoned_n} of {total} verdicts from the sender's answers, {sent} requests"

    def _openai(self, ds: Path, server: ChatServer, *args: str, env: dict | None = None
                ) -> subprocess.CompletedProcess:
        return self.run("annotate", str(ds), "--critic", "openai", "--model", "m", "--base-url", server.base_url,
                        "--api-key-env", "CRITIC_KEY", "--annotator-id", "llm", *args, env=env)

    # -- 2. SQL and templates that reach the machine

    def where_stacked_copy(self) -> Result:
        ds = self.dataset("sql1")
        target = self.root / "written-by-sql.csv"
        self.run("filter", str(ds), "-o", str(self.root / "f1"),
                 "--where", f"1=1); COPY (SELECT 42) TO '{target}'; SELECT (1")
        return target.exists(), f"file written: {target.exists()}"

    def where_read_text_oracle(self) -> Result:
        ds = self.dataset("sql2")
        run = self.run("filter", str(ds), "-o", str(self.root / "f2"),
                       "--where", "id IN (SELECT content FROM read_text('/etc/passwd'))")
        leaked = "root:" in run.stdout + run.stderr or (self.root / "f2").exists()
        ran = run.returncode == 0
        return leaked or ran, f"exit {run.returncode}; file read: {ran}; content in output: {'root:' in run.stderr}"

    def where_install(self) -> Result:
        ds = self.dataset("sql3")
        run = self.run("filter", str(ds), "-o", str(self.root / "f3"), "--where", "1=1); INSTALL httpfs; SELECT (1")
        tried = "download" in run.stderr.lower() or "http" in run.stderr.lower() and "must be one" not in run.stderr
        return tried, f"exit {run.returncode}: {run.stderr.strip().splitlines()[-1][:100] if run.stderr else ''}"

    def query_safe(self) -> Result:
        ds = self.dataset("sql4")
        run = self.run("query", str(ds), "--safe", "SELECT * FROM read_text('/etc/passwd')")
        return run.returncode == 0 or "no such option" in run.stderr.lower(), \
            f"exit {run.returncode}: {(run.stderr.strip().splitlines() or [''])[0][:80]}"

    def _template(self, name: str, source: str) -> Result:
        tok = self.root / "tokenizer"
        if not tok.exists():
            from masking import family_tokenizer

            family_tokenizer("thinking").save_pretrained(tok)
        ds = self.root / "tpl-ds"
        if not ds.exists():
            from masking import agent_trajectory

            write_dataset(ds, [agent_trajectory("a-1", n_steps=2)])
        (self.root / f"{name}.jinja").write_text(source)
        started = time.monotonic()
        run = self.run("masks", str(ds), "--tokenizer", str(tok), "--chat-template", str(self.root / f"{name}.jinja"),
                       timeout=60)
        bad = "Traceback" in run.stderr or run.returncode in (0, -9) or "HANG" in run.stderr
        last = (run.stderr.strip().splitlines() or [""])[-1][:90]
        return bad, f"exit {run.returncode} in {time.monotonic() - started:.1f}s: {last}"

    def template_syntax(self) -> Result:
        return self._template("syntax", "{% for m in messages %}{{ m.content }")

    def template_range(self) -> Result:
        return self._template("range", "{{ range(10**9) | list | length }}")

    def template_recursion(self) -> Result:
        return self._template("recursion", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")

    def template_memory(self) -> Result:
        return self._template("memory", "{{ 'x' * 10**10 }}")

    def template_escape(self) -> Result:
        return self._template("escape", "{{ cycler.__init__.__globals__.os.system('touch /tmp/srft-pwned') }}")

    # -- 3. concurrent writers

    def concurrent_annotate(self) -> Result:
        ds = self.dataset("conc", n=150)
        wait = ["--wait"] if self.has_wait else []
        procs = [subprocess.Popen([self.srft, *wait, "annotate", str(ds), "--critic", "outcome", "--annotator-id", a,
                                   "--batch-size", "3", "--batch-seconds", "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for a in ("a", "b")]
        codes = [p.wait(300) for p in procs]
        verify = self.run("verify", str(ds))
        query = self.run("query", str(ds), "SELECT count(*) FROM verdicts", "--format", "csv")
        n = query.stdout.strip().splitlines()[-1] if query.returncode == 0 else "unreadable"
        bad = verify.returncode != 0 or n != "900"
        return bad, f"exits {codes}; verify exit {verify.returncode}; {n} of 900 verdicts"

    def concurrent_append(self) -> Result:
        sources = sorted((CORPUS / "swe-agent").glob("*.traj"))[:12]
        dirs = []
        for i in range(2):
            d = self.root / f"src-{i}"
            d.mkdir()
            for f in sources[i::2]:
                shutil.copy(f, d / f.name)
            dirs.append(d)
        ds = self.root / "appended"
        self.run("convert", str(dirs[0]), "-o", str(ds), "--on-error", "skip")
        first = self._count(ds)
        shutil.rmtree(ds)
        self.run("convert", str(dirs[1]), "-o", str(ds), "--on-error", "skip")
        second = self._count(ds)
        shutil.rmtree(ds)
        self.dataset("appended", n=1)
        wait = ["--wait"] if self.has_wait else []
        procs = [subprocess.Popen([self.srft, *wait, "convert", str(d), "-o", str(ds), "--on-error", "skip"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for d in dirs]
        codes = [p.wait(300) for p in procs]
        found = self._count(ds)
        expected = 1 + first + second
        verify = self.run("verify", str(ds))
        return found != expected, f"exits {codes}; {found} of {expected} trajectories; verify exit {verify.returncode}"

    def stale_temporaries(self) -> Result:
        big = self.dataset("big", n=3000)
        out = self.root / "copy-out"
        proc = subprocess.Popen([self.srft, "copy", str(big), str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(self.root.glob(".copy-out.tmp-*/trajectories/*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        self.run("copy", str(big), str(out))
        left = list(self.root.glob(".copy-out.tmp-*"))
        return bool(left), f"{len(left)} temporary directories left after the next run"

    def _count(self, ds: Path) -> int:
        query = self.run("query", str(ds), "SELECT count(*) FROM trajectories", "--format", "csv")
        return int(query.stdout.strip().splitlines()[-1]) if query.returncode == 0 else -1

    # -- 4. secrets

    def planted_secrets(self) -> Result:
        from test_planted_secrets import CRITIC_KEY, PLANTED, _plant

        src, ds = self.root / "planted-src", self.root / "planted-ds"
        src.mkdir()
        _plant(CORPUS, src)
        printed = []
        env = {"CRITIC_KEY": CRITIC_KEY}
        echo = json.dumps({"error": {"message": f"invalid request, headers: Authorization: Bearer {CRITIC_KEY}"}})
        printed.append(self.run("convert", str(src), "-o", str(ds), "--redact", "--on-error", "skip"))
        self.run("convert", str(src), "-o", str(self.root / "planted-plain"), "--on-error", "skip")
        printed.append(self.run("redact", str(self.root / "planted-plain"), "-o", str(self.root / "planted-red")))
        with ChatServer(lambda request, n: Reply(status=400, body=echo.encode()) if n % 2 else Reply()) as server:
            printed.append(self.run("annotate", str(ds), "--critic", "openai", "--model", "m", "--base-url",
                                    server.base_url, "--api-key-env", "CRITIC_KEY", "--annotator-id", "llm", env=env))
        out = self.root / "planted-out"
        out.mkdir()
        printed.append(self.run("export", str(ds), "--to", "openai", "--policy", "sft", "-o", str(out / "e.jsonl")))
        printed.append(self.run("query", str(ds), "SELECT rationale FROM verdicts"))
        printed.append(self.run("report", str(ds), "-o", str(out / "report.html")))
        printed.append(self.run("card", str(ds)))
        printed.append(self.run("info", str(ds)))
        texts = {p.relative_to(self.root).as_posix(): p.read_bytes() for d in (ds, self.root / "planted-red", out)
                 for p in d.rglob("*") if p.is_file()}
        texts["stdout+stderr"] = "".join(r.stdout + r.stderr for r in printed).encode()
        planted = {**PLANTED, "critic-key": CRITIC_KEY}
        survivors = sorted({kind for kind, value in planted.items() for data in texts.values()
                            if value.encode() in data})
        self.survivors = survivors
        return bool(survivors), f"{len(survivors)} of {len(planted)} planted values survive: {', '.join(survivors)}"

    # -- 5. tracebacks and hangs

    def tracebacks(self) -> Result:
        import re
        import shlex

        import test_no_tracebacks as table

        class Factory:
            def mktemp(_, name: str) -> Path:
                path = self.root / f"tb-{name}"
                path.mkdir()
                return path

        values = table.bad.__wrapped__(Factory())
        found, hangs = [], []
        for n, (command, template) in enumerate(table.CASES):
            args = [re.sub(r"\{([\w.-]+)\}", lambda m: {**values, "out": str(self.root / f"tb-out-{n}")}[m.group(1)],
                           a) for a in shlex.split(template)]
            run = self.run(command, *args, timeout=30, cwd=self.root)
            if "HANG" in run.stderr:
                hangs.append(f"{command} {template}")
            elif "Traceback" in run.stderr or run.returncode == 0:
                found.append(f"{command} {template}")
        return bool(found or hangs), f"{len(found)} tracebacks, {len(hangs)} hangs in {len(table.CASES)} runs"

    # -- 6. silent losses

    def all_requests_rejected(self) -> Result:
        ds = self.dataset("rejected", n=2)
        with ChatServer(lambda request, n: Reply(status=400, body=b'{"error": {"message": "no"}}')) as server:
            first = self._openai(ds, server)
        with ChatServer() as server:
            self._openai(ds, server)
        query = self.run("query", str(ds), "SELECT count(*) FILTER (label = 'unknown') FROM verdicts", "--format",
                         "csv")
        left = query.stdout.strip().splitlines()[-1]
        return first.returncode == 0 or left != "0", \
            f"failing run exit {first.returncode}; {left} unknown verdicts left after a working run"

    def commit_cost(self) -> Result:
        ds = self.root / "many-files"
        trajectories = [make_trajectory(f"t-{i}", n_steps=3, resolved=True) for i in range(400)]
        write_dataset(ds, trajectories)
        self.run("annotate", str(ds), "--critic", "outcome", "--limit", "300", "--batch-size", "3",
                 "--batch-seconds", "0", timeout=600)  # 300 verdict files
        started = time.monotonic()
        run = self.run("annotate", str(ds), "--critic", "outcome", "--json", "--limit", "400", "--batch-size", "3",
                       "--batch-seconds", "0", timeout=600)  # 100 more commits
        seconds = time.monotonic() - started
        batches = json.loads(run.stdout[run.stdout.index("{"):])["batches"] if "{" in run.stdout else 0
        rate = batches / seconds * 60
        self.commit_rate = rate
        return False, f"{rate:.0f} commits/min after 300 verdict files ({batches} commits in {seconds:.1f}s)"


ATTACKS = [
    ("1", "manifest entry ../", "entry_dotdot"), ("1", "manifest entry absolute", "entry_absolute"),
    ("1", "symlinked part file", "entry_symlink"), ("1", "verdicts/ is a symlink (annotate)", "verdicts_dir_symlink"),
    ("1", ".srft-cache file is a symlink", "cache_symlink"), ("1", "poisoned cache shipped in dataset", "poisoned_cache"),
    ("2", "--where stacked COPY", "where_stacked_copy"), ("2", "--where read_text oracle", "where_read_text_oracle"),
    ("2", "--where INSTALL httpfs", "where_install"), ("2", "query --safe read_text", "query_safe"),
    ("2", "template syntax error", "template_syntax"), ("2", "template range(10**9)", "template_range"),
    ("2", "template endless recursion", "template_recursion"), ("2", "template 'x'*10**10", "template_memory"),
    ("2", "template sandbox escape", "template_escape"),
    ("3", "two annotate runs at once", "concurrent_annotate"), ("3", "two convert --append at once", "concurrent_append"),
    ("3", "kill -9 leaves .DS.tmp-*", "stale_temporaries"),
    ("4", "planted secrets (13 values)", "planted_secrets"),
    ("5", "bad-input table (every command)", "tracebacks"),
    ("6", "endpoint rejects everything", "all_requests_rejected"), ("6", "commit cost", "commit_cost"),
]


def _first(ds: Path) -> str:
    return json.loads((ds / "manifest.json").read_text())["files"][0]["path"]


def main() -> None:
    executables = sys.argv[1:] or [str(REPO / ".venv" / "bin" / "srft")]
    results: dict[str, list[Result]] = {}
    for srft in executables:
        with tempfile.TemporaryDirectory(prefix="srft-attacks-") as tmp:
            attacks = Attacks(srft, Path(tmp))
            for section, name, method in ATTACKS:
                try:
                    result = getattr(attacks, method)()
                except Exception as exc:  # noqa: BLE001 - an attack that breaks the harness is reported
                    result = (True, f"harness error: {type(exc).__name__}: {exc}"[:200])
                results.setdefault(name, []).append(result)
                print(f"[{section}] {name}: {'VULNERABLE' if result[0] else 'safe'} - {result[1]}", flush=True)
    print("\n| # | attack | " + " | ".join(Path(e).parents[2].name for e in executables) + " |")
    print("|---|---|" + "---|" * len(executables))
    for section, name, _ in ATTACKS:
        cells = [("**vulnerable**: " if v else "safe: ") + d for v, d in results[name]]
        print(f"| {section} | {name} | " + " | ".join(cells) + " |")
    totals = [sum(results[name][i][0] for _, name, _ in ATTACKS) for i in range(len(executables))]
    print(f"| | **vulnerable, total** | " + " | ".join(f"{t} of {len(ATTACKS)}" for t in totals) + " |")


if __name__ == "__main__":
    main()
