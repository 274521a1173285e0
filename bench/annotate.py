"""Benchmark the LLM critic client: is srft ever the bottleneck of a labeling run?

Runs ``srft annotate``'s machinery (prompt rendering, context cutting, async requests, response cache, batched
verdict commits) over N steps of corpus trajectories against a loopback chat-completions server that answers
at once (in its own process), and compares with the bare ``openai`` client sending the same number of
requests at the same concurrency (the baseline, same run), and with srft's HTTP layer alone (the floor).
Target: >= 500 steps/s on 2 cores.
Then prints, per ``--mode``, the prompt tokens per labeled step on the corpus and the share of each prompt that
repeats the previous prompt's prefix (what vLLM's or SGLang's prefix cache serves). Target: hindsight, with
cached prefixes, at most 1.3x the uncached prompt tokens of trajectory mode.

    python bench/annotate.py                       # 10,000 steps, concurrency 64
    python bench/annotate.py --steps 2000 --concurrency 16
    python bench/annotate.py --prompts-only        # only the per-mode prompt figures
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from chat_server import ChatServer  # noqa: E402

from srft_format.annotators.budget import Budget  # noqa: E402
from srft_format.annotators.cache import ResponseCache, cache_path  # noqa: E402
from srft_format.annotators.chat_http import OpenAIChat  # noqa: E402
from srft_format.annotators.context import task_text  # noqa: E402
from srft_format.annotators.llm import LLMCritic  # noqa: E402
from srft_format.annotators.runner import AnnotationRun, annotate  # noqa: E402
from srft_format.dataset import Dataset, write_dataset  # noqa: E402


def serve(ports: "multiprocessing.Queue[int]") -> None:
    asyncio.run(ChatServer(keep_requests=False).serve_forever(started=ports.put))


def corpus_dataset(root: Path) -> Path:
    from srft_format.converters.pipeline import convert_paths

    corpus = Path(os.environ.get("SRFT_CORPUS", REPO.parent / "shared" / "corpus"))
    path = root / "corpus"
    convert_paths([str(corpus)], path)
    return path


def replicated(corpus: Path, root: Path, steps: int) -> Path:
    """A dataset of exactly ``steps`` trainable steps: corpus trajectories copied under new ids, each copy's
    task marked so that no two prompts are the same (the response cache must not make the run free)."""
    source = [t for t in Dataset.open(corpus).trajectories() if not any(s.exclude for s in t.steps)]
    out, total, copy = [], 0, 0
    while total < steps:
        for traj in source:
            take = min(len(traj.steps), steps - total)
            if take <= 0:
                break
            task = traj.task.model_copy(update={"problem_statement": f"(copy {copy}) {task_text(traj)}"})
            clone = traj.model_copy(update={"id": f"{traj.id}-copy{copy}", "steps": traj.steps[:take],
                                            "task": task, "verdicts": []})
            out.append(clone)
            total += take
        copy += 1
    path = root / "bench"
    write_dataset(path, out)
    return path


async def srft_run(path: Path, base_url: str, concurrency: int,
                   mode: str = "per-step") -> tuple[int, float, float, int]:
    """``(steps labeled, wall s, client CPU s, requests sent)`` of one ``srft annotate`` run."""
    chat = OpenAIChat(base_url=base_url, model="bench", api_key="bench", budget=Budget(),
                      cache=ResponseCache(cache_path(path, mode)), concurrency=concurrency)
    run = AnnotationRun(path, LLMCritic(mode, chat, mode=mode))
    wall, cpu = time.perf_counter(), time.process_time()
    stats = await annotate(run, concurrency=concurrency, batch_seconds=2.0)
    return stats.labeled, time.perf_counter() - wall, time.process_time() - cpu, chat.stats.sent


async def bare_client(base_url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """The baseline: the openai client alone, same request count and concurrency, one short prompt."""
    import httpx
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0,
                         http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)))
    slots = asyncio.Semaphore(concurrency)
    prompt = [{"role": "user", "content": "Judge ONE step, step 1: was it correct?"}]

    async def one() -> None:
        async with slots:
            await client.chat.completions.create(model="bench", messages=prompt, max_tokens=256)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    await client.close()
    return time.perf_counter() - wall, time.process_time() - cpu


async def transport_only(base_url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """srft's HTTP layer alone (pooled clients, retries, budget) with one short prompt: the transport floor."""
    chat = OpenAIChat(base_url=base_url, model="bench", api_key="bench", budget=Budget(), cache=None,
                      concurrency=concurrency)
    prompt = [{"role": "user", "content": "Judge ONE step, step 1: was it correct?"}]
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(chat.complete(prompt, 256, 20) for _ in range(requests)))
    await chat.aclose()
    return time.perf_counter() - wall, time.process_time() - cpu


def common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


CONTEXTS = (8192, 131072)
"""--max-context-tokens for the prompt figures: the default (long runs are cut or windowed) and one that holds
every corpus trajectory whole (hindsight then shows the whole run, as it is meant to)."""


def prompt_figures(corpus: Path, max_context_tokens: int) -> dict[str, dict[str, float]]:
    """Per mode, over the corpus: prompts sent, prompt tokens per labeled step (uncached), the share of prompt
    characters that repeat the previous prompt's prefix (what a server's prefix cache serves), and the prompt
    tokens per labeled step left to compute when such prefixes are cached. Tokens: ~4 characters each."""
    from srft_format.annotators.context import approx_tokens
    from srft_format.annotators.modes import MODES

    out = {}
    for mode in MODES:
        chat = OpenAIChat(base_url="http://127.0.0.1:9/v1", model="plan", api_key="plan", budget=Budget(),
                          cache=None)
        critic = LLMCritic("plan", chat, mode=mode, max_context_tokens=max_context_tokens)
        run = AnnotationRun(corpus, critic)
        prompts = [call.prompt for item in run.work() for call in critic.calls(item.traj, item.steps)]
        steps = run.stats.total_steps - run.stats.excluded
        total = sum(map(len, prompts))
        shared = sum(common_prefix(p, q) for p, q in zip(prompts, prompts[1:]))
        tokens = sum(map(approx_tokens, prompts))
        out[mode] = {"calls": len(prompts), "tokens_per_step": tokens / steps, "shared": shared / total,
                     "cached_tokens_per_step": tokens * (1 - shared / total) / steps}
    return out


def print_prompt_figures(figures: dict[str, dict[str, float]], max_context_tokens: int) -> None:
    print(f"prompt tokens per labeled step on the corpus, --max-context-tokens {max_context_tokens} (estimated, "
          "~4 characters a token; cached: less the prefix each prompt shares with the previous one):")
    print(f"  {'mode':12} {'calls':>6} {'tokens/step':>12} {'prefix shared':>14} {'cached tokens/step':>19}")
    for mode, f in figures.items():
        print(f"  {mode:12} {f['calls']:6.0f} {f['tokens_per_step']:12.0f} {f['shared']:14.1%} "
              f"{f['cached_tokens_per_step']:19.0f}")
    ratio = figures["hindsight"]["cached_tokens_per_step"] / figures["trajectory"]["tokens_per_step"]
    print(f"hindsight with cached prefixes / trajectory uncached: {ratio:.2f}x   target <= 1.3x: "
          f"{'met' if ratio <= 1.3 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--prompts-only", action="store_true",
                        help="Only the per-mode prompt figures (no server, no throughput run).")
    args = parser.parse_args()
    if args.prompts_only:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = corpus_dataset(Path(tmp))
            for context in CONTEXTS:
                print_prompt_figures(prompt_figures(corpus, context), context)
        return

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = corpus_dataset(Path(tmp))
            data = replicated(corpus, Path(tmp), args.steps)
            steps, wall, cpu, sent = asyncio.run(srft_run(data, base_url, args.concurrency))
            base_wall, base_cpu = asyncio.run(bare_client(base_url, sent, args.concurrency))
            floor_wall, floor_cpu = asyncio.run(transport_only(base_url, sent, args.concurrency))
            t_steps, t_wall, t_cpu, t_sent = asyncio.run(srft_run(data, base_url, args.concurrency, "trajectory"))
            assert Dataset.open(data).manifest.counts.verdicts == steps + t_steps == 2 * args.steps
            figures = {context: prompt_figures(corpus, context) for context in CONTEXTS}
    finally:
        server.terminate()
    print(f"cores: {os.cpu_count()}  steps: {steps}  concurrency: {args.concurrency}  (server in its own process)")
    print(f"srft annotate:  {steps / wall:8.0f} steps/s   client CPU {cpu / sent * 1e3:6.2f} ms/request   "
          f"({wall:.1f} s wall, {cpu:.1f} s CPU, {sent} requests)")
    print(f"bare openai:    {sent / base_wall:8.0f} req/s     client CPU {base_cpu / sent * 1e3:6.2f} ms/request   "
          f"(baseline, same run)")
    print(f"srft transport: {sent / floor_wall:8.0f} req/s     client CPU {floor_cpu / sent * 1e3:6.2f} ms/request   "
          f"(short prompt, no verdicts: the HTTP floor)")
    print(f"srft trajectory: {t_steps / t_wall:7.0f} steps/s   client CPU {t_cpu / t_steps * 1e3:6.2f} ms/step      "
          f"(--mode trajectory, {t_sent} requests)")
    print(f"ratio srft/bare throughput: {(steps / wall) / (sent / base_wall):.2f}   target >= 500 steps/s (per-step): "
          f"{'met' if steps / wall >= 500 else 'NOT met'}")
    for context, found in figures.items():
        print_prompt_figures(found, context)


if __name__ == "__main__":
    main()
