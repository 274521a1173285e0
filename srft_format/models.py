"""The srft data model, format version 1.1.

These pydantic models *are* the standard: ``spec/v1.1/*.schema.json`` is generated from them
(``python -m srft_format.schema --write``) and a test fails when the two drift apart.

One :class:`Trajectory` is one attempt of one agent on one task. Its ``messages`` are the chat exactly as
the policy saw and produced it; its ``steps`` (one per policy LLM call) point into ``messages`` by index.
Step verdicts live either inline (``Trajectory.verdicts``) or in a dataset's verdict sidecar files
(:class:`VerdictRecord`); every verdict names an :class:`Annotator` declared once.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = "1.1"
"""The format version this library writes (``MAJOR.MINOR``)."""

FORMAT_MAJOR, FORMAT_MINOR = (int(p) for p in FORMAT_VERSION.split("."))

VERSION_PATTERN = rf"^{FORMAT_MAJOR}\.[0-9]+$"

JsonObject = dict[str, Any]


class Model(BaseModel):
    """Base for every srft model: unknown fields are errors (they go in ``extra``)."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_default=False)


def _extra() -> Any:
    return Field(
        default_factory=dict,
        description="Source fields this model does not map, kept verbatim so conversion loses nothing.",
    )


# --------------------------------------------------------------------------------------------- messages


class Role(str, Enum):
    system = "system"
    user = "user"
    assistant = "assistant"
    tool = "tool"


class TextPart(Model):
    type: Literal["text"]
    text: str


class ImagePart(Model):
    type: Literal["image"]
    url: str = Field(description="An http(s) URL or a data: URL holding the image bytes.")
    detail: str | None = None


ContentPart = Annotated[Union[TextPart, ImagePart], Field(discriminator="type")]


class ToolCall(Model):
    id: str = Field(description="Unique within the trajectory; tool results point at it.")
    name: str
    arguments: str = Field(description="The arguments as the model wrote them: a JSON string, not an object.")
    type: Literal["function"] = "function"


class Message(Model):
    role: Role
    content: str | list[ContentPart] | None = Field(
        default=None, description="Visible text, or a list of content parts. Null when only tool calls."
    )
    reasoning: str | None = Field(default=None, description="The model's reasoning/thinking, kept apart.")
    tool_calls: list[ToolCall] = Field(default_factory=list, description="Assistant messages only.")
    tool_call_id: str | None = Field(default=None, description="Tool messages: the call this result answers.")
    name: str | None = Field(default=None, description="Tool name (tool role) or participant name.")
    extra: JsonObject = _extra()


# ------------------------------------------------------------------------------------------------ steps


class ActionKind(str, Enum):
    bash = "bash"
    edit = "edit"
    view = "view"
    search = "search"
    submit = "submit"
    think = "think"
    message = "message"
    other = "other"


class Action(Model):
    kind: ActionKind
    command: str | None = Field(default=None, description="The command or tool invocation as text.")
    tool: str | None = Field(default=None, description="The tool (function) name, when there is one.")
    tool_call_id: str | None = Field(default=None, description="The tool call this action came from.")


class ExcludeReason(str, Enum):
    """Why a step is not policy output and must never be trained, whatever its verdicts say."""

    demonstration = "demonstration"
    copied_context = "copied_context"
    summary = "summary"
    requery = "requery"


class Usage(Model):
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    cached_tokens: int | None = Field(default=None, ge=0)
    cost: float | None = Field(default=None, ge=0, description="In US dollars.")


class TokenRecord(Model):
    """The exact tokens of the LLM call, when the source recorded them (token-in/token-out training)."""

    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    completion_logprobs: list[float] | None = None
    tokenizer: str | None = Field(default=None, description="The tokenizer these ids belong to.")


class InputItem(Model):
    """One item of a step's recorded input (1.1): a run ``messages[start:stop]`` of the trajectory, or one inline
    ``message`` the trajectory does not hold as such (an elided observation, a summary). Exactly one of the two."""

    start: int | None = Field(default=None, ge=0)
    stop: int | None = Field(default=None, ge=0, description="Exclusive; at most the step's output.")
    message: Message | None = None


class Step(Model):
    """One LLM call of the policy: the assistant message it produced and what came back."""

    index: int = Field(ge=0, description="Position in ``steps``: 0, 1, 2, ...")
    output: int = Field(ge=0, description="Index into ``messages`` of the assistant message this call produced.")
    observations: list[int] = Field(
        default_factory=list, description="Indices into ``messages`` of what came back (tool results, user turns)."
    )
    actions: list[Action] = Field(default_factory=list, description="The parsed actions, in order.")
    exclude: list[ExcludeReason] = Field(
        default_factory=list, description="Non-empty: not policy output, never trained."
    )
    started_at: datetime | None = None
    duration_s: float | None = Field(default=None, ge=0, description="Wall time of the LLM call and its actions.")
    usage: Usage | None = None
    tokens: TokenRecord | None = None
    input: list[InputItem] | None = Field(
        default=None,
        description="1.1: the exact input of this call, when it differs from messages[:output]; null when equal.",
    )
    extra: JsonObject = _extra()


# --------------------------------------------------------------------------------------------- verdicts


class Label(str, Enum):
    correct = "correct"
    incorrect = "incorrect"
    neutral = "neutral"
    unknown = "unknown"


class AnnotatorKind(str, Enum):
    llm = "llm"
    rule = "rule"
    human = "human"
    outcome = "outcome"


class Evidence(str, Enum):
    """What an annotator may see besides the step itself (1.1)."""

    prefix = "prefix"
    future = "future"
    outcome = "outcome"
    tests = "tests"
    gold_patch = "gold_patch"


class Annotator(Model):
    """Who labels steps. Declared once; every verdict names it by ``id``."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]*$", max_length=128)
    kind: AnnotatorKind
    model: str | None = Field(default=None, description="The critic model, for llm annotators.")
    prompt: str | None = Field(default=None, description="Prompt template name, for llm annotators.")
    prompt_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    parameters: JsonObject = Field(default_factory=dict, description="Sampling settings, rule set, thresholds...")
    evidence: list[Evidence] = Field(
        default_factory=list,
        description="1.1: what the annotator saw to judge a step; empty when not declared.",
    )
    description: str | None = None
    extra: JsonObject = _extra()


class Verdict(Model):
    step: int = Field(ge=0, description="The step's ``index``.")
    annotator: str = Field(description="The ``id`` of a declared annotator.")
    label: Label
    score: float | None = Field(default=None, ge=0, le=1, description="Probability the step is correct.")
    rationale: str | None = None
    created_at: datetime | None = None
    extra: JsonObject = _extra()


class VerdictRecord(Verdict):
    """One line of a verdict sidecar file: a verdict keyed by (trajectory, step, annotator)."""

    format_version: str = Field(pattern=VERSION_PATTERN)
    trajectory: str = Field(description="The trajectory ``id``.")


# ------------------------------------------------------------------------------------ the trajectory


class Task(Model):
    instance_id: str | None = None
    dataset: str | None = Field(default=None, description="Benchmark or dataset, e.g. 'SWE-bench_Verified'.")
    repo: str | None = Field(default=None, description="'owner/name'.")
    base_commit: str | None = None
    problem_statement: str | None = None
    gold_patch: str | None = Field(default=None, description="1.1: the reference fix (SWE-bench 'patch').")
    test_patch: str | None = Field(default=None, description="1.1: the patch adding the evaluation tests.")
    fail_to_pass: list[str] | None = Field(default=None, description="1.1: test ids the fix must make pass.")
    pass_to_pass: list[str] | None = Field(default=None, description="1.1: test ids that must keep passing.")
    extra: JsonObject = _extra()


class Agent(Model):
    scaffold: str | None = Field(default=None, description="e.g. 'swe-agent', 'openhands', 'mini-swe-agent'.")
    scaffold_version: str | None = None
    model: str | None = Field(default=None, description="The policy model.")
    sampling: JsonObject = Field(default_factory=dict, description="temperature, top_p, max_tokens, ...")
    tools: list[JsonObject] = Field(default_factory=list, description="Tool schemas offered (OpenAI function format).")
    config: Any = Field(default=None, description="The scaffold's own configuration, opaque.")
    extra: JsonObject = _extra()


class Evaluation(Model):
    source: str | None = Field(default=None, description="Which evaluation decided ``resolved`` (file, harness).")
    fail_to_pass: list[str] | None = None
    pass_to_pass: list[str] | None = None
    tests_failed: list[str] | None = None
    extra: JsonObject = _extra()


class Outcome(Model):
    exit_status: str | None = Field(default=None, description="Why the run ended, as the scaffold said it.")
    patch: str | None = Field(default=None, description="The submitted diff.")
    resolved: bool | None = Field(default=None, description="True / false when evaluated; null when unknown.")
    evaluation: Evaluation | None = None
    extra: JsonObject = _extra()


class Provenance(Model):
    source_format: str = Field(description="The converter's source format name, e.g. 'swe-agent'.")
    source_version: str | None = Field(default=None, description="The version detected from the data.")
    converter: str = Field(description="Converter name and package, e.g. 'srft_format.converters.swe_agent'.")
    converter_version: str
    source_file: str | None = Field(default=None, description="Relative to the conversion's input root.")
    record_offset: int | None = Field(default=None, ge=0, description="Record number (0-based) in the file.")
    record_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    messages: Literal["recorded", "reconstructed"] = Field(
        default="recorded",
        description="'recorded': the source logged the model input; 'reconstructed': rebuilt from events.",
    )
    api_calls: int | None = Field(
        default=None, ge=0,
        description="1.1: LLM calls the source counted; more than the steps means some calls left no output.",
    )


class Trajectory(Model):
    """One attempt of one agent on one task."""

    format_version: str = Field(pattern=VERSION_PATTERN, description="'MAJOR.MINOR' of the srft format.")
    id: str = Field(min_length=1, description="Stable id; deterministic for the same source content.")
    task: Task = Field(default_factory=Task)
    agent: Agent = Field(default_factory=Agent)
    outcome: Outcome = Field(default_factory=Outcome)
    messages: list[Message] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    annotators: list[Annotator] = Field(default_factory=list, description="Annotators of the inline verdicts.")
    verdicts: list[Verdict] = Field(default_factory=list, description="Inline verdicts (sidecars hold more).")
    provenance: Provenance | None = None
    usage: Usage | None = Field(default=None, description="1.1: the whole run's totals, as the source counted them.")
    extra: JsonObject = _extra()


# --------------------------------------------------------------------------------------------- datasets


class DataFile(Model):
    path: str = Field(description="Relative to the dataset directory, '/'-separated.")
    kind: Literal["trajectories", "verdicts"]
    storage: Literal["jsonl", "parquet"]
    records: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Counts(Model):
    trajectories: int = 0
    steps: int = 0
    messages: int = 0
    verdicts: int = 0


class Source(Model):
    format: str
    version: str | None = None
    files: int = 0
    trajectories: int = 0


class Manifest(Model):
    """``manifest.json`` at the root of a dataset directory: what is in it and how to check it."""

    format_version: str = Field(pattern=VERSION_PATTERN)
    name: str = Field(min_length=1)
    version: str = Field(default="0.1.0", description="The dataset's own version.")
    description: str | None = None
    license: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sources: list[Source] = Field(default_factory=list)
    annotators: list[Annotator] = Field(default_factory=list)
    counts: Counts = Field(default_factory=Counts)
    files: list[DataFile] = Field(default_factory=list)
    extra: JsonObject = _extra()


RECORD_MODELS: dict[str, type[Model]] = {
    "trajectory": Trajectory,
    "verdict": VerdictRecord,
    "manifest": Manifest,
}
"""Each top-level record kind and its model; one JSON Schema file each in ``spec/``."""


def record_kind(model: type[Model]) -> str:
    """The kind of a record model: ``Trajectory`` -> ``'trajectory'``."""
    return next(kind for kind, candidate in RECORD_MODELS.items() if candidate is model)
