"""The LLM critic: renders a versioned prompt for its mode, asks a chat model for JSON, never guesses.

The modes (:mod:`.modes`): ``per-step`` and ``hindsight`` make one call per step, ``trajectory`` one call per
window of steps, ``first-error`` one call per trajectory. Robustness, in order:

1. An answer cut at ``max_tokens`` (``finish_reason == "length"``) is asked again once with twice the budget;
   cut again, its steps become ``unknown`` saying so. List answers get ``max_tokens`` or
   :data:`ANSWER_TOKENS_PER_STEP` per judged step, whichever is more (the budget grows with the window).
2. An answer that is not the JSON asked for is re-asked once, saying what was wrong; still unusable, its steps
   become ``unknown`` with the reason.
3. The model's reasoning (``reasoning_content``) is kept in each verdict's ``extra["reasoning"]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from srft_format.models import Annotator, AnnotatorKind, Label, Trajectory

from .base import Critic, Emit, PlannedCall, make_verdict
from .chat_http import Completion, OpenAIChat, RequestRejected
from .context import (ContextInfo, TokenCounter, approx_tokens, earlier_account, render_trajectory, step_context,
                      trajectory_windows, whole_context)
from .modes import get_mode
from .parsing import Judgement, MalformedAnswer, parse_step_answer, parse_trajectory_answer
from .prompts import load_template

REASK = ("Your answer could not be used: {problem}. Reply again with only the JSON {shape}, "
         "using only the labels correct, incorrect or neutral.")
ANSWER_TOKENS_PER_STEP = 96
"""List answers get at least this many completion tokens per judged step."""
LENGTH_RETRY_FACTOR = 2
MAX_REASONING_CHARS = 8000

@dataclass(frozen=True)
class Call:
    """One model call: its prompt, the steps it judges, how its context was cut, its answer budget."""

    prompt: str
    steps: list[int]
    info: ContextInfo
    max_tokens: int


class LLMCritic(Critic):
    def __init__(self, annotator_id: str, chat: OpenAIChat, *, mode: str = "per-step", template: str | None = None,
                 max_context_tokens: int = 8192, max_tokens: int = 256, with_observation: bool = True,
                 count: TokenCounter = approx_tokens, description: str | None = None):
        self.mode = get_mode(mode)
        self.chat = chat
        self.template = load_template(template or self.mode.template)
        self.mode.check(self.template)
        self.max_context_tokens = max_context_tokens
        self.max_tokens = max_tokens
        self.with_observation = with_observation
        self.count = count
        self.overhead = self.template.overhead(count)
        parameters: dict[str, Any] = {"mode": mode, "max_context_tokens": max_context_tokens,
                                      "max_tokens": max_tokens, "temperature": chat.temperature,
                                      "with_observation": with_observation}
        if not self.template.shipped:
            parameters["template_file"] = True
        self.annotator = Annotator(
            id=annotator_id, kind=AnnotatorKind.llm, model=chat.model, prompt=self.template.name,
            prompt_sha256=self.template.sha256, parameters=parameters, evidence=self.mode.evidence(self.template),
            description=description or f"LLM critic ({mode}) over an OpenAI-compatible endpoint")

    # -- prompts

    def calls(self, traj: Trajectory, steps: Sequence[int]) -> list[Call]:
        """The model calls that judge ``steps`` of ``traj``, in order."""
        rendered = render_trajectory(traj, self.count)
        limits = {"max_context_tokens": self.max_context_tokens, "max_tokens": self.max_tokens}
        name = self.mode.name
        if name == "per-step":
            out = []
            for index in steps:
                task, context, info = step_context(rendered, index, self.max_context_tokens, self.with_observation,
                                                   self.overhead)
                prompt = self.template.render(task=task, context=context, step=index, limits=limits)
                out.append(Call(prompt, [index], info, self.max_tokens))
            return out
        if name in ("hindsight", "first-error"):
            whole = whole_context(traj, rendered, self.max_context_tokens, self.overhead)
            shared = {"task": whole.task, "context": whole.context, "outcome": whole.outcome, "tests": whole.tests,
                      "gold_patch": whole.gold_patch, "limits": limits}
            if name == "hindsight":
                return [Call(self.template.render(**shared, step=index), [index], whole.info, self.max_tokens)
                        for index in steps]
            judged = list(steps)
            return [Call(self.template.render(**shared, steps=judged), judged, whole.info, self._budget(judged))]
        wanted = set(steps)
        calls = []
        for task, context, members, info in trajectory_windows(rendered, self.max_context_tokens, self.overhead):
            judged = [s for s in members if s in wanted]
            if judged:
                earlier = earlier_account(traj, members[0], self.max_context_tokens, self.count)
                prompt = self.template.render(task=task, context=context, steps=judged, earlier=earlier,
                                              limits=limits)
                calls.append(Call(prompt, judged, info, self._budget(judged)))
        return calls

    def _budget(self, judged: Sequence[int]) -> int:
        return max(self.max_tokens, ANSWER_TOKENS_PER_STEP * len(judged))

    def prompt_for(self, traj: Trajectory, step: int) -> str:
        return self.calls(traj, [step])[0].prompt

    def plan(self, traj: Trajectory, steps: Sequence[int]) -> list[PlannedCall]:
        return [PlannedCall(self.count(c.prompt), c.max_tokens,
                            self.chat.is_cached(self.chat.request(_user(c.prompt), c.max_tokens)))
                for c in self.calls(traj, steps)]

    # -- labeling

    async def label(self, traj: Trajectory, steps: Sequence[int], emit: Emit) -> None:
        results = await asyncio.gather(*(self._judge(call, emit) for call in self.calls(traj, steps)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _parser(self, steps: list[int]) -> Callable[[str], Parsed]:
        if not self.mode.many:
            return lambda text: ({steps[0]: parse_step_answer(text)}, None)
        if self.mode.name == "first-error":
            return lambda text: _first_error(parse_trajectory_answer(text, steps)[0], steps)
        return lambda text: parse_trajectory_answer(text, steps)

    async def _judge(self, call: Call, emit: Emit) -> None:
        parse = self._parser(call.steps)
        messages = _user(call.prompt)
        tokens = self.count(call.prompt)
        budget = call.max_tokens
        extra: dict[str, Any] = {"context": call.info.to_dict()}
        found: dict[int, Judgement] = {}
        problem: str | None = None
        try:
            answer = await self.chat.complete(messages, budget, tokens)
            if answer.cached:
                extra["cache_hit"] = True
            if answer.finish_reason == "length":
                extra["cut_at_max_tokens"] = budget
                budget *= LENGTH_RETRY_FACTOR
                answer = await self.chat.complete(messages, budget, tokens)
            if answer.finish_reason == "length":
                problem = f"answer cut at max_tokens twice ({budget // LENGTH_RETRY_FACTOR}, then {budget})"
                extra["finish_reason"] = "length"
            else:
                found, problem = _attempt(parse, answer.text)
                if problem is not None:
                    extra["reasked"] = True
                    reask = REASK.format(problem=problem, shape=self.mode.answer)
                    messages = [*messages, {"role": "assistant", "content": answer.text},
                                {"role": "user", "content": reask}]
                    answer = await self.chat.complete(messages, budget, tokens + self.count(answer.text) + 60)
                    retry, problem = _attempt(parse, answer.text)
                    found = {**retry, **{s: j for s, j in found.items() if s not in retry}}
                    extra["answer"] = answer.text[:500]
            _keep_reasoning(answer, extra)
        except RequestRejected as exc:
            extra["rejected"] = str(exc)
        after = _after_first_error(found, call.steps) if self.mode.name == "first-error" else None
        for step in call.steps:
            judged = found.get(step)
            if judged is not None:
                emit(make_verdict(self.id, step, judged.label, judged.score, judged.rationale, **extra))
                continue
            if "rejected" in extra:
                reason = f"the endpoint rejected the request ({extra['rejected']})"
            elif after is not None and step > after:
                reason = f"after the first decisive error (step {after}); not judged"
            elif extra.get("finish_reason") == "length":
                reason = problem
            else:
                reason = f"critic answer unusable after one re-ask: {problem}"
            emit(make_verdict(self.id, step, Label.unknown, None, reason, **extra))

    async def aclose(self) -> None:
        await self.chat.aclose()


Parsed = tuple[dict[int, Judgement], "str | None"]


def _attempt(parse: Callable[[str], Parsed], text: str) -> Parsed:
    """What ``parse`` made of ``text``: valid judgements and the problem with the rest, never an exception."""
    try:
        return parse(text)
    except MalformedAnswer as exc:
        return {}, str(exc)


def _after_first_error(found: dict[int, Judgement], steps: Sequence[int]) -> int | None:
    """The earliest step judged ``incorrect``, or None."""
    return min((s for s in steps if s in found and found[s].label is Label.incorrect), default=None)


def _first_error(found: dict[int, Judgement], steps: Sequence[int]) -> Parsed:
    """A first-error answer: every step up to the first mistake must be judged; later ones may be left out."""
    first = _after_first_error(found, steps)
    missing = [s for s in steps if s not in found and (first is None or s < first)]
    return found, f"no valid answer for steps {', '.join(map(str, missing))}" if missing else None


def _keep_reasoning(answer: Completion, extra: dict[str, Any]) -> None:
    if answer.reasoning:
        extra["reasoning"] = answer.reasoning[:MAX_REASONING_CHARS]


def _user(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]
