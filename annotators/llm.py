"""The LLM critic: renders a versioned prompt, asks a chat model for JSON, re-asks once, never guesses.

``per-step`` mode makes one call per step (task + the steps before it + the step, optionally with the
environment's answer); ``trajectory`` mode makes one call per window of steps that fits the context budget
and asks for a JSON list. An answer that is still unusable after one re-ask becomes an ``unknown`` verdict
whose rationale says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from srft_format.models import Annotator, AnnotatorKind, Label, Trajectory

from .base import Critic, Emit, PlannedCall, make_verdict
from .chat_http import OpenAIChat, RequestRejected
from .context import ContextInfo, TokenCounter, approx_tokens, render_trajectory, step_context, trajectory_windows
from .parsing import Judgement, MalformedAnswer, parse_step_answer, parse_trajectory_answer
from .prompts import DEFAULT_TEMPLATES, load_template

MODES = tuple(DEFAULT_TEMPLATES)
REASK = ("Your answer could not be used: {problem}. Reply again with only the JSON {shape}, "
         "using only the labels correct, incorrect or neutral.")


class LLMCritic(Critic):
    def __init__(self, annotator_id: str, chat: OpenAIChat, *, mode: str = "per-step", template: str | None = None,
                 max_context_tokens: int = 8192, max_tokens: int = 256, with_observation: bool = True,
                 count: TokenCounter = approx_tokens, description: str | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.chat = chat
        self.mode = mode
        self.template = load_template(template or DEFAULT_TEMPLATES[mode])
        self.max_context_tokens = max_context_tokens
        self.max_tokens = max_tokens
        self.with_observation = with_observation
        self.count = count
        self.overhead = self.template.overhead(count)
        self.annotator = Annotator(
            id=annotator_id, kind=AnnotatorKind.llm, model=chat.model, prompt=self.template.name,
            prompt_sha256=self.template.sha256,
            parameters={"mode": mode, "max_context_tokens": max_context_tokens, "max_tokens": max_tokens,
                        "temperature": chat.temperature, "with_observation": with_observation},
            description=description or f"LLM critic ({mode}) over an OpenAI-compatible endpoint")

    # -- prompts

    def _prompts(self, traj: Trajectory, steps: Sequence[int]) -> list[tuple[str, list[int], ContextInfo]]:
        """``(prompt, steps it judges, context info)`` for each call."""
        rendered = render_trajectory(traj, self.count)
        if self.mode == "per-step":
            out = []
            for index in steps:
                task, context, info = step_context(rendered, index, self.max_context_tokens, self.with_observation,
                                                   self.overhead)
                out.append((self.template.render(task=task, context=context, step=index), [index], info))
            return out
        wanted = set(steps)
        calls = []
        for task, context, members, info in trajectory_windows(rendered, self.max_context_tokens, self.overhead):
            judged = [s for s in members if s in wanted]
            if judged:
                calls.append((self.template.render(task=task, context=context, steps=judged), judged, info))
        return calls

    def plan(self, traj: Trajectory, steps: Sequence[int]) -> list[PlannedCall]:
        return [PlannedCall(self.count(prompt), self.max_tokens,
                            self.chat.is_cached(self.chat.request(_user(prompt), self.max_tokens)))
                for prompt, _, _ in self._prompts(traj, steps)]

    # -- labeling

    async def label(self, traj: Trajectory, steps: Sequence[int], emit: Emit) -> None:
        calls = self._prompts(traj, steps)
        results = await asyncio.gather(*(self._judge(p, judged, info, emit) for p, judged, info in calls),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _judge(self, prompt: str, steps: list[int], info: ContextInfo, emit: Emit) -> None:
        single = self.mode == "per-step"

        def parse(text: str) -> tuple[dict[int, Judgement], str | None]:
            return ({steps[0]: parse_step_answer(text)}, None) if single else parse_trajectory_answer(text, steps)

        messages = _user(prompt)
        tokens = self.count(prompt)
        extra: dict[str, Any] = {"context": info.to_dict()}
        try:
            answer = await self.chat.complete(messages, self.max_tokens, tokens)
            if answer.cached:
                extra["cache_hit"] = True
            found, problem = _attempt(parse, answer.text)
            if problem is not None:
                extra["reasked"] = True
                messages = [*messages, {"role": "assistant", "content": answer.text},
                            {"role": "user", "content": REASK.format(problem=problem,
                                                                     shape="object" if single else "list")}]
                answer = await self.chat.complete(messages, self.max_tokens, tokens + self.count(answer.text) + 60)
                retry, problem = _attempt(parse, answer.text)
                found = {**retry, **{s: j for s, j in found.items() if s not in retry}}
                extra["answer"] = answer.text[:500]
        except RequestRejected as exc:
            found, problem = {}, None
            extra["rejected"] = str(exc)
        for step in steps:
            judged = found.get(step)
            if judged is not None:
                emit(make_verdict(self.id, step, judged.label, judged.score, judged.rationale, **extra))
            else:
                reason = f"the endpoint rejected the request ({extra['rejected']})" if "rejected" in extra \
                    else f"critic answer unusable after one re-ask: {problem}"
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


def _user(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]
