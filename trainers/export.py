"""Exports for users of other trainers: the policy's step weights as each trainer's own per-message flag.

========  ================================================================================================
target    one JSONL row per trajectory with a trained step (per context it was sent: see below)
========  ================================================================================================
openai    OpenAI fine-tuning chat rows: ``{"messages": [...], "tools": [...]}``; every assistant message
          carries ``weight`` 0 or 1 (1: an accepted step). Tool calls keep OpenAI's schema
          (``{"id", "type": "function", "function": {"name", "arguments"}}``, arguments a JSON string).
          ``tools`` holds the agent's tool schemas when the source recorded them; rows with tool calls but no
          schemas are counted (``rows_without_tools``: OpenAI expects ``tools`` beside function calls).
axolotl   ``type: chat_template`` rows: ``{"messages": [...], "tools": [...]}``, every message with a boolean
          ``training``; reasoning in ``reasoning_content``. axolotl config::

              datasets:
                - path: train.jsonl
                  ds_type: json
                  type: chat_template
                  field_messages: messages
                  message_field_training: training
                  roles_to_train: [assistant]
                  train_on_eos: turn

          axolotl renders the rows with the chat template of the model it trains, and a template that cannot
          render tool calls drops them silently. With the tokenizer (and ``--chat-template``) you will train
          with, the rows are converted for that template as srft's own masks convert them
          (:func:`~srft_format.trainers.chat.to_chat`): tool calls, tool results and reasoning it cannot render
          are written as text in the documented convention, or, with ``tool_calls="native"``, the export is
          refused. Without a tokenizer the check is skipped, and the summary says so.

trl       pre-tokenised rows ``{"input_ids", "attention_mask", "labels"}`` (``-100``: no loss) for one
          tokenizer, from :func:`~srft_format.trainers.masks.build_examples` (one row per example: more than
          one per trajectory with ``history="split"`` or several contexts); TRL's ``SFTTrainer`` uses the
          ``labels`` column as is (also axolotl's "custom pre-tokenized" format). ``max_length`` keeps the head of
          each row as ``srft train`` does: a trained step the cut reaches is dropped whole, never half-trained,
          and counted (``trained_steps_cut``); rows are then never longer than ``max_length``, so an
          ``SFTConfig`` with that ``max_length`` (or ``None``) never truncates them.
sharegpt  ``{"conversations": [{"from", "value"}], "tools": "<JSON>"}``, ``from`` in system / human /
          gpt / observation (tool results); each ``gpt`` turn carries the boolean ``train`` (axolotl:
          ``message_property_mappings: {role: from, content: value}``, ``message_field_training: train``,
          ``roles: {user: [human], assistant: [gpt], tool: [observation]}``). ShareGPT has no tool-call or
          reasoning field: they are written as text by the conventions of
          :mod:`~srft_format.trainers.chat` (``<function=NAME>`` / ``<parameter=KEY>`` blocks after the
          content, as SWE-agent and SWE-smith do; reasoning as ``<think>...</think>`` before it).
========  ================================================================================================

The flags are 0/1 in every target, so a ``--soft`` policy cannot be exported (it is refused, not rounded).
Assistant messages that are no step's output (not policy output) are never trained. With
``context="recorded"`` (the default) a trajectory whose steps were sent different inputs (``Step.input``) gives
one row per context that trains a step, its messages the input that step saw
(:mod:`~srft_format.trainers.context`); without recorded inputs, one row as with ``context="final"``. OpenAI's
format has no reasoning field: reasoning is dropped there and counted in the summary. Every row is checked against the
target's documented fields (:data:`SCHEMAS` plus :func:`check_row`) before it is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from srft_format.dataset import MANIFEST, Dataset, file_sha256
from srft_format.errors import Problem, SrftError
from srft_format.jsonl import open_output, write_lines
from srft_format.models import Message, Role, TextPart, Trajectory
from srft_format.policy import TrainingPolicy, trained_steps

from .chat import ChatTemplate, text_tool_calls, to_chat
from .context import context_trajectory, contexts
from .data import mask_trajectory, weighted_trajectories
from .masks import IGNORE_INDEX, MaskOptions

TARGETS = ("openai", "axolotl", "trl", "sharegpt")


# ----------------------------------------------------------------------------------------- the schemas

def _object(properties: dict[str, Any], *required: str, closed: bool = True) -> dict[str, Any]:
    """A JSON Schema object with these properties (``closed``: and no others)."""
    schema = {"type": "object", "properties": properties, "required": list(required)}
    return {**schema, "additionalProperties": False} if closed else schema


def _array(items: dict[str, Any], min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items}


def _by_role(schemas: dict[tuple[str, ...], dict[str, Any]]) -> dict[str, Any]:
    """A message schema that applies its role's sub-schema (so that errors name the real problem)."""
    roles = [role for group in schemas for role in group]
    return {**_object({"role": {"enum": roles}}, "role", closed=False), "allOf": [
        {"if": {"properties": {"role": {"enum": list(group)}}},
         "then": {**schema, "properties": {"role": {}, **schema["properties"]}}}
        for group, schema in schemas.items()]}


_STRING = {"type": "string"}
_TEXT_PART = _object({"type": {"const": "text"}, "text": _STRING}, "type", "text")
_IMAGE_PART = _object({"type": {"const": "image_url"},
                       "image_url": _object({"url": _STRING, "detail": _STRING}, "url")}, "type", "image_url")
_STRING_OR_TEXT_PARTS = {"anyOf": [_STRING, _array(_TEXT_PART)]}
_TOOL_CALL = _object({"id": _STRING, "type": {"const": "function"},
                      "function": _object({"name": _STRING, "arguments": _STRING}, "name", "arguments")},
                     "id", "type", "function")
_FUNCTION = _object({"name": _STRING}, "name", closed=False)
_TOOLS = _array(_object({"type": {"const": "function"}, "function": _FUNCTION}, "type", "function",
                        closed=False))

SCHEMAS: dict[str, dict[str, Any]] = {
    # OpenAI ``FineTuneChatRequestInput``: messages of the chat-completions roles; ``weight`` (0 or 1) exists
    # only on assistant messages (``FineTuneChatCompletionRequestAssistantMessage``).
    "openai": _object({
        "tools": _TOOLS, "parallel_tool_calls": {"type": "boolean"},
        "messages": _array(_by_role({
            ("system", "developer"): _object({"content": _STRING_OR_TEXT_PARTS, "name": _STRING}, "content"),
            ("user",): _object({"content": {"anyOf": [_STRING, _array({"oneOf": [_TEXT_PART, _IMAGE_PART]})]},
                                "name": _STRING}, "content"),
            ("assistant",): _object({"content": {"anyOf": [_STRING_OR_TEXT_PARTS, {"type": "null"}]},
                                     "name": _STRING, "tool_calls": _array(_TOOL_CALL),
                                     "weight": {"enum": [0, 1]}}),
            ("tool",): _object({"content": _STRING_OR_TEXT_PARTS, "tool_call_id": _STRING},
                               "content", "tool_call_id")}), min_items=1)}, "messages"),
    # axolotl ``type: chat_template``: OpenAI-style messages, each with a boolean ``message_field_training``.
    "axolotl": _object({
        "tools": _TOOLS,
        "messages": _array(_object({
            "role": {"enum": ["system", "user", "assistant", "tool"]}, "content": _STRING,
            "training": {"type": "boolean"}, "reasoning_content": _STRING, "tool_calls": _array(_TOOL_CALL),
            "tool_call_id": _STRING, "name": _STRING}, "role", "content", "training"), min_items=1)},
        "messages"),
    # TRL / axolotl pre-tokenised rows: labels are the ids themselves, or -100 for no loss.
    "trl": _object({"input_ids": _array({"type": "integer", "minimum": 0}, min_items=1),
                    "attention_mask": _array({"enum": [0, 1]}),
                    "labels": _array({"type": "integer", "minimum": -100})},
                   "input_ids", "attention_mask", "labels"),
    # ShareGPT: ``conversations`` of ``{"from", "value"}``; ``train`` is srft's documented per-turn flag.
    "sharegpt": _object({
        "tools": _STRING, "system": _STRING,
        "conversations": _array(_object({
            "from": {"enum": ["system", "human", "gpt", "observation"]}, "value": _STRING,
            "train": {"type": "boolean"}}, "from", "value"), min_items=1)}, "conversations"),
}


def check_row(target: str, row: dict[str, Any]) -> list[str]:
    """Every way ``row`` breaks the ``target`` format's documented fields and rules (empty: valid)."""
    from jsonschema import Draft202012Validator

    problems = [f"{'.'.join(map(str, e.absolute_path)) or 'row'}: {e.message}"
                for e in Draft202012Validator(SCHEMAS[target]).iter_errors(row)]
    if problems:
        return problems
    return _RULES[target](row)


def _openai_rules(row: dict[str, Any]) -> list[str]:
    problems, calls = [], set()
    for i, msg in enumerate(row["messages"]):
        calls.update(call["id"] for call in msg.get("tool_calls", ()))
        if msg["role"] == "tool" and msg["tool_call_id"] not in calls:
            problems.append(f"messages.{i}: the tool message answers no earlier tool call "
                            f"{msg['tool_call_id']!r}")
        if msg["role"] == "assistant" and msg.get("content") is None and not msg.get("tool_calls"):
            problems.append(f"messages.{i}: an assistant message needs content or tool_calls")
    if not any(m.get("weight") == 1 for m in row["messages"] if m["role"] == "assistant"):
        problems.append("messages: no assistant message has weight 1 (nothing to train)")
    return problems


def _axolotl_rules(row: dict[str, Any]) -> list[str]:
    problems = [f"messages.{i}: only assistant messages may have training: true"
                for i, m in enumerate(row["messages"]) if m["training"] and m["role"] != "assistant"]
    if not any(m["training"] for m in row["messages"]):
        problems.append("messages: no message has training: true (nothing to train)")
    return problems


def _trl_rules(row: dict[str, Any]) -> list[str]:
    ids, labels, mask = row["input_ids"], row["labels"], row["attention_mask"]
    if not len(ids) == len(labels) == len(mask):
        return [f"input_ids, labels and attention_mask differ in length "
                f"({len(ids)}, {len(labels)}, {len(mask)})"]
    problems = [f"labels.{i}: {label} is neither -100 nor the token id {ids[i]}"
                for i, label in enumerate(labels) if label not in (IGNORE_INDEX, ids[i])][:3]
    if all(label == IGNORE_INDEX for label in labels):
        problems.append("labels: every label is -100 (nothing to train)")
    return problems


def _sharegpt_rules(row: dict[str, Any]) -> list[str]:
    turns = row["conversations"]
    problems = [f"conversations.{i}: only gpt turns carry train" for i, t in enumerate(turns)
                if "train" in t and t["from"] != "gpt"]
    problems += [f"conversations.{i}: a system turn must come first" for i, t in enumerate(turns)
                 if t["from"] == "system" and i > 0]
    if not any(t.get("train") for t in turns):
        problems.append("conversations: no gpt turn has train: true (nothing to train)")
    return problems


_RULES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "openai": _openai_rules, "axolotl": _axolotl_rules, "trl": _trl_rules, "sharegpt": _sharegpt_rules}


# ------------------------------------------------------------------------------------------- the rows


@dataclass
class ExportSummary:
    target: str
    trajectories: int = 0
    rows: int = 0
    skipped: int = 0
    """Trajectories with no trained step under the policy (no row)."""
    steps: int = 0
    trained_steps: int = 0
    reasoning_dropped: int = 0
    """Assistant messages whose reasoning the target has no field for."""
    rows_without_tools: int = 0
    """openai: rows with tool calls whose source recorded no tool schemas (no ``tools`` list)."""
    template_check: str | None = None
    """axolotl: what the check of the training template found, or that it was skipped."""
    rows_with_text_tool_calls: int = 0
    """axolotl: rows whose tool calls (or results) are written as text for the template."""
    trained_tokens: int = 0
    """trl: tokens with a label."""
    trained_steps_cut: int = 0
    """trl: trained steps that ``max_length`` cut (dropped whole)."""


def _message_weights(traj: Trajectory, weights: list[float]) -> dict[int, int]:
    """0/1 per assistant message index: 1 for the output of a step with a positive weight."""
    trained = {step.output for step, w in zip(traj.steps, weights) if w > 0}
    return {i: int(i in trained) for i, m in enumerate(traj.messages) if m.role is Role.assistant}


def _text(traj: Trajectory, index: int, msg: Message) -> str:
    """The text of a message; image parts have no place outside OpenAI user messages and are refused."""
    if msg.content is None or isinstance(msg.content, str):
        return msg.content or ""
    if any(not isinstance(part, TextPart) for part in msg.content):
        raise SrftError(Problem(f"trajectory {traj.id!r}: this export target has no place for image parts",
                                f"messages[{index}].content"))
    return "".join(part.text for part in msg.content)


def _tool_calls(msg: Message) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in msg.tool_calls]


def _tools(traj: Trajectory) -> list[dict[str, Any]]:
    """The agent's tool schemas in OpenAI's ``{"type": "function", "function": {...}}`` shape."""
    return [t if "function" in t else {"type": "function", "function": t} for t in traj.agent.tools]


def openai_row(traj: Trajectory, weights: list[float], summary: ExportSummary) -> dict[str, Any]:
    trained = _message_weights(traj, weights)
    messages = []
    for i, msg in enumerate(traj.messages):
        out: dict[str, Any] = {"role": msg.role.value}
        if msg.role is Role.user and isinstance(msg.content, list):
            out["content"] = [{"type": "text", "text": p.text} if isinstance(p, TextPart)
                              else {"type": "image_url", "image_url": {"url": p.url, **({"detail": p.detail}
                                                                                        if p.detail else {})}}
                              for p in msg.content]
        elif msg.role is Role.assistant:
            out["content"] = _text(traj, i, msg) if msg.content is not None else None
            if msg.tool_calls:
                out["tool_calls"] = _tool_calls(msg)
            out["weight"] = trained[i]
            summary.reasoning_dropped += msg.reasoning is not None
        else:
            out["content"] = _text(traj, i, msg)
        if msg.role is Role.tool:
            out["tool_call_id"] = msg.tool_call_id
        messages.append(out)
    summary.rows_without_tools += not traj.agent.tools and any(m.tool_calls for m in traj.messages)
    return {"messages": messages, **({"tools": _tools(traj)} if traj.agent.tools else {})}


def axolotl_row(traj: Trajectory, weights: list[float], summary: ExportSummary,
                template: ChatTemplate | None = None, tool_calls: str = "auto") -> dict[str, Any]:
    """The axolotl row; with the ``template`` axolotl will render it with, converted for that template."""
    if template is not None:
        return _axolotl_chat_row(traj, weights, summary, template, tool_calls)
    trained = _message_weights(traj, weights)
    messages = []
    for i, msg in enumerate(traj.messages):
        out: dict[str, Any] = {"role": msg.role.value, "content": _text(traj, i, msg),
                               "training": bool(trained.get(i, 0))}
        if msg.reasoning is not None:
            out["reasoning_content"] = msg.reasoning
        if msg.tool_calls:
            out["tool_calls"] = _tool_calls(msg)
        if msg.tool_call_id is not None:
            out["tool_call_id"] = msg.tool_call_id
        if msg.name is not None and msg.role is Role.tool:
            out["name"] = msg.name
        messages.append(out)
    return {"messages": messages, **({"tools": _tools(traj)} if traj.agent.tools else {})}


def _axolotl_chat_row(traj: Trajectory, weights: list[float], summary: ExportSummary, template: ChatTemplate,
                      tool_calls: str) -> dict[str, Any]:
    """Messages as :func:`to_chat` gives them for ``template`` (what it cannot render written as text), each
    with its ``training`` flag; native tool-call arguments as JSON strings, as axolotl reads them."""
    chat = to_chat(traj, template, tool_calls)
    trained = {chat.step_messages[i] for i, w in enumerate(weights) if w > 0}
    messages = []
    for i, message in enumerate(chat.messages):
        out: dict[str, Any] = {"role": message["role"], "content": message["content"], "training": i in trained}
        if "reasoning_content" in message:
            out["reasoning_content"] = message["reasoning_content"]
        if message.get("tool_calls"):
            out["tool_calls"] = [{"id": c["id"], "type": "function", "function": {
                "name": c["function"]["name"], "arguments": _json_text(c["function"]["arguments"])}}
                for c in message["tool_calls"]]
        for key in ("tool_call_id", "name"):
            if key in message and message["role"] == "tool":
                out[key] = message[key]
        messages.append(out)
    summary.rows_with_text_tool_calls += chat.text_tool_calls
    return {"messages": messages, **({"tools": _tools(traj)} if traj.agent.tools else {})}


def _json_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def describe_template_check(template: ChatTemplate | None, tool_calls: str) -> str:
    """One line: what the axolotl export does for the template the user trains with."""
    if template is None:
        return ("skipped: no --tokenizer, so the rows were not checked against the chat template axolotl will "
                "render them with (a template that cannot render tool calls drops them silently)")
    can = template.abilities
    if tool_calls == "text" or not can.tool_calls:
        how = "tool calls written as text (SWE-smith's convention, as srft's masks write them)"
        how += "" if tool_calls == "text" else ": the template does not render them"
    else:
        how = "the template renders tool calls natively"
    if not can.tool_role:
        how += "; tool results as user OBSERVATION messages (no tool role)"
    if not can.reasoning:
        how += "; reasoning as <think> text"
    return how


SHAREGPT_ROLES = {Role.system: "system", Role.user: "human", Role.assistant: "gpt", Role.tool: "observation"}


def sharegpt_row(traj: Trajectory, weights: list[float], summary: ExportSummary) -> dict[str, Any]:
    trained = _message_weights(traj, weights)
    turns = []
    for i, msg in enumerate(traj.messages):
        value = _text(traj, i, msg)
        turn: dict[str, Any] = {"from": SHAREGPT_ROLES[msg.role]}
        if msg.role is Role.assistant:
            calls = [{"function": {"name": c.name, "arguments": _arguments(c.arguments)}}
                     for c in msg.tool_calls]
            value = text_tool_calls(value, calls)
            if msg.reasoning:
                value = f"<think>\n{msg.reasoning}\n</think>\n\n{value}"
            turn["train"] = bool(trained[i])
        turn["value"] = value
        turns.append(turn)
    row: dict[str, Any] = {"conversations": turns}
    if traj.agent.tools:
        row["tools"] = json.dumps(_tools(traj))
    return row


def _arguments(arguments: str) -> Any:
    """Tool-call arguments as JSON when they parse (the usual case), else the raw string the model wrote."""
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def trl_row(example: Any) -> dict[str, Any]:
    return {"input_ids": list(example.input_ids), "attention_mask": [1] * len(example.input_ids),
            "labels": list(example.labels)}


ROW_BUILDERS = {"openai": openai_row, "axolotl": axolotl_row, "sharegpt": sharegpt_row}


def _row(target: str, traj: Trajectory, weights: list[float], summary: ExportSummary,
         template: ChatTemplate | None, tool_calls: str) -> dict[str, Any]:
    """One messages row; axolotl's converted for ``template`` when the user's tokenizer was given."""
    if target == "axolotl":
        return axolotl_row(traj, weights, summary, template, tool_calls)
    return ROW_BUILDERS[target](traj, weights, summary)


# ----------------------------------------------------------------------------------------- the export


def export_rows(dataset: Dataset, target: str, policy: TrainingPolicy, summary: ExportSummary, *,
                tokenizer: Any = None,
                mask_options: MaskOptions = MaskOptions()) -> Iterator[dict[str, Any]]:
    """Checked rows of every trajectory with a trained step; raises on the first row that breaks the format.

    A trl row whose trained tokens ``max_length`` cut entirely is left out (``rows`` counts what is written).
    axolotl: with ``tokenizer``, rows are converted for its chat template (``mask_options``: ``chat_template``,
    ``tool_calls``).
    """
    if target not in TARGETS:
        raise SrftError(f"unknown export target {target!r}: choose one of {', '.join(TARGETS)}")
    if policy.soft:
        raise SrftError(f"{target} takes 0/1 flags only; a --soft policy's weights cannot be exported")
    if target == "trl" and tokenizer is None:
        raise SrftError("the trl export is pre-tokenised: it needs --tokenizer")
    template = None
    if target == "axolotl":
        if tokenizer is not None:
            template = ChatTemplate.for_tokenizer(tokenizer, mask_options.chat_template)
        summary.template_check = describe_template_check(template, mask_options.tool_calls)
    for traj, weights in weighted_trajectories(dataset, policy):
        summary.trajectories += 1
        summary.steps += len(traj.steps)
        if not any(w > 0 for w in weights):
            summary.skipped += 1
            continue
        summary.trained_steps += trained_steps(weights)
        if target == "trl":
            examples = mask_trajectory(dataset, traj, tokenizer, weights, mask_options)
            placed = {span.step for e in examples for span in e.steps if span.weight > 0 and span.end > span.start}
            summary.trained_steps_cut += trained_steps(weights) - len(placed)
            summary.trained_tokens += sum(e.trained_tokens for e in examples)
            rows = [trl_row(e) for e in examples]
        else:  # one row per context the steps were sent (one without recorded inputs or with context final)
            parts = [(context_trajectory(traj, c), [weights[s] for s in c.steps])
                     for c in contexts(traj, mask_options.context)]
            try:
                rows = [_row(target, part, w, summary, template, mask_options.tool_calls)
                        for part, w in parts if any(x > 0 for x in w)]
            except SrftError as exc:
                raise SrftError([Problem(p.message, p.path, str(dataset.path)) for p in exc.problems]) from None
        for row in rows:
            problems = check_row(target, row)
            if problems:
                raise SrftError([Problem(f"trajectory {traj.id!r}: the {target} row is invalid: {p}",
                                         file=str(dataset.path)) for p in problems])
            summary.rows += 1
            yield row


def export(dataset_path: str | os.PathLike, target: str, policy: TrainingPolicy, output: str | os.PathLike, *,
           tokenizer: Any = None, mask_options: MaskOptions = MaskOptions()) -> ExportSummary:
    """Write ``output`` (JSONL; ``.gz``/``.zst`` compress) atomically, and ``OUTPUT.srft.json`` beside it
    recording the policy, the dataset manifest's sha256 and the counts."""
    dataset = Dataset.open(dataset_path)
    policy = policy.for_annotators(dataset.manifest.annotators)  # the default priority by kind, recorded below
    summary = ExportSummary(target)
    rows = export_rows(dataset, target, policy, summary, tokenizer=tokenizer, mask_options=mask_options)
    write_lines(output, map(orjson.dumps, rows))
    record = {"target": target, "policy": policy.to_dict(),
              "mask_options": mask_options.recorded(),
              "dataset": {"path": str(dataset_path), "name": dataset.name,
                          "manifest_sha256": file_sha256(dataset.path / MANIFEST)},
              "summary": asdict(summary)}
    with open_output(f"{os.fspath(output)}.srft.json") as out:
        out.write(json.dumps(record, indent=2).encode() + b"\n")
    return summary
