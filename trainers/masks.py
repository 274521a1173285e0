"""Exact token-level loss masks from per-step weights, for any chat template — or a loud refusal.

The conversation of an example is the one its steps were sent: the whole trajectory, or with recorded inputs
that diverge (format 1.1, ``context="recorded"``) one per context (:mod:`srft_format.trainers.context`). Its ids
are that conversation rendered by the chat template and tokenized once, exactly as
``tokenizer.apply_chat_template(messages, tokenize=True)`` gives them. Each step's trained text is found by
incremental prefix rendering, and checked, never assumed (spec/masks.md):

- the step's turn ``T = render(messages[:i+1])`` must start with its generation prompt
  ``G = render(messages[:i], add_generation_prompt=True)``: the model generated ``T[len(G):]``;
- ``T`` must be a prefix of the rendered example: otherwise the template rewrites the turn once later turns
  follow (e.g. it drops earlier reasoning), and the step is refused (``history="refuse"``) or trained in an
  example of its own that ends with it (``history="split"``);
- the trained text is ``T[len(G):]`` up to and including the end-of-turn special token (``train_on_eos``); the
  whitespace a template writes after that token is glue, never trained;
- boundary rule: a token is trained only when all of its characters lie inside the step's trained text, so a
  token that straddles a boundary is masked;
- ``{% generation %}`` blocks, when they pair with the assistant messages, stand for ``G`` (a fast path).

With ``use_recorded_tokens`` the ids are the policy's own recorded token ids (token-in/token-out) instead.
``max_length`` keeps the head of an example and drops (never half-trains) every step it cuts.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from srft_format.errors import Problem, SrftError
from srft_format.ids import sha256_hex
from srft_format.models import Trajectory

from .chat import TOOL_CALL_MODES, Chat, ChatTemplate, missing_calls, to_chat
from .context import CONTEXT_MODES, context_trajectory, contexts

IGNORE_INDEX = -100
HISTORY_MODES = ("refuse", "split")


@dataclass(frozen=True)
class StepSpan:
    """Token span ``[start, end)`` of a step's trained tokens; ``weight`` 0 for a masked (rejected) step."""

    step: int
    start: int
    end: int
    weight: float


@dataclass(frozen=True)
class MaskedExample:
    trajectory_id: str
    input_ids: list[int]
    labels: list[int]
    """The token id where trained, ``IGNORE_INDEX`` (-100) where masked; not shifted (the model shifts)."""
    token_weights: list[float]
    """Per token: the step weight where trained, 0.0 elsewhere."""
    steps: list[StepSpan]
    """Every step located in this example, masked ones included (weight 0), in order."""
    truncated_steps: tuple[int, ...] = ()
    """Steps with a positive weight that ``max_length`` cut: dropped whole, never half-trained."""

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass(frozen=True)
class MaskOptions:
    """How examples are built from a trajectory; every default is written here once (the CLI options of
    ``srft masks``, ``srft train`` and ``srft export`` are made from these fields: cli/options.py)."""

    chat_template: str | None = None
    """A Jinja chat template (its source) to use instead of the tokenizer's."""
    tool_calls: str = "auto"
    """``auto`` | ``native`` | ``text``: how tool calls reach the template (spec/masks.md)."""
    train_on_eos: bool = True
    """Train the end-of-turn special token of trained steps."""
    history: str = "refuse"
    """``refuse`` | ``split``: templates that rewrite a trained step's turn once later turns follow."""
    use_recorded_tokens: bool = False
    """Use the policy's recorded token ids (token-in/token-out) instead of rendering."""
    context: str = "recorded"
    """``recorded``: each step trained on the input it was sent (``Step.input``); ``final``: on the final chat.
    The two agree on trajectories without recorded inputs."""
    max_length: int | None = None
    """Keep the head of each example; steps the cut reaches are dropped whole."""

    def __post_init__(self) -> None:
        for name, value, choices in (("tool_calls", self.tool_calls, TOOL_CALL_MODES),
                                     ("history", self.history, HISTORY_MODES),
                                     ("context", self.context, CONTEXT_MODES)):
            if value not in choices:
                raise SrftError(f"{name} must be one of {', '.join(choices)}, not {value!r}")

    def recorded(self) -> dict[str, Any]:
        """The options as a run or an export records them: a custom chat template by its sha256."""
        template = self.chat_template
        return {**asdict(self), "chat_template": template and sha256_hex(template.encode())}


def build_example(traj: Trajectory, tokenizer: Any, step_weights: Sequence[float],
                  options: MaskOptions = MaskOptions()) -> MaskedExample:
    """One example holding every step of ``traj``; refuses templates that rewrite a trained step's turn, and
    trajectories whose steps were sent different contexts (see :func:`build_examples`)."""
    examples = build_examples(traj, tokenizer, step_weights, replace(options, history="refuse"))
    if len(examples) > 1:
        raise SrftError(Problem(f"the steps were sent {len(examples)} different contexts (recorded inputs): "
                                "use build_examples, or context='final' to train all on the final chat",
                                path=f"trajectory {traj.id}"))
    return examples[0]


def build_examples(traj: Trajectory, tokenizer: Any, step_weights: Sequence[float],
                   options: MaskOptions = MaskOptions()) -> list[MaskedExample]:
    """The examples that train every step of ``traj`` with its weight.

    One per context the steps were sent (:mod:`srft_format.trainers.context`; one, the whole conversation,
    without recorded inputs or with ``context="final"``); within a context, with ``history="split"``, each
    trained step whose turn the template rewrites later is trained in an extra example that ends with that
    step (and the whole context is left out when it then trains nothing).
    """
    if len(step_weights) != len(traj.steps):
        raise SrftError(Problem(f"{len(step_weights)} step weights for {len(traj.steps)} steps",
                                path=f"trajectory {traj.id}"))
    mode = "final" if options.use_recorded_tokens else options.context  # recorded ids are what was sent
    examples = []
    for context in contexts(traj, mode):
        part = context_trajectory(traj, context)
        weights = [step_weights[s] for s in context.steps]
        examples += [_renumbered(e, context.steps) for e in _context_examples(part, tokenizer, weights, options)]
    return examples


def _context_examples(traj: Trajectory, tokenizer: Any, step_weights: Sequence[float],
                      options: MaskOptions) -> list[MaskedExample]:
    """The examples of one context (a whole trajectory, or one cut by :func:`context_trajectory`)."""
    if options.use_recorded_tokens:
        draft_until = _recorded_drafts(traj, tokenizer, options.train_on_eos)
    else:
        template = ChatTemplate.for_tokenizer(tokenizer, options.chat_template)
        chat = to_chat(traj, template, options.tool_calls)
        draft_until = _rendered_drafts(traj, tokenizer, template, chat, options.train_on_eos)
    drafts = _cover(traj, step_weights, options.history, draft_until)
    return [_example(traj.id, draft, options.max_length) for draft in drafts]


def _renumbered(example: MaskedExample, steps: Sequence[int]) -> MaskedExample:
    """An example of a context with its steps numbered as in the trajectory."""
    if list(steps) == list(range(len(steps))):
        return example
    return replace(example, steps=[replace(span, step=steps[span.step]) for span in example.steps],
                   truncated_steps=tuple(steps[s] for s in example.truncated_steps))


# --------------------------------------------------------------------------------------------- drafts


@dataclass
class _Draft:
    """Token ids and, per located step, its trained token span and weight; ``problems`` for the others."""

    ids: list[int]
    spans: dict[int, tuple[int, int]]
    weights: dict[int, float] = field(default_factory=dict)
    problems: dict[int, str] = field(default_factory=dict)


DraftMaker = Callable[[int | None, Sequence[int]], _Draft]
"""``(last step or None for the whole trajectory, steps to locate) -> draft``."""


def _cover(traj: Trajectory, weights: Sequence[float], history: str,
           draft_until: DraftMaker) -> list[_Draft]:
    """Drafts that place every trained step once: the whole trajectory, then one ending at each step left."""
    draft = draft_until(None, range(len(traj.steps)))
    draft.weights = {step: weights[step] for step in draft.spans}
    pending = [s for s in range(len(traj.steps)) if weights[s] > 0 and s not in draft.spans]
    trains = any(weights[s] > 0 for s in draft.spans)
    drafts = [draft] if trains or history == "refuse" or not pending else []
    while pending:
        if history == "refuse":
            raise _step_error(traj, pending[0], draft.problems[pending[0]])
        draft = draft_until(pending[-1], pending)
        if pending[-1] not in draft.spans:
            raise _step_error(traj, pending[-1], draft.problems[pending[-1]])
        draft.weights = {step: weights[step] for step in draft.spans}
        drafts.append(draft)
        pending = [s for s in pending if s not in draft.spans]
    return drafts


def _step_error(traj: Trajectory, step: int, message: str) -> SrftError:
    return SrftError(Problem(message, path=f"trajectory {traj.id}: steps[{traj.steps[step].index}]"))


def _rendered_drafts(traj: Trajectory, tokenizer: Any, template: ChatTemplate, chat: Chat,
                     train_on_eos: bool) -> DraftMaker:
    renders = _PrefixRenders(template, chat, f"trajectory {traj.id}")
    end_of_turn = _EndOfTurn(tokenizer)

    def draft_until(last: int | None, steps: Sequence[int]) -> _Draft:
        end = len(chat.messages) if last is None else chat.step_messages[last] + 1
        text, tagged = renders.tagged(end) if template.has_generation_tags else (renders.through(end), {})
        char_spans: dict[int, tuple[int, int]] = {}
        problems: dict[int, str] = {}
        for step in steps:
            message = chat.step_messages[step]
            located = renders.locate(message, text, tagged.get(message))
            if isinstance(located, str):
                problems[step] = f"step {traj.steps[step].index} (messages[{traj.steps[step].output}]): {located}"
                continue
            if missing := missing_calls(chat.messages[message], text[located[0]:located[1]]):
                raise _step_error(traj, step, f"the chat template dropped tool call(s) {', '.join(missing)} "
                                  "of this step: its actions would vanish; use tool_calls='text' "
                                  "(--tool-calls text)")
            char_spans[step] = end_of_turn.trained(text, *located, train_on_eos)
        ids, token_span = _tokenize(tokenizer, text)
        spans = {step: token_span(*span) for step, span in char_spans.items()}
        return _Draft(ids, spans, problems=problems)

    return draft_until


class _PrefixRenders:
    """Renders of the conversation's prefixes, each computed once."""

    def __init__(self, template: ChatTemplate, chat: Chat, where: str):
        self.template, self.chat, self.where = template, chat, where
        self._through: dict[int, str] = {}

    def through(self, n: int) -> str:
        """``messages[:n]`` rendered as a finished conversation."""
        if n not in self._through:
            self._through[n] = self.template.render(self.chat.messages[:n], self.chat.tools,
                                                    where=self.where)
        return self._through[n]

    def prompt(self, n: int) -> str:
        """``messages[:n]`` rendered with the generation prompt: what the policy saw before message ``n``."""
        return self.template.render(self.chat.messages[:n], self.chat.tools, add_generation_prompt=True,
                                    where=self.where)

    def tagged(self, n: int) -> tuple[str, dict[int, tuple[int, int]]]:
        """``messages[:n]`` rendered, and each assistant message's ``{% generation %}`` block in it (none
        when the blocks do not pair one to one with the assistant messages)."""
        text, blocks = self.template.render_tracked(self.chat.messages[:n], self.chat.tools,
                                                    where=self.where)
        self._through.setdefault(n, text)
        assistants = [i for i, m in enumerate(self.chat.messages[:n]) if m["role"] == "assistant"]
        return text, dict(zip(assistants, blocks)) if len(blocks) == len(assistants) else {}

    def locate(self, message: int, text: str,
               generated: tuple[int, int] | None = None) -> tuple[int, int] | str:
        """Character span of assistant ``message``'s generated turn in ``text``, or why there is none.

        ``generated``: the message's ``{% generation %}`` block in ``text``, which then stands for the
        generation prompt render (the turn is still rendered, to check that later turns do not rewrite it).
        """
        turn = self.through(message + 1)
        if generated is not None and text.startswith(turn) and generated[1] <= len(turn):
            return generated
        prompt = self.prompt(message)
        if not turn.startswith(prompt):
            at = _first_difference(prompt, turn)
            return ("the chat template renders this assistant turn differently from its own generation "
                    f"prompt (generation prompt {prompt[at:at + 40]!r} vs turn {turn[at:at + 40]!r}), so the "
                    "generated text cannot be located")
        if not text.startswith(turn):
            at = _first_difference(turn, text)
            return ("the chat template rewrites this turn once later turns follow (e.g. it drops earlier "
                    f"reasoning): rendered last it reads {turn[at:at + 40]!r}, later {text[at:at + 40]!r}; "
                    "use history='split' (--history split) to train such steps in examples of their own")
        return len(prompt), len(turn)


def _first_difference(a: str, b: str) -> int:
    """The first index where ``a`` and ``b`` differ (binary search on slices: C speed)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _EndOfTurn:
    """Finds the end-of-turn special token that closes a generated turn."""

    def __init__(self, tokenizer: Any):
        added = getattr(tokenizer, "added_tokens_decoder", {}).values()
        self.specials = {t.content for t in added if getattr(t, "special", False)}
        self.specials.update(getattr(tokenizer, "all_special_tokens", ()))
        self.specials.discard("")
        self.longest = max(map(len, self.specials), default=0)

    def trained(self, text: str, start: int, end: int, train_on_eos: bool) -> tuple[int, int]:
        """The trained part of ``text[start:end]``: up to the end-of-turn token (kept iff ``train_on_eos``).

        A turn that ends with a special token followed only by whitespace: the token ends the turn and the
        whitespace is template glue. A turn without one is trained whole.
        """
        stop = start + len(text[start:end].rstrip())
        for size in range(min(self.longest, stop - start), 0, -1):
            if text[stop - size:stop] in self.specials:
                return start, stop if train_on_eos else stop - size
        return start, end


def _tokenize(tokenizer: Any, text: str) -> tuple[list[int], Callable[[int, int], tuple[int, int]]]:
    """Ids of ``text`` tokenized once, as apply_chat_template does, and a char-span -> token-span function."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise SrftError("mask building needs a fast (Rust) tokenizer: it maps characters to tokens by "
                        "their offsets")
    encoding = backend.encode(text, add_special_tokens=False)
    ends: list[int] = []

    def token_span(start: int, end: int) -> tuple[int, int]:
        """Tokens whose characters all lie in ``[start, end)``; a token starts where the previous one ends.

        The first token kept is the first ending after ``start`` when its predecessor ends exactly at
        ``start`` (several byte-level pieces of one character share its end). Otherwise that token begins
        before ``start`` and straddles the boundary: masked. Tokenizers that trim whitespace from offsets
        leave a gap before a token, which therefore counts as straddling too.
        """
        if not ends:
            ends.extend([offset[1] for offset in encoding.offsets])
        first = bisect_right(ends, start)
        if start > (ends[first - 1] if first else 0):
            first += 1
        return first, max(first, bisect_right(ends, end))

    return encoding.ids, token_span


def _recorded_drafts(traj: Trajectory, tokenizer: Any, train_on_eos: bool) -> DraftMaker:
    """Token-in/token-out: each step's recorded prompt + completion ids, checked to extend one another."""
    sequences: list[list[int]] = []
    prompts: list[int] = []
    for step in traj.steps:
        tokens = step.tokens
        where = f"trajectory {traj.id}: steps[{step.index}].tokens"
        if tokens is None or tokens.prompt_token_ids is None or tokens.completion_token_ids is None:
            raise SrftError(Problem("use_recorded_tokens needs the step's prompt_token_ids and "
                                    "completion_token_ids", path=where))
        sequence = [*tokens.prompt_token_ids, *tokens.completion_token_ids]
        if sequence and (min(sequence) < 0 or max(sequence) >= len(tokenizer)):
            raise SrftError(Problem(f"recorded token ids fall outside the tokenizer's {len(tokenizer)} ids: "
                                    "they belong to another tokenizer", path=where))
        prompts.append(len(tokens.prompt_token_ids))
        sequences.append(sequence)
    eos = getattr(tokenizer, "eos_token_id", None)

    def draft_until(last: int | None, steps: Sequence[int]) -> _Draft:
        ids = sequences[-1 if last is None else last]
        spans, problems = {}, {}
        for step in steps:
            sequence = sequences[step]
            if ids[:len(sequence)] != sequence:
                problems[step] = (f"step {step}'s recorded prompt + completion ids are not a prefix of the "
                                  "later steps' prompts (the scaffold rewrote or truncated its history); use "
                                  "history='split' (--history split) to train such steps in examples of "
                                  "their own")
                continue
            stop = len(sequence) - (1 if not train_on_eos and sequence[-1] == eos else 0)
            spans[step] = (prompts[step], max(prompts[step], stop))
        return _Draft(list(ids), spans, problems=problems)

    return draft_until


# ------------------------------------------------------------------------------------------- examples


def _example(trajectory_id: str, draft: _Draft, max_length: int | None) -> MaskedExample:
    """Labels and weights from a draft, cut to ``max_length`` (steps the cut reaches are dropped whole)."""
    ids = draft.ids if max_length is None else draft.ids[:max_length]
    labels = [IGNORE_INDEX] * len(ids)
    token_weights = [0.0] * len(ids)
    steps, truncated = [], []
    for step in sorted(draft.spans):
        start, end = draft.spans[step]
        weight = draft.weights.get(step, 0.0)
        if end > len(ids):
            if weight > 0:
                truncated.append(step)
            continue
        steps.append(StepSpan(step, start, end, weight))
        if weight > 0:
            labels[start:end] = ids[start:end]
            token_weights[start:end] = [weight] * (end - start)
    return MaskedExample(trajectory_id, list(ids), labels, token_weights, steps, tuple(truncated))
