"""The one place converters are listed. Adding a source format is one module and one line here."""

from __future__ import annotations

import importlib
from functools import cache

from srft_format.errors import SrftError

from .base import Converter

CONVERTERS: tuple[str, ...] = (
    "who_and_when",  # before swe_agent: both have a `history` list; only Who&When has `mistake_step`
    "swe_agent",
    "mini_swe_agent",
    "swe_smith",
    "nebius_swe_agent",
    "openhands",
    "swe_gym",
    "nebius_openhands",
    "adp_sft",
    "openhands_completions",
)
"""Modules of ``srft_format.converters``, each with a ``CONVERTER``; detection tries them in this order."""


@cache
def converters() -> tuple[Converter, ...]:
    """Every registered converter, imported on first use."""
    return tuple(importlib.import_module(f"{__package__}.{module}").CONVERTER for module in CONVERTERS)


def get_converter(name: str) -> Converter:
    """The converter called ``name`` (its format name, e.g. ``swe-agent``, or its module name)."""
    for converter in converters():
        if name in (converter.name, converter.name.replace("-", "_")):
            return converter
    known = ", ".join(c.name for c in converters())
    raise SrftError(f"unknown source format {name!r} (known: {known})")
