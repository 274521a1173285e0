"""Each step trained on the input it was sent: the SWE-agent 1.1.0 corpus run with two re-queries, rendered."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from convert_helpers import corpus_file, one
from masking import agent_trajectory, tokenizer, whole_ids
from srft_format.converters.chat import chat_message
from srft_format.converters.swe_agent import HISTORY_SKIPPED
from srft_format.inputs import step_input
from srft_format.trainers.chat import ChatTemplate, to_chat
from srft_format.trainers.context import contexts
from srft_format.trainers.masks import MaskOptions, build_examples

from srft_format.models import InputItem, Step, Trajectory

RUN = "xarray-4695"


@pytest.fixture(scope="module")
def run(corpus: Path) -> tuple[Trajectory, list[dict]]:
    path = corpus_file(corpus, "swe-agent", RUN)
    return one(path), orjson.loads(path.read_bytes())["trajectory"]


def weights_for(traj: Trajectory) -> list[float]:
    return [0.0 if step.exclude else 1.0 for step in traj.steps]  # the two re-queries are excluded


def query_chat(traj: Trajectory, step: Step, query: list[dict], template: ChatTemplate) -> list[dict]:
    """The template's messages for the raw recorded ``query`` (converted as the converter converts history)
    followed by the step's output."""
    sent = [chat_message(item, f"query[{i}]", skip=HISTORY_SKIPPED) for i, item in enumerate(query)]
    one_step = traj.model_copy(update={"messages": [*sent, traj.messages[step.output]],
                                       "steps": [step.model_copy(update={"output": len(sent), "input": None})]})
    return to_chat(one_step, template).messages


def test_contexts_follow_the_recorded_queries(run) -> None:
    traj, _ = run
    # 0-4: the chat as it grew (4 saw re-query 3's prompt); 5-11: without re-query 3 (11 saw re-query 10's
    # prompt); 12-16: without both
    assert [c.steps for c in contexts(traj)] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9, 10, 11),
                                                 (12, 13, 14, 15, 16)]
    assert [c.steps for c in contexts(traj, "final")] == [tuple(range(17))]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["smollm2", "llama3"])
def test_each_example_is_the_template_applied_to_the_recorded_query(family, run) -> None:
    traj, raw = run
    tok = tokenizer(family)
    template = ChatTemplate.for_tokenizer(tok)
    examples = build_examples(traj, tok, weights_for(traj))
    assert len(examples) == 3
    located = {span.step: (example, span) for example in examples for span in example.steps}
    assert sorted(located) == list(range(len(traj.steps)))  # every step, in exactly one example
    for step, src in zip(traj.steps, raw):
        example, span = located[step.index]
        messages = query_chat(traj, step, src["query"], template)
        prompt = tok.apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True)["input_ids"]
        turn = whole_ids(tok, messages, None)
        assert example.input_ids[:len(turn)] == turn, step.index  # the query and the output, token for token
        assert (span.start, example.input_ids[:span.start]) == (len(prompt), prompt), step.index
        assert (span.weight > 0) == (not step.exclude)
    # the final chat is not what step 12 saw: it holds both re-queries' outputs and error prompts
    final = build_examples(traj, tok, weights_for(traj), MaskOptions(context="final"))
    (whole,) = final
    assert whole.input_ids == whole_ids(tok, to_chat(traj, template).messages, None)
    start = next(s.start for s in whole.steps if s.step == 12)
    example, span = located[12]
    assert start - span.start > 0 and whole.trained_tokens == sum(e.trained_tokens for e in examples)


def test_without_recorded_inputs_recorded_and_final_are_the_same_examples() -> None:
    traj = agent_trajectory(n_steps=4)
    tok = tokenizer("chatml")
    weights = [1.0, 0.0, 1.0, 1.0]
    assert build_examples(traj, tok, weights) == build_examples(traj, tok, weights, MaskOptions(context="final"))


def test_an_elided_observation_starts_a_context_from_the_recorded_input() -> None:
    traj = agent_trajectory(n_steps=4)
    tok = tokenizer("chatml")
    elided = traj.messages[3].model_copy(update={"content": "Old environment output: (3 lines omitted)"})
    steps = [*traj.steps[:2], *(step.model_copy(update={"input": [
        InputItem(start=0, stop=3), InputItem(message=elided), InputItem(start=4, stop=step.output)]})
        for step in traj.steps[2:])]  # from step 2 on, the first observation is elided
    traj = traj.model_copy(update={"steps": steps})
    third = traj.steps[2]
    first, second = build_examples(traj, tok, [1.0] * 4)
    assert [s.step for s in first.steps] == [0, 1] and [s.step for s in second.steps] == [2, 3]
    template = ChatTemplate.for_tokenizer(tok)
    sent = traj.model_copy(update={"messages": [*step_input(traj.messages, third), *traj.messages[third.output:]],
                                   "steps": []})
    assert second.input_ids == whole_ids(tok, to_chat(sent, template).messages, to_chat(sent, template).tools)
    assert "Old environment output" in tok.decode(second.input_ids)
    assert "Old environment output" not in tok.decode(first.input_ids)


def test_exports_write_one_row_per_context(run, tmp_path) -> None:
    from srft_format.dataset import Dataset, write_dataset
    from srft_format.policy import TrainingPolicy
    from srft_format.trainers.export import ExportSummary, export_rows

    traj, _ = run
    write_dataset(tmp_path / "ds", [traj])
    dataset = Dataset.open(tmp_path / "ds")
    policy = TrainingPolicy("sft")  # trains every step but the excluded re-queries
    rows = list(export_rows(dataset, "axolotl", policy, ExportSummary("axolotl")))
    assert [len(row["messages"]) for row in rows] == [len(c.messages(traj)) for c in contexts(traj)]
    assert [sum(m["training"] for m in row["messages"]) for row in rows] == [4, 6, 5]
    (final,) = export_rows(dataset, "axolotl", policy, ExportSummary("axolotl"), mask_options=MaskOptions(
        context="final"))
    assert len(final["messages"]) == len(traj.messages) and sum(m["training"] for m in final["messages"]) == 15


def test_stats_count_the_recorded_inputs_and_their_overhead(run, srft, tmp_path) -> None:
    from srft_format.dataset import write_dataset
    from srft_format.trainers.data import message_chars

    traj, _ = run
    write_dataset(tmp_path / "ds", [traj])
    result = srft("stats", tmp_path / "ds", "--format", "json")
    assert result.code == 0, result.stderr
    sft = orjson.loads(result.stdout)["recorded_inputs"][0]
    chars = [message_chars(m) for m in traj.messages]
    starts, stops = [0, 5, 12], [traj.steps[5].output, traj.steps[12].output, len(traj.messages)]
    recorded = sum(sum(map(message_chars, step_input(traj.messages, traj.steps[k])))
                   + sum(chars[traj.steps[k].output:stop]) for k, stop in zip(starts, stops))
    assert sft == {"policy": "sft", "trained_steps": 15, "recorded_input_steps": 11, "examples_final": 1,
                   "examples_recorded": 3, "chars_final": sum(chars), "chars_recorded": recorded,
                   "overhead": recorded / sum(chars)}


@pytest.mark.slow
def test_srft_masks_shows_one_example_per_context(run, tmp_path) -> None:
    from srft_format.dataset import write_dataset
    from srft_format.trainers.loading import bundled_smollm2
    from test_masks_cli import masks

    traj, _ = run
    write_dataset(tmp_path / "ds", [traj])
    shown = {}
    for context in ("recorded", "final"):
        out = masks(tmp_path / "ds", "--tokenizer", bundled_smollm2(), "--policy", "sft", "--counts-only",
                    "--context", context)
        shown[context] = [line for line in out.splitlines() if "─ example " in line]
    assert len(shown["recorded"]) == 3 and "example 3 of 3" in shown["recorded"][-1] and shown["final"] == []
