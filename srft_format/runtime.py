"""Process tuning for long jobs that create millions of short-lived objects (conversion, annotation)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GC_THRESHOLDS = (100_000, 50, 1000)
"""Cyclic-GC thresholds for such jobs: with the defaults, the many short-lived objects of parsed JSON trigger
collections that rescan every live object (a third of a conversion run), though these jobs create no cycles
worth collecting early."""


@contextmanager
def fewer_gc_pauses() -> Iterator[None]:
    """Raise the cyclic-GC thresholds to :data:`GC_THRESHOLDS` for the duration."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
