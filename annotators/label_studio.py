"""Human step labels with Label Studio: tasks + a generated labeling config out, the JSON export back in.

Out: one task per drawn step (see :mod:`.sampling`), its ``data`` holding the task text, the steps before it
(collapsed), the step under judgement with what came back, the outcome and failing tests when known, and the
``srft_trajectory`` / ``srft_step`` keys that bring the answer home. The labeling config (:func:`label_config`)
asks for one of ``correct`` / ``incorrect`` / ``neutral`` / ``unsure`` and a rationale.

In: Label Studio's JSON export (a list of tasks with their ``annotations``). Each Label Studio user becomes one
``human`` annotator (``label-studio:user-ID``, or a name given per user id); ``unsure`` becomes ``unknown`` with
the rationale kept; skipped (cancelled) and empty annotations are counted, never turned into labels. A verdict
already imported identically is left as it is, so re-importing the same export changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from srft_format.errors import Problem, SrftError
from srft_format.jsonl import open_input
from srft_format.models import Annotator, AnnotatorKind, Label, Trajectory, Verdict

from .context import approx_tokens, cut_middle, message_text, task_text

LABEL_FIELD = "srft_label"
RATIONALE_FIELD = "srft_rationale"
OBJECT = "srft_step"
CHOICES = ("correct", "incorrect", "neutral", "unsure")
CHOICE_LABELS = {"correct": Label.correct, "incorrect": Label.incorrect, "neutral": Label.neutral,
                 "unsure": Label.unknown}
STEP_TOKENS = 1500
"""The step under judgement and its observation are each cut in the middle to about this many tokens."""
BEFORE_TOKENS = 6000
"""The collapsed steps before it, together."""


def label_config() -> str:
    """The Label Studio labeling config srft's tasks need (fixed text; task content arrives through $fields)."""
    choices = "\n".join(f'      <Choice value="{c}"/>' for c in CHOICES)
    return f"""<View>
  <Header value="Task"/>
  <Text name="srft_task" value="$task"/>
  <Collapse>
    <Panel value="Steps before this one">
      <Text name="srft_before" value="$before"/>
    </Panel>
  </Collapse>
  <Header value="$step_title"/>
  <Text name="{OBJECT}" value="$step"/>
  <Header value="What came back"/>
  <Text name="srft_observation" value="$observation"/>
  <Header value="Outcome"/>
  <Text name="srft_outcome" value="$outcome"/>
  <Header value="Was this step correct?"/>
  <Choices name="{LABEL_FIELD}" toName="{OBJECT}" choice="single" required="true" showInline="true">
{choices}
  </Choices>
  <TextArea name="{RATIONALE_FIELD}" toName="{OBJECT}" rows="3" editable="true" maxSubmissions="1"
            placeholder="Why? (kept with the label)"/>
</View>
"""


def _cut(text: str, tokens: int) -> str:
    return cut_middle(text, tokens, approx_tokens)


def _outcome_text(traj: Trajectory) -> str:
    outcome = traj.outcome
    resolved = {True: "resolved", False: "not resolved", None: "unknown"}[outcome.resolved]
    lines = [f"outcome: {resolved}"]
    if outcome.exit_status:
        lines.append(f"exit status: {outcome.exit_status}")
    failing = outcome.evaluation.tests_failed if outcome.evaluation else None
    if failing:
        lines.append("failing tests: " + ", ".join(failing))
    return "\n".join(lines)


def task_for(traj: Trajectory, step: int, labelers: list[str]) -> dict[str, Any]:
    """One Label Studio task for ``step`` of ``traj``."""
    def block(i: int) -> str:
        st = traj.steps[i]
        seen = "\n".join(message_text(traj.messages[j]) for j in st.observations)
        return f"[step {i}]\n{message_text(traj.messages[st.output])}" + (f"\n-> {seen}" if seen else "")

    st = traj.steps[step]
    before = "\n\n".join(block(i) for i in range(step)) or "(none: this is the first step)"
    return {"data": {
        "srft_trajectory": traj.id, "srft_step": step, "labelers": ", ".join(labelers),
        "task": _cut(task_text(traj), STEP_TOKENS), "before": _cut(before, BEFORE_TOKENS),
        "step_title": f"Step {step} of {len(traj.steps)} (judge this one)",
        "step": _cut(message_text(traj.messages[st.output]), STEP_TOKENS),
        "observation": _cut("\n".join(message_text(traj.messages[j]) for j in st.observations), STEP_TOKENS)
        or "(nothing came back)",
        "outcome": _outcome_text(traj)}}


@dataclass(frozen=True)
class Imported:
    trajectory: str
    step: int
    annotator: str
    verdict: Verdict


@dataclass
class ImportSummary:
    tasks: int = 0
    skipped: int = 0
    """Annotations the labeler skipped (cancelled): no label invented."""
    empty: int = 0
    """Submitted without a choice: no label invented."""
    superseded: int = 0
    """Older annotations of the same user on the same task (the newest counts)."""
    unlabeled_tasks: int = 0
    verdicts: list[Imported] = field(default_factory=list)
    annotators: dict[str, Annotator] = field(default_factory=dict)
    """One per Label Studio user with at least one label."""


def user_annotator(user: Any, names: Mapping[str, str], where: str) -> Annotator:
    """The annotator of a Label Studio user (``completed_by``: an id, or an object with one)."""
    user_id = user.get("id") if isinstance(user, dict) else user
    if isinstance(user_id, bool) or not isinstance(user_id, (int, str)) or str(user_id) == "":
        raise SrftError(Problem(f"completed_by must be a user id, not {user!r}", f"{where}.completed_by"))
    ident = names.get(str(user_id), f"label-studio:user-{user_id}")
    try:
        return Annotator(id=ident, kind=AnnotatorKind.human, parameters={"label_studio_user": str(user_id)},
                         description="human labels from Label Studio")
    except ValidationError:
        raise SrftError(Problem(f"{ident!r} cannot be an annotator id (letters, digits and ._:@/+- only)",
                                "--user")) from None


def read_export(path: str | os.PathLike, names: Mapping[str, str] | None = None) -> ImportSummary:
    """Parse a Label Studio JSON export of srft tasks; a file from another labeling config is refused."""
    file = str(path)
    with open_input(path) as raw:
        try:
            tasks = orjson.loads(raw.read())
        except orjson.JSONDecodeError as exc:
            raise SrftError(Problem(f"not valid JSON ({exc})", file=file)) from None
    if not isinstance(tasks, list):
        raise SrftError(Problem("expected Label Studio's JSON export (a list of tasks)", file=file))
    summary = ImportSummary(tasks=len(tasks))
    names = names or {}
    for i, task in enumerate(tasks):
        where = f"[{i}]"

        def fail(message: str, at: str = "") -> SrftError:
            return SrftError(Problem(message, f"{where}{at}", file=file))

        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or "srft_trajectory" not in data or "srft_step" not in data:
            raise fail("task has no data.srft_trajectory / data.srft_step: not an export of tasks made by "
                       "`srft label export` (another labeling config?)", ".data")
        traj_id, step = data["srft_trajectory"], data["srft_step"]
        if not isinstance(traj_id, str) or isinstance(step, bool) or not isinstance(step, int):
            raise fail("data.srft_trajectory must be a string and data.srft_step an integer", ".data")
        newest: dict[str, tuple[str, dict[str, Any], str]] = {}
        for j, ann in enumerate(task.get("annotations") or []):
            at = f".annotations[{j}]"
            if not isinstance(ann, dict):
                raise fail("an annotation must be an object", at)
            if ann.get("was_cancelled"):
                summary.skipped += 1
                continue
            annotator = user_annotator(ann.get("completed_by"), names, where + at)
            stamp = str(ann.get("updated_at") or ann.get("created_at") or "")
            if annotator.id in newest:
                summary.superseded += 1
                if newest[annotator.id][0] > stamp:
                    continue
            newest[annotator.id] = (stamp, ann, at)
            summary.annotators.setdefault(annotator.id, annotator)
        labeled = False
        for ident, (_, ann, at) in sorted(newest.items()):
            verdict = _verdict(ann, ident, step, lambda message, where, at=at: fail(message, at + where))
            if verdict is None:
                summary.empty += 1
                continue
            labeled = True
            summary.verdicts.append(Imported(traj_id, step, ident, verdict))
        summary.unlabeled_tasks += not labeled
    used = {v.annotator for v in summary.verdicts}
    summary.annotators = {k: a for k, a in summary.annotators.items() if k in used}
    return summary


def _verdict(ann: dict[str, Any], annotator: str, step: int, fail: Any) -> Verdict | None:
    choice, rationale = None, None
    for k, result in enumerate(ann.get("result") or []):
        at = f".result[{k}]"
        name = result.get("from_name") if isinstance(result, dict) else None
        value = result.get("value") if isinstance(result, dict) else None
        if name == LABEL_FIELD and isinstance(value, dict):
            picked = value.get("choices") or []
            if len(picked) != 1 or picked[0] not in CHOICE_LABELS:
                raise fail(f"choices must be one of {', '.join(CHOICES)}, not {picked!r}", at)
            choice = picked[0]
        elif name == RATIONALE_FIELD and isinstance(value, dict):
            rationale = "\n".join(str(t) for t in value.get("text") or []).strip() or None
        else:
            raise fail(f"a result from {name!r}, which srft's labeling config does not have (export from another "
                       "labeling config?)", at)
    if choice is None:
        return None
    extra = {"label_studio": {k: ann[k] for k in ("id", "task") if k in ann}}
    if choice == "unsure":
        extra["choice"] = "unsure"
    created = ann.get("created_at")
    return Verdict(step=step, annotator=annotator, label=CHOICE_LABELS[choice], rationale=rationale,
                   created_at=datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str)
                   else None, extra=extra)


def iter_steps(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The rows of a sample's ``steps.jsonl``."""
    from srft_format.jsonl import iter_lines

    for line, data in iter_lines(path):
        if data.strip():
            try:
                yield orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise SrftError(Problem(f"not valid JSON ({exc})", file=str(path), line=line)) from None

