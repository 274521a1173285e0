"""Critic prompt templates: the versioned ones shipped in ``annotators/prompts/*.j2`` and users' own files.

A template is identified by its name (the file name without ``.j2``) and the sha256 of its bytes; both are
recorded in the annotator declaration so every verdict can be traced to the exact prompt that produced it.

Every template, shipped or not, is rendered in Jinja's sandbox (:class:`SandboxedEnvironment`) with
``StrictUndefined``, may only read the documented :data:`VARIABLES`, and may not render more than
:data:`MAX_RENDERED_CHARS` characters: a template from someone else is hostile input. A template that does not
parse, reads an unknown variable, escapes the sandbox or renders too much is a :class:`SrftError` in one line
naming the template and the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from srft_format.errors import SrftError
from srft_format.sandbox import checked_binop, deadline, limited_chunks
from srft_format.ids import sha256_hex

VARIABLES = {
    "task": "the task (problem statement), cut to at most a quarter of the context budget",
    "context": "the steps the mode shows, rendered ('## Step N' blocks with the environment's answers)",
    "step": "the judged step's index (per-step, hindsight)",
    "steps": "the judged steps' indices, a list (trajectory, first-error)",
    "earlier": "trajectory: a compact account of the steps before this window ('' for the first window)",
    "outcome": "hindsight, first-error: the run's outcome (resolved, exit status, failing tests, submitted patch)",
    "tests": "hindsight, first-error: {'fail_to_pass': [...], 'pass_to_pass': [...], 'test_patch': '...'} "
             "of the task (empty when the dataset has none; see `srft tasks --from`)",
    "gold_patch": "hindsight, first-error: the task's reference fix ('' when the dataset has none)",
    "limits": "{'max_context_tokens': N, 'max_tokens': N}: the prompt and answer budgets",
}
"""The variables a template may read, with what they hold (documented in ``annotators/prompts/README.md``)."""

MAX_RENDERED_CHARS = 4_000_000
"""No template renders more than this (a prompt of ~1M tokens); also bounds ``*`` and ``**`` inside templates."""

SHIPPED_SUFFIX = ".j2"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    sha256: str
    template: jinja2.Template
    reads: frozenset[str]
    """The variables the template reads."""
    shipped: bool = True

    def render(self, **variables: Any) -> str:
        """The prompt; a :class:`SrftError` naming the template when it cannot be rendered."""
        try:
            with deadline():
                return "".join(limited_chunks(self.template.generate(**variables), MAX_RENDERED_CHARS))
        except SecurityError as exc:
            raise SrftError(f"template {self.name}: not allowed in the sandbox: {_one_line(exc)}") from None
        except jinja2.UndefinedError as exc:
            raise SrftError(f"template {self.name}: {_one_line(exc)} "
                            f"(templates may read: {', '.join(VARIABLES)})") from None
        except Exception as exc:  # noqa: BLE001 - any failure inside a user's template is reported as theirs
            raise SrftError(f"template {self.name}: does not render: {type(exc).__name__}: {_one_line(exc)}") \
                from None

    def render_empty(self, **variables: Any) -> str:
        """The template around empty values (its own text): checks that it renders before any request."""
        empty: dict[str, Any] = {"task": "", "context": "", "step": 0, "steps": [], "earlier": "", "outcome": "",
                                 "tests": {"fail_to_pass": [], "pass_to_pass": [], "test_patch": ""},
                                 "gold_patch": "", "limits": {"max_context_tokens": 0, "max_tokens": 0}}
        return self.render(**{**empty, **variables})

    def overhead(self, count: Callable[[str], int]) -> int:
        """Tokens of the template's own text (rendered around empty values)."""
        return count(self.render_empty())


class _LimitedSandbox(SandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` refused where they would build a huge value."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.call_binop = checked_binop(super().call_binop, MAX_RENDERED_CHARS)  # type: ignore[method-assign]


_ENV = _LimitedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


def available() -> list[str]:
    return sorted(p.name.removesuffix(SHIPPED_SUFFIX) for p in _shipped_dir().iterdir()
                  if p.name.endswith(SHIPPED_SUFFIX))


def _shipped_dir() -> Any:
    return resources.files(__package__).joinpath("prompts")


def load_template(ref: str) -> PromptTemplate:
    """A shipped template by name (``hindsight-v1``) or a user's template file (``PATH.j2``)."""
    if ref.endswith(SHIPPED_SUFFIX) or "/" in ref or Path(ref).is_file():
        path = Path(ref)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SrftError(f"template {ref}: cannot read it: {exc.strerror or exc}") from None
        return _compile(path.name, raw, shipped=False)
    return _shipped(ref)


@lru_cache(maxsize=None)
def _shipped(name: str) -> PromptTemplate:
    path = _shipped_dir().joinpath(f"{name}{SHIPPED_SUFFIX}")
    if not path.is_file():
        raise SrftError(f"no prompt template {name!r}; available: {', '.join(available())} "
                        "(or give a file: --template PATH.j2)")
    return _compile(name, path.read_bytes(), shipped=True)


def _compile(name: str, raw: bytes, *, shipped: bool) -> PromptTemplate:
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SrftError(f"template {name}: not UTF-8 text (byte {exc.start})") from None
    try:
        reads = frozenset(meta.find_undeclared_variables(_ENV.parse(source)))
        template = _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise SrftError(f"template {name}: line {exc.lineno}: {_one_line(exc)}") from None
    unknown = sorted(reads - VARIABLES.keys())
    if unknown:
        raise SrftError(f"template {name}: unknown variable {', '.join(map(repr, unknown))} "
                        f"(templates may read: {', '.join(VARIABLES)})")
    return PromptTemplate(name, sha256_hex(raw), template, reads, shipped)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
