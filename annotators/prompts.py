"""Versioned critic prompt templates shipped inside the package (``annotators/prompts/*.j2``).

A template is identified by its file name and the sha256 of its bytes; both are recorded in the annotator
declaration so every verdict can be traced to the exact prompt that produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from srft_format.errors import SrftError
from srft_format.ids import sha256_hex

DEFAULT_TEMPLATES = {"per-step": "per-step-v1", "trajectory": "trajectory-v1"}
"""The template each ``--mode`` uses unless ``--template`` names another."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    sha256: str
    template: jinja2.Template

    def render(self, **variables: Any) -> str:
        return self.template.render(**variables)

    def overhead(self, count: Callable[[str], int]) -> int:
        """Tokens of the template's own text (rendered around an empty task and context)."""
        return count(self.render(task="", context="", step=0, steps=[]))


def available() -> list[str]:
    return sorted(p.name.removesuffix(".j2") for p in resources.files(__package__).joinpath("prompts").iterdir()
                  if p.name.endswith(".j2"))


@lru_cache(maxsize=None)
def load_template(name: str) -> PromptTemplate:
    """The packaged template ``name`` (without ``.j2``)."""
    path = resources.files(__package__).joinpath("prompts", f"{name}.j2")
    if not path.is_file():
        raise SrftError(f"no prompt template {name!r}; available: {', '.join(available())}")
    raw = path.read_bytes()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    return PromptTemplate(name, sha256_hex(raw), env.from_string(raw.decode("utf-8")))
