"""Rule critics: cheap, explainable checks that mark a step ``incorrect`` when the log itself shows a mistake.

Rules only ever say ``incorrect``; a step no rule flags gets no verdict (a rule cannot tell that a step was
good). Run them first; ``srft annotate --critic openai --prefilter rules`` then skips the steps they flagged.

Each rule is a function ``(StepView list) -> {step index: reason}`` registered in :data:`RULES`, with its
rationale in its docstring (shown by ``srft annotate --list-rules``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from srft_format.errors import SrftError
from srft_format.models import ActionKind, Annotator, AnnotatorKind, Evidence, Label, Trajectory

from .base import Critic, Emit, make_verdict
from .context import message_text

RULESET_VERSION = "2"
"""2: ``cd DIR && cmd`` is the program ``cmd`` (1 read every such command as ``cd``)."""

READ_ONLY_KINDS = {ActionKind.view, ActionKind.search, ActionKind.think, ActionKind.message}
"""Action kinds that cannot change the environment, so repeating a failed action after them is pointless."""

SYNTAX_ERROR_MARKERS = (
    "Your proposed edit has introduced new syntax error",  # SWE-agent edit linting (windowed edit tools)
    "Your edit has introduced new syntax error",
)
_PY_EXCEPTION = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception)\b.*$", re.MULTILINE)
_SHELL_ERROR = re.compile(r"^.*(?:command not found|No such file or directory|Permission denied).*$", re.MULTILINE)
_LINT_CODE = re.compile(r"^- E\d+ .*$", re.MULTILINE)
_LEADING_CD = re.compile(r"^\s*cd\s+(?:\"[^\"]*\"|'[^']*'|\S+)\s*(?:&&|;)\s*")


@dataclass(frozen=True)
class StepView:
    """What the rules look at: one step's action text, kinds and observation text."""

    index: int
    action: str
    kinds: frozenset[ActionKind]
    observation: str
    has_observation: bool

    @property
    def program(self) -> str:
        """The first word of the action (``python``, ``edit``, ``str_replace_editor``), after any leading
        ``cd DIR &&`` or ``cd DIR;`` (``cd /repo && python t.py`` runs ``python``)."""
        action = self.action
        while (cd := _LEADING_CD.match(action)) is not None:
            action = action[cd.end():]
        return action.split(maxsplit=1)[0] if action.strip() else ""


def step_views(traj: Trajectory) -> list[StepView]:
    views = []
    for step in traj.steps:
        commands = [a.command for a in step.actions if a.command]
        action = "\n".join(commands) if commands else message_text(traj.messages[step.output])
        observation = "\n".join(message_text(traj.messages[i]) for i in step.observations)
        views.append(StepView(step.index, action.strip(), frozenset(a.kind for a in step.actions),
                              observation, bool(step.observations)))
    return views


def error_signature(observation: str) -> str | None:
    """A short, stable description of the failure an observation shows; None when it shows none."""
    if any(marker in observation for marker in SYNTAX_ERROR_MARKERS):
        codes = _LINT_CODE.findall(observation)
        return "edit rejected, syntax error: " + "; ".join(c.strip("- ") for c in codes) if codes \
            else "edit rejected, syntax error"
    for pattern in (_PY_EXCEPTION, _SHELL_ERROR):
        found = pattern.findall(observation)
        if found:
            return found[-1].strip()[:300]
    return None


def _is_submit(view: StepView) -> bool:
    return ActionKind.submit in view.kinds or view.program == "submit"


# ---------------------------------------------------------------------------------------------- rules


def repeat_after_failure(views: Sequence[StepView], traj: Trajectory) -> dict[int, str]:
    """Repeating an action that already failed, with nothing in between that could change the outcome.

    Rationale: the environment is deterministic; the same command after the same state fails again. Only
    read-only steps (view, search, think) in between count as "nothing changed"; an edit, a shell command or
    an install in between may legitimately change the result (re-running a reproduction after a fix is fine).
    """
    flagged: dict[int, str] = {}
    for k, view in enumerate(views):
        for j in range(k - 1, -1, -1):
            earlier = views[j]
            if earlier.action == view.action and view.action:
                signature = error_signature(earlier.observation)
                if signature:
                    flagged[view.index] = f"repeats step {earlier.index}, which failed ({signature})"
                break
            if not earlier.kinds or not earlier.kinds <= READ_ONLY_KINDS:
                break
    return flagged


def same_error_twice(views: Sequence[StepView], traj: Trajectory) -> dict[int, str]:
    """A command that errors the same way an earlier run of the same program already did.

    Rationale: getting the identical error again means the step did not address what the last error said;
    the agent spent a step and learned nothing (e.g. an edit rejected twice for the same syntax error).
    """
    flagged: dict[int, str] = {}
    seen: dict[tuple[str, str], int] = {}
    for view in views:
        signature = error_signature(view.observation)
        if not signature:
            continue
        key = (view.program, signature)
        if key in seen:
            flagged[view.index] = f"same error as step {seen[key]}: {signature}"
        seen.setdefault(key, view.index)
    return flagged


def edit_syntax_error(views: Sequence[StepView], traj: Trajectory) -> dict[int, str]:
    """An edit the tool rejected because the result does not parse (shown in the observation).

    Rationale: SWE-agent's edit tools lint the edited file and refuse edits that introduce syntax errors
    ("Your proposed edit has introduced new syntax error(s)"); such a step changed nothing and was wrong.
    """
    return {v.index: error_signature(v.observation) or "edit rejected" for v in views
            if any(marker in v.observation for marker in SYNTAX_ERROR_MARKERS)}


def empty_submit(views: Sequence[StepView], traj: Trajectory) -> dict[int, str]:
    """Submitting with an empty patch: the final submit when the run's patch is empty and no diff was shown.

    Rationale: on a code-fixing task, a submission that changes nothing cannot fix the issue. Only the last
    submit counts (SWE-agent may ask for a review and a second submit), and only when the outcome's patch is
    empty or missing and the submit's observation shows no diff either.
    """
    submits = [v for v in views if _is_submit(v)]
    if not submits or (traj.outcome.patch or "").strip():
        return {}
    last = submits[-1]
    return {} if "diff --git" in last.observation else {last.index: "submitted an empty patch"}


Rule = Callable[[Sequence[StepView], Trajectory], dict[int, str]]
RULES: dict[str, Rule] = {
    "repeat_after_failure": repeat_after_failure,
    "same_error_twice": same_error_twice,
    "edit_syntax_error": edit_syntax_error,
    "empty_submit": empty_submit,
}


def rule_doc(name: str) -> str:
    return " ".join((RULES[name].__doc__ or "").split())


class RuleCritic(Critic):
    """Runs the selected rules; a step flagged by any of them gets one ``incorrect`` verdict naming them all."""

    EVIDENCE = (Evidence.prefix, Evidence.outcome)
    """The rules read the steps up to the judged one, and ``empty_submit`` the submitted patch."""

    def __init__(self, annotator_id: str = "rules", rules: Sequence[str] = tuple(RULES)):
        unknown = [r for r in rules if r not in RULES]
        if unknown:
            raise SrftError(f"unknown rule(s) {', '.join(unknown)}; available: {', '.join(RULES)}")
        self.rules = tuple(rules)
        self.annotator = Annotator(
            id=annotator_id, kind=AnnotatorKind.rule, evidence=list(self.EVIDENCE),
            parameters={"rules": list(self.rules), "ruleset_version": RULESET_VERSION},
            description="srft rule critics: " + ", ".join(self.rules))

    def flags(self, traj: Trajectory) -> dict[int, dict[str, str]]:
        """``{step: {rule: reason}}`` for every flagged step."""
        views = step_views(traj)
        out: dict[int, dict[str, str]] = {}
        for name in self.rules:
            for step, reason in RULES[name](views, traj).items():
                out.setdefault(step, {})[name] = reason
        return out

    async def label(self, traj: Trajectory, steps: Sequence[int], emit: Emit) -> None:
        wanted = set(steps)
        for step, reasons in sorted(self.flags(traj).items()):
            if step in wanted:
                rationale = "; ".join(f"{name}: {why}" for name, why in reasons.items())
                emit(make_verdict(self.id, step, Label.incorrect, 0.0, rationale, rules=sorted(reasons)))
