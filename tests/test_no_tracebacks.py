"""Every CLI command over a table of bad inputs: one line and a non-zero exit, never a Python traceback.

Commands run in-process through ``srft``'s own entry point (what the console script runs), so an exception that
escapes it is exactly the traceback a user would see.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import shlex
import sys
import traceback

import orjson
import pytest
from factories import make_trajectory

from srft_format.cli.main import COMMANDS, main
from srft_format.dataset import write_dataset


def run_main(*args: str) -> tuple[int, str]:
    """(exit status, stdout + stderr) of ``srft ARGS``; a traceback when an exception escapes ``main``."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)  # with .buffer, as sys.stdout has
    code = 0
    argv = sys.argv
    sys.argv = ["srft", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - this is what the test looks for
        out.write(traceback.format_exc())
        code = -1
    finally:
        sys.argv = argv
    out.flush()
    return code, raw.getvalue().decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, str]:
    """Named bad inputs: datasets broken in different ways, bad files, unusable output paths."""
    root = tmp_path_factory.mktemp("bad")
    good = root / "good"
    write_dataset(good, [make_trajectory("t-1", n_steps=2)])
    paths = {"good": good}
    for name, manifest in {"array": b"[1, 2]", "null": b"null", "truncated": b'{"format_version": "1.0", "na'}.items():
        (root / f"manifest-{name}").mkdir()
        (root / f"manifest-{name}" / "manifest.json").write_bytes(manifest)
        paths[f"manifest-{name}"] = root / f"manifest-{name}"
    escape = root / "escape"
    write_dataset(escape, [make_trajectory("t-2", n_steps=2)])
    manifest = orjson.loads((escape / "manifest.json").read_bytes())
    manifest["files"][0]["path"] = "../good/" + manifest["files"][0]["path"]
    (escape / "manifest.json").write_bytes(orjson.dumps(manifest))
    paths["escape"] = escape
    for name, data in {"array.json": b"[1, 2]", "null.json": b"null", "mixed.json": b'[{"id": 1}, 2, null, "x"]',
                       "corrupt.traj.json.gz": gzip.compress(b'{"trajectory": [')[:-9] + b"garbage"}.items():
        (root / name).write_bytes(data)
        paths[name] = root / name
    (root / "a-file").write_text("x")
    paths["a-file"] = root / "a-file"
    paths["under-a-file"] = root / "a-file" / "out"
    paths["empty-dir"] = root / "empty-dir"
    paths["empty-dir"].mkdir()
    return {k: str(v) for k, v in paths.items()}


# (command, arguments with {placeholders} from the ``bad`` fixture and {out} for a fresh output path)
CASES = [
    ("validate", "{array.json}"), ("validate", "{null.json}"), ("validate", "{mixed.json}"),
    ("validate", "{corrupt.traj.json.gz}"), ("validate", "{manifest-array}"),
    ("schema", "nonsense"),
    ("info", "{manifest-null}"), ("info", "{escape}"), ("info", "{a-file}"),
    ("show", "{manifest-truncated}"), ("show", "{good} --trajectory nope"),
    ("masks", "{escape} --tokenizer {empty-dir}"), ("masks", "{good} --tokenizer {empty-dir}"),
    ("copy", "{manifest-array} {out}"), ("copy", "{good} {under-a-file}"), ("copy", "{good} /dev/null"),
    ("convert", "{corrupt.traj.json.gz} -o {out}"), ("convert", "{mixed.json} -o {out}"),
    ("convert", "{empty-dir} -o {out}"), ("convert", "{array.json} -o {under-a-file}"),
    ("merge", "{good} {escape} -o {out}"), ("merge", "{good} {manifest-null} -o {out}"),
    ("merge", "{good} {good} -o /dev/null"),
    ("filter", "{good} --where '1=1); COPY (SELECT 1) TO \"{out}.csv\"; SELECT (1' -o {out}"),
    ("filter", "{good} --where \"read_text('/etc/passwd') IS NOT NULL\" -o {out}"),
    ("filter", "{escape} --where 1=1 -o {out}"), ("filter", "{good} --where 1=1 -o {under-a-file}"),
    ("split", "{manifest-array} -o {out}"), ("split", "{good} -o {under-a-file}"),
    ("split", "{good} -o {out} --ratios 0.5,x"),
    ("verify", "{escape}"), ("verify", "{manifest-null}"), ("verify", "{a-file}"),
    ("card", "{escape}"), ("card", "{manifest-truncated}"),
    ("redact", "{escape} -o {out}"), ("redact", "{good} -o /dev/null"),
    ("query", "{escape} 'SELECT 1 AS one'"), ("query", "{good} --safe \"SELECT * FROM read_text('/etc/passwd')\""),
    ("query", "{good} 'SELEC nonsense'"), ("query", "{good} 'SELECT 1' -o {under-a-file}"),
    ("stats", "{manifest-null}"), ("stats", "{escape}"),
    ("report", "{escape} -o {out}"), ("report", "{good} -o {under-a-file}"),
    ("annotate", "{good} --critic rules --limit -5"), ("annotate", "{good} --critic rules --batch-size 0"),
    ("annotate", "{good} --critic openai --model m --base-url http://127.0.0.1:9 --concurrency 0"),
    ("annotate", "{escape} --critic rules"), ("annotate", "{manifest-array} --critic rules"),
    ("annotate", "{good} --critic human --annotator-id h --import-sheet {array.json}"),
    ("verdicts", "{escape}"), ("verdicts", "{manifest-null}"),
    ("agree", "{good} --a x --b y"), ("agree", "{escape} --a x --b y"),
    ("train", "{escape} --model {empty-dir} -o {out}"), ("train", "{good} --model {empty-dir} -o {under-a-file}"),
    ("export", "{escape} --to openai -o {out}"), ("export", "{good} --to openai -o {under-a-file}"),
    ("repair", "{a-file}"), ("repair", "{empty-dir}"),
    ("outcomes", "{escape} --eval {array.json}"), ("outcomes", "{good} --eval {corrupt.traj.json.gz}"),
    ("tasks", "{escape} --from {array.json}"), ("tasks", "{good} --from {mixed.json}"),
    ("eval-critic", "{escape} --critic x --gold y"), ("eval-critic", "{good} --critic x --gold y"),
    ("sample", "{escape} --steps 5 -o {out}"), ("sample", "{good} --steps 5 -o {under-a-file}"),
    ("label", "import {array.json} {good}"), ("label", "export {good} {empty-dir}"),
    ("experiment", "{escape} --model {empty-dir} -o {out}"),
    ("experiment", "{good} --model {empty-dir} -o {out} --policies sft,nope"),
]


def test_the_table_covers_every_command():
    assert {command for command, _ in CASES} == set(COMMANDS)


@pytest.mark.slow
def test_no_command_prints_a_traceback_on_bad_input(bad, tmp_path):
    failures = []
    for n, (command, template) in enumerate(CASES):
        values = {**bad, "out": str(tmp_path / f"out-{n}")}
        args = [re.sub(r"\{([\w.-]+)\}", lambda m: values[m.group(1)], a) for a in shlex.split(template)]
        code, output = run_main(command, *args)
        if "Traceback" in output or code == 0:
            failures.append(f"srft {command} {template} -> exit {code}:\n{output[-1500:]}")
    assert not failures, "\n\n".join(failures)
