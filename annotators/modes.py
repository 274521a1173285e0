"""Critic modes: what one model call is shown, which template renders it, and the evidence that declares.

============  ==================================================================================  =========
mode          one call                                                                            answer
============  ==================================================================================  =========
per-step      per step: the task, the steps before it (oldest first) and the step                 object
hindsight     per step: the task, the whole run, its outcome, the task's tests and gold patch;    object
              every call on one trajectory starts with the same bytes and names the step last
trajectory    per window of steps that fits the budget; later windows open with a compact         list
              account of the earlier steps
first-error   per trajectory: the whole run with its outcome and evidence; finds the earliest     list
              decisive mistake (steps after it are ``unknown`` unless judged)
============  ==================================================================================  =========

The evidence an annotator declares (``Annotator.evidence``) is what its mode provides *and* its template reads,
so a template that never shows the gold patch does not claim it.
"""

from __future__ import annotations

from dataclasses import dataclass

from srft_format.errors import SrftError
from srft_format.models import Evidence

from .prompts import PromptTemplate


@dataclass(frozen=True)
class Mode:
    name: str
    template: str
    """The shipped template used unless ``--template`` names another."""
    provides: frozenset[str]
    """Template variables this mode fills."""
    answer: str
    """``object`` (one step) or ``list`` (several)."""
    summary: str
    sees_future: bool = False

    @property
    def many(self) -> bool:
        return self.answer == "list"

    def evidence(self, template: PromptTemplate) -> list[Evidence]:
        """What a critic running this mode with ``template`` sees, in :class:`Evidence` order."""
        found = set()
        if template.reads & {"context", "earlier"}:
            found.add(Evidence.prefix)
            if self.sees_future and "context" in template.reads:
                found.add(Evidence.future)
        for variable, evidence in (("outcome", Evidence.outcome), ("tests", Evidence.tests),
                                   ("gold_patch", Evidence.gold_patch)):
            if variable in template.reads and variable in self.provides:
                found.add(evidence)
        return [e for e in Evidence if e in found]

    def check(self, template: PromptTemplate) -> None:
        """Refuse a template that reads what this mode does not provide, or does not render."""
        missing = sorted(template.reads - self.provides)
        if missing:
            raise SrftError(f"template {template.name}: reads {', '.join(map(repr, missing))}, which --mode "
                            f"{self.name} does not provide (it provides: {', '.join(sorted(self.provides))})")
        template.render_empty()


_BASE = frozenset({"task", "context", "limits"})
_HINDSIGHT = _BASE | {"outcome", "tests", "gold_patch"}

MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("per-step", "per-step-v2", _BASE | {"step"}, "object",
         "one call per step: the task and the steps before it (causal)"),
    Mode("hindsight", "hindsight-v1", _HINDSIGHT | {"step"}, "object",
         "one call per step: the whole run, outcome, tests, gold patch; shared prompt prefix", sees_future=True),
    Mode("trajectory", "trajectory-v2", _BASE | {"steps", "earlier"}, "list",
         "one call per window of steps, later windows with an account of the earlier ones", sees_future=True),
    Mode("first-error", "first-error-v1", _HINDSIGHT | {"steps"}, "list",
         "one call per run: the earliest decisive mistake; steps after it unknown unless judged",
         sees_future=True),
)}


def get_mode(name: str) -> Mode:
    if name not in MODES:
        raise SrftError(f"unknown critic mode {name!r}; choose one of {', '.join(MODES)}")
    return MODES[name]
