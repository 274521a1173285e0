"""Limits on rendering a Jinja template from someone else (chat templates, critic prompts) in Jinja's sandbox.

The sandbox stops attribute access that escapes to Python; these limits stop the rest of what a hostile template
can do to the machine: build a huge value (``'x' * 10**10``, ``9 ** 10**9``), render without end, or loop
without output until the job hangs.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2.sandbox import SecurityError

MAX_EXPONENT = 4096
MAX_RENDER_SECONDS = 60.0
"""A render that takes longer is stopped (nested loops that print nothing); ``SRFT_RENDER_SECONDS`` sets another."""


def checked_binop(call_binop: Callable[..., Any], limit: int) -> Callable[..., Any]:
    """A sandbox's ``call_binop`` that refuses a power with a huge exponent and a string or list repeated past
    ``limit`` items (set ``intercepted_binops = {"*", "**"}`` on the environment)."""

    def binop(context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT \
                and isinstance(left, (int, float)) and abs(left) > 1:
            raise SecurityError(f"a power with an exponent over {MAX_EXPONENT} is refused")
        if operator == "*":
            size, times = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
            if isinstance(size, (str, list, tuple)) and isinstance(times, int) and len(size) * times > limit:
                raise SecurityError(f"repeating a value {times} times would exceed {limit} characters")
        return call_binop(context, operator, left, right)

    return binop


def limited_chunks(chunks: Iterable[str], limit: int, what: str = "the rendered text") -> Iterator[str]:
    """``chunks`` (a template's output), stopped once they pass ``limit`` characters."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise SecurityError(f"{what} is longer than {limit} characters; refused")
        yield chunk


@contextmanager
def deadline(seconds: float | None = None) -> Iterator[None]:
    """Stop the code inside after ``seconds`` (default :data:`MAX_RENDER_SECONDS`) with a :class:`SecurityError`
    (on the main thread, where signals arrive; elsewhere nothing is timed)."""
    seconds = seconds or float(os.environ.get("SRFT_RENDER_SECONDS", MAX_RENDER_SECONDS))
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise SecurityError(f"the template ran longer than {seconds:g} s; stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:  # an outer timer was running: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, remaining, interval)
