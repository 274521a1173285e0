"""Mask building speed against plain whole-conversation tokenization (the floor) and the naive way.

    python bench/masks.py                                  # the converted corpus, replicated to 2,000
    python bench/masks.py --dataset my-dataset             # a dataset of yours, replicated to 2,000
    python bench/masks.py --synthetic                      # 2,000 synthetic 50-step trajectories
    python bench/masks.py --trajectories 200 --naive 3     # a quicker look

The corpus is ``$SRFT_CORPUS`` (default ``../shared/corpus``), converted on the fly with ``srft convert``.

All three use the same tokenizer (default: SmolLM2-135M-Instruct's, from the bundled GGUF) and chat template
(default: tests/templates/chatml_tools.jinja) and start from the same srft trajectories:

- floor: convert the messages, render the whole conversation once, tokenize it once (no masks at all);
- srft: ``build_examples`` with ``--context final`` (prefix renders, verification, offsets, labels);
- naive: what several trainers do: render and tokenize the prompt and the turn of every step (on a sample of
  synthetic 50-step trajectories: it is slow).

Last, the cost of training each step on the input it was sent (``--context recorded``: one example per context
when recorded inputs diverge, spec/masks.md) against ``--context final`` (every step on the final chat), both
``build_examples`` on the same trajectories.

Times are CPU seconds of the process. Targets: srft <= 1.5x the floor, >= 10x faster than the naive way on
50-step trajectories, and recorded <= 1.2x final when fewer than 10% of the steps diverge. ``--chat-template tests/templates/chatml_generation.jinja`` measures the
``{% generation %}`` fast path (the same template with generation blocks).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import random
import tempfile
import time
from pathlib import Path

from srft_format.converters.pipeline import convert_paths
from srft_format.trainers.chat import ChatTemplate, to_chat
from srft_format.trainers.loading import bundled_smollm2, load_tokenizer
from srft_format.trainers.masks import MaskOptions, build_examples

from srft_format.dataset import Dataset
from srft_format.models import Trajectory

REPO = Path(__file__).resolve().parent.parent


def synthetic_trajectories(count: int, steps: int) -> list[Trajectory]:
    """``count`` distinct trajectories of ``steps`` steps, shaped like bench/io.py's (realistic sizes)."""
    spec = importlib.util.spec_from_file_location("bench_io", Path(__file__).with_name("io.py"))
    bench_io = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_io)
    rng = random.Random(0)
    return [bench_io.synthetic_trajectory(rng, f"synthetic-{i}", steps) for i in range(count)]


def replicated(trajectories: list[Trajectory], count: int) -> list[Trajectory]:
    return [trajectories[i % len(trajectories)].model_copy(update={"id": f"copy-{i}"}) for i in range(count)]


def corpus_trajectories() -> list[Trajectory]:
    corpus = Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus"))
    with tempfile.TemporaryDirectory() as tmp:
        convert_paths([str(corpus)], Path(tmp) / "corpus")
        return list(Dataset.open(Path(tmp) / "corpus").trajectories())


def ids(tokenizer, template: ChatTemplate, messages: list[dict], tools, prompt: bool = False) -> list[int]:
    """Render and tokenize, as ``apply_chat_template(..., tokenize=True)`` does."""
    text = template.render(messages, tools, add_generation_prompt=prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def floor(trajectories: list[Trajectory], tokenizer, template: ChatTemplate) -> int:
    tokens = 0
    for traj in trajectories:
        chat = to_chat(traj, template)
        tokens += len(ids(tokenizer, template, chat.messages, chat.tools))
    return tokens


def srft(trajectories: list[Trajectory], tokenizer, template: ChatTemplate, context: str = "final") -> int:
    """``build_examples`` of every trajectory (every step trained): the tokens of all examples."""
    options = MaskOptions(chat_template=template.source, context=context)
    return sum(len(example.input_ids) for traj in trajectories
               for example in build_examples(traj, tokenizer, [1.0] * len(traj.steps), options))


def naive(trajectories: list[Trajectory], tokenizer, template: ChatTemplate) -> int:
    tokens = 0
    for traj in trajectories:
        chat = to_chat(traj, template)
        for message in chat.step_messages:
            ids(tokenizer, template, chat.messages[:message], chat.tools, prompt=True)
            ids(tokenizer, template, chat.messages[:message + 1], chat.tools)
        tokens += len(ids(tokenizer, template, chat.messages, chat.tools))
    return tokens


def timed(fn, *args) -> tuple[float, int]:
    """CPU seconds of this process (the machine may be shared: wall time would count the neighbours)."""
    gc.collect()
    gc.disable()
    start = time.process_time()
    tokens = fn(*args)
    seconds = time.process_time() - start
    gc.enable()
    return seconds, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--dataset", help="replicate this dataset's trajectories instead of the corpus")
    parser.add_argument("--synthetic", action="store_true", help="synthetic trajectories, not the corpus")
    parser.add_argument("--steps", type=int, default=50, help="steps per synthetic trajectory")
    parser.add_argument("--distinct", type=int, default=40, help="distinct synthetic trajectories")
    parser.add_argument("--naive", type=int, default=10, help="50-step trajectories timed the naive way")
    parser.add_argument("--tokenizer", help="model directory or .gguf (default: the bundled SmolLM2)")
    parser.add_argument("--chat-template", default=str(REPO / "tests" / "templates" / "chatml_tools.jinja"))
    args = parser.parse_args()

    tokenizer = load_tokenizer(args.tokenizer or bundled_smollm2())
    template = ChatTemplate.for_tokenizer(tokenizer, Path(args.chat_template).read_text(encoding="utf-8"))
    if args.synthetic:
        source = synthetic_trajectories(args.distinct, args.steps)
        label = f"{args.distinct} synthetic {args.steps}-step trajectories"
    else:
        source = list(Dataset.open(args.dataset).trajectories()) if args.dataset else corpus_trajectories()
        label = f"{args.dataset or 'the converted corpus'} ({len(source)} trajectories)"
    trajectories = replicated(source, args.trajectories)
    steps = sum(len(t.steps) for t in trajectories)
    print(f"{len(trajectories)} trajectories, {steps} steps, replicated from {label}; "
          f"template {Path(args.chat_template).name}; CPU seconds")

    srft(trajectories[:2], tokenizer, template)  # warm the template caches and probes
    floor_s, tokens = timed(floor, trajectories, tokenizer, template)
    srft_s, srft_tokens = timed(srft, trajectories, tokenizer, template)
    assert srft_tokens == tokens, "build_examples and the floor disagree on the number of tokens"
    print(f"  floor (render + tokenize once)   {floor_s:8.2f} s  {tokens / floor_s:10,.0f} tokens/s")
    print(f"  srft build_examples (final)     {srft_s:8.2f} s  {tokens / srft_s:10,.0f} tokens/s"
          f"   {srft_s / floor_s:5.2f}x the floor (target <= 1.5x)")

    sample = synthetic_trajectories(args.naive, 50)
    naive_s, _ = timed(naive, sample, tokenizer, template)
    sample_srft_s, _ = timed(srft, sample, tokenizer, template)
    print(f"  naive, {len(sample)} synthetic 50-step trajectories {naive_s:8.2f} s   srft on the same: "
          f"{sample_srft_s:.2f} s   srft is {naive_s / sample_srft_s:5.1f}x faster (target >= 10x)")

    diverging = sum(step.input is not None for traj in trajectories for step in traj.steps)
    recorded_s, recorded_tokens = timed(srft, trajectories, tokenizer, template, "recorded")
    final_s = (srft_s + timed(srft, trajectories, tokenizer, template, "final")[0]) / 2  # before and after
    print(f"  --context recorded               {recorded_s:8.2f} s  {recorded_tokens:,} tokens "
          f"({recorded_tokens / tokens:.3f}x final's); {diverging / steps:.1%} of the steps were sent another "
          f"context")
    print(f"  recorded against final           {recorded_s / final_s:5.2f}x the time of final (mean of a run "
          "before and one after; target <= 1.2x when fewer than 10% of the steps diverge)")


if __name__ == "__main__":
    main()
