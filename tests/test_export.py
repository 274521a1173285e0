"""`srft export`: each target's rows follow its documented fields and carry exactly the policy's decisions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from factories import make_trajectory

from srft_format.dataset import Dataset, write_dataset
from srft_format.errors import SrftError
from srft_format.policy import TrainingPolicy
from srft_format.trainers.export import ExportSummary, check_row, export, export_rows, openai_row
from srft_format.trainers.masks import MaskOptions

LABELS = ["correct", "incorrect", "correct", "incorrect"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """t-0 resolved; t-1 unresolved with verdicts; t-2 unresolved without (nothing to train under srft)."""
    path = tmp_path_factory.mktemp("export") / "ds"
    write_dataset(path, [make_trajectory("t-0", 4, resolved=True), make_trajectory("t-1", 4, labels=LABELS),
                         make_trajectory("t-2", 3)])
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_flags(dataset: Path, policy: TrainingPolicy) -> list[list[int]]:
    """Per exported trajectory, 0/1 per step, straight from TrainingPolicy.step_weights."""
    flags = [[int(w > 0) for w in policy.step_weights(t)] for t in Dataset.open(dataset).trajectories()]
    return [f for f in flags if any(f)]


@pytest.mark.parametrize("policy", ["sft", "rft", "srft"])
def test_openai_weights_follow_the_policy(srft, dataset, tmp_path, policy):
    out = tmp_path / "train.jsonl"
    run = srft("export", dataset, "--to", "openai", "--policy", policy, "-o", out)
    assert run.code == 0, run.stderr
    rows = read_jsonl(out)
    weights = [[m["weight"] for m in row["messages"] if m["role"] == "assistant"] for row in rows]
    assert weights == expected_flags(dataset, TrainingPolicy(policy))
    for row in rows:
        assert check_row("openai", row) == []
        assert all("weight" not in m for m in row["messages"] if m["role"] != "assistant")
        call = row["messages"][2]["tool_calls"][0]
        assert call["type"] == "function" and json.loads(call["function"]["arguments"])["command"]
        assert row["messages"][3] == {"role": "tool", "content": "output 0\n" * 3,
                                      "tool_call_id": call["id"]}
    record = json.loads(Path(f"{out}.srft.json").read_text())
    declared = Dataset.open(dataset).manifest.annotators
    assert record["policy"] == TrainingPolicy(policy).for_annotators(declared).to_dict()
    assert record["summary"]["rows"] == len(rows)


def test_axolotl_and_sharegpt_flags(dataset, tmp_path):
    policy = TrainingPolicy("srft")
    export(dataset, "axolotl", policy, tmp_path / "a.jsonl")
    export(dataset, "sharegpt", policy, tmp_path / "s.jsonl")
    axolotl, sharegpt = read_jsonl(tmp_path / "a.jsonl"), read_jsonl(tmp_path / "s.jsonl")
    expected = expected_flags(dataset, policy)
    assert [[m["training"] for m in r["messages"] if m["role"] == "assistant"] for r in axolotl] == \
        [[bool(f) for f in flags] for flags in expected]
    assert all(not m["training"] for r in axolotl for m in r["messages"] if m["role"] != "assistant")
    assert [[t["train"] for t in r["conversations"] if t["from"] == "gpt"] for r in sharegpt] == \
        [[bool(f) for f in flags] for flags in expected]
    for row in axolotl:
        assert check_row("axolotl", row) == []
    for row in sharegpt:
        assert check_row("sharegpt", row) == []
        gpt = next(t for t in row["conversations"] if t["from"] == "gpt")
        assert "<function=bash>" in gpt["value"] and "<parameter=command>" in gpt["value"]  # calls as text
        assert [t["from"] for t in row["conversations"][:4]] == ["system", "human", "gpt", "observation"]


def test_trl_rows_are_the_masked_examples(dataset, tmp_path):
    from srft_format.trainers.loading import bundled_smollm2, load_tokenizer
    from srft_format.trainers.masks import build_example

    tokenizer = load_tokenizer(bundled_smollm2())
    policy = TrainingPolicy("srft")
    summary = export(dataset, "trl", policy, tmp_path / "t.jsonl", tokenizer=tokenizer)
    rows = read_jsonl(tmp_path / "t.jsonl")
    trained = [t for t in Dataset.open(dataset).trajectories() if any(policy.step_weights(t))]
    assert summary.rows == len(rows) == len(trained) == 2
    for row, traj in zip(rows, trained):
        example = build_example(traj, tokenizer, policy.step_weights(traj))
        assert row == {"input_ids": example.input_ids, "attention_mask": [1] * len(example.input_ids),
                       "labels": example.labels}
        assert check_row("trl", row) == []


def test_without_recorded_inputs_the_context_changes_no_byte(srft, dataset, tmp_path):
    from srft_format.trainers.loading import bundled_smollm2

    for target in ("trl", "axolotl"):
        given = ("--tokenizer", bundled_smollm2()) if target == "trl" else ()
        outputs = []
        for context in ("recorded", "final"):
            out = tmp_path / f"{target}-{context}.jsonl"
            assert srft("export", dataset, "--to", target, *given, "--context", context, "-o", out).code == 0
            outputs.append(out.read_bytes())
            assert json.loads(Path(f"{out}.srft.json").read_text())["mask_options"]["context"] == context
        assert outputs[0] == outputs[1] and outputs[0]


def test_soft_policies_and_bad_targets_are_refused(dataset, tmp_path):
    with pytest.raises(SrftError, match="0/1 flags only"):
        soft = TrainingPolicy("srft", soft=True)
        list(export_rows(Dataset.open(dataset), "openai", soft, ExportSummary("openai")))
    with pytest.raises(SrftError, match="needs --tokenizer"):
        list(export_rows(Dataset.open(dataset), "trl", TrainingPolicy("sft"), ExportSummary("trl")))


def test_cli_refuses_template_options_outside_trl(srft, dataset, tmp_path):
    run = srft("export", dataset, "--to", "openai", "--tool-calls", "text", "-o", tmp_path / "x.jsonl")
    assert run.code != 0 and "apply to --to trl and axolotl" in run.stderr
    assert not (tmp_path / "x.jsonl").exists()


# --------------------------------------------------------------------- the validators catch real mistakes


def valid_openai_row() -> dict:
    traj = make_trajectory("t-v", 2, resolved=True)
    return openai_row(traj, TrainingPolicy("sft").step_weights(traj), ExportSummary("openai"))


@pytest.mark.parametrize("break_it, expected", [
    (lambda r: r["messages"][1].update(weight=1), "Additional properties"),       # weight on a user message
    (lambda r: r["messages"][2].update(weight=0.5), "is not one of [0, 1]"),      # weights are 0 or 1
    (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments={"cmd": "ls"}), "not of type"),
    (lambda r: r["messages"][3].update(tool_call_id="call_nowhere"), "answers no earlier tool call"),
    (lambda r: r["messages"][2].update(role="bot"), "is not one of"),
    (lambda r: [m.update(weight=0) for m in r["messages"] if m["role"] == "assistant"], "nothing to train"),
])
def test_openai_validator_rejects_documented_violations(break_it, expected):
    row = valid_openai_row()
    assert check_row("openai", row) == []
    broken = copy.deepcopy(row)
    break_it(broken)
    problems = check_row("openai", broken)
    assert problems and any(expected in p for p in problems), problems


def test_other_validators_reject_violations():
    assert any("only assistant" in p for p in check_row("axolotl", {"messages": [
        {"role": "user", "content": "x", "training": True},
        {"role": "assistant", "content": "y", "training": True}]}))
    assert any("only gpt turns" in p for p in check_row("sharegpt", {"conversations": [
        {"from": "human", "value": "x", "train": True}, {"from": "gpt", "value": "y", "train": True}]}))
    assert any("neither -100 nor the token id" in p for p in check_row("trl", {
        "input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 9, 7]}))
    assert any("differ in length" in p for p in check_row("trl", {
        "input_ids": [5, 6], "attention_mask": [1, 1], "labels": [-100]}))


# ------------------------------------------------------------- exports the peers' own loaders take as they are


def test_axolotl_rows_are_converted_for_a_template_without_tool_calls(dataset, tmp_path):
    """SmolLM2's stock ChatML renders no tool calls: with its tokenizer the calls are written as text (what
    srft's masks train), so axolotl cannot drop them; native calls are refused by name."""
    from masking import tokenizer

    from srft_format.trainers.chat import ChatTemplate, to_chat

    policy = TrainingPolicy("srft")
    smollm2 = tokenizer("smollm2")
    summary = export(dataset, "axolotl", policy, tmp_path / "a.jsonl", tokenizer=smollm2)
    assert "tool calls written as text" in summary.template_check
    assert summary.rows_with_text_tool_calls == summary.rows == 2
    rows = read_jsonl(tmp_path / "a.jsonl")
    trained = [t for t in Dataset.open(dataset).trajectories() if any(policy.step_weights(t))]
    for row, traj in zip(rows, trained):
        assert check_row("axolotl", row) == []
        assert not any("tool_calls" in m for m in row["messages"])
        chat = to_chat(traj, ChatTemplate.for_tokenizer(smollm2))
        assert [m["content"] for m in row["messages"]] == [m["content"] for m in chat.messages]
        assert [i for i, m in enumerate(row["messages"]) if m["training"]] == \
            [chat.step_messages[i] for i, w in enumerate(policy.step_weights(traj)) if w > 0]
        assert all("<function=bash>" in row["messages"][i]["content"] for i in chat.step_messages)
    with pytest.raises(SrftError, match=r"ds: trajectory t-0: the chat template does not render tool calls.*text"):
        export(dataset, "axolotl", policy, tmp_path / "b.jsonl", tokenizer=smollm2,
               mask_options=MaskOptions(tool_calls="native"))
    assert not (tmp_path / "b.jsonl").exists()

    native = export(dataset, "axolotl", policy, tmp_path / "c.jsonl", tokenizer=tokenizer("chatml"))
    assert native.template_check == "the template renders tool calls natively; reasoning as <think> text"
    assert native.rows_with_text_tool_calls == 0
    assert all("tool_calls" in read_jsonl(tmp_path / "c.jsonl")[0]["messages"][i] for i in (2, 4))


def test_axolotl_without_tokenizer_says_the_check_was_skipped(srft, dataset, tmp_path):
    run = srft("export", dataset, "--to", "axolotl", "-o", tmp_path / "a.jsonl")
    assert run.code == 0, run.stderr
    assert "warning: template check skipped: no --tokenizer" in run.stderr
    assert json.loads(run.stdout)["template_check"].startswith("skipped")


def test_trl_max_length_cuts_as_srft_train_does(dataset, tmp_path):
    """Rows of at most --max-length tokens; a trained step the cut reaches is dropped whole and counted, with
    the same counts as the examples `srft train` builds."""
    from masking import tokenizer

    from srft_format.trainers.data import build_examples

    smollm2, policy, limit = tokenizer("smollm2"), TrainingPolicy("srft"), 200
    summary = export(dataset, "trl", policy, tmp_path / "t.jsonl", tokenizer=smollm2,
                     mask_options=MaskOptions(max_length=limit))
    rows = read_jsonl(tmp_path / "t.jsonl")
    examples, data = build_examples(Dataset.open(dataset), smollm2, policy, MaskOptions(max_length=limit))
    assert summary.trained_steps_cut == data.trained_steps - data.trained_steps_in_examples > 0
    assert summary.trained_tokens == data.trained_tokens == sum(
        sum(label != -100 for label in row["labels"]) for row in rows)
    assert [row["input_ids"] for row in rows] == [e.input_ids for e in examples]
    assert all(len(row["input_ids"]) <= limit for row in rows)


def openai_line_problems(row: dict) -> list[str]:
    """OpenAI's documented per-line rules for chat fine-tuning data, written out independently of check_row:
    messages of system/developer/user/assistant/tool; ``weight`` only on assistant messages, 0 or 1; each tool
    call ``{"id", "type": "function", "function": {"name", "arguments": JSON string}}``; each tool message
    answers a call of an earlier assistant message; rows with tool calls carry ``tools``; at least one trained
    assistant message."""
    problems, calls, called = [], set(), set()
    for i, m in enumerate(row["messages"]):
        if m["role"] not in ("system", "developer", "user", "assistant", "tool"):
            problems.append(f"{i}: role {m['role']}")
        if "weight" in m and (m["role"] != "assistant" or m["weight"] not in (0, 1) or
                              isinstance(m["weight"], bool)):
            problems.append(f"{i}: weight {m['weight']!r} on {m['role']}")
        for call in m.get("tool_calls", ()):
            function = call.get("function", {})
            if set(call) != {"id", "type", "function"} or call["type"] != "function" or \
                    set(function) != {"name", "arguments"} or not isinstance(function["arguments"], str):
                problems.append(f"{i}: tool call shape {call}")
            calls.add(call["id"])
            called.add(call["function"]["name"])
        if m["role"] == "tool" and m.get("tool_call_id") not in calls:
            problems.append(f"{i}: tool message answers no call")
    if called and not row.get("tools"):
        problems.append("tool calls without tools")
    if not any(m.get("weight") == 1 for m in row["messages"]):
        problems.append("no trained assistant message")
    return problems


def test_openai_export_of_the_corpus_follows_the_documented_rules(srft, corpus_dataset, tmp_path):
    out = tmp_path / "openai.jsonl"
    # one row per trajectory (the final chat): the rules are the same for the rows of recorded contexts
    run = srft("export", corpus_dataset, "--to", "openai", "--policy", "sft", "--context", "final", "-o", out)
    assert run.code == 0, run.stderr
    rows, summary = read_jsonl(out), json.loads(run.stdout)
    sft = TrainingPolicy("sft")
    trajectories = [t for t in Dataset.open(corpus_dataset).trajectories() if any(sft.step_weights(t))]
    without = [t.id for t in trajectories if not t.agent.tools and any(m.tool_calls for m in t.messages)]
    assert summary["rows"] == len(rows) == len(trajectories)
    assert summary["rows_without_tools"] == len(without) > 0
    assert f"warning: {len(without)} rows have tool calls but no tools list" in run.stderr
    assert sum("tools" in row for row in rows) == sum(bool(t.agent.tools) for t in trajectories) > 0
    problems = {i: openai_line_problems(row) for i, row in enumerate(rows)}
    # the only rule the export cannot meet alone is the tools list the source did not record: it is counted
    assert all(p in ([], ["tool calls without tools"]) for p in problems.values())
    assert sum(p == ["tool calls without tools"] for p in problems.values()) == len(without)
