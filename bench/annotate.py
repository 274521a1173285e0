"""Benchmark the LLM critic client: is srft ever the bottleneck of a labeling run?

Runs ``srft annotate``'s machinery (prompt rendering, context cutting, async requests, response cache, batched
verdict commits) over N steps of corpus trajectories against a loopback chat-completions server that answers
at once (in its own process), and compares with the bare ``openai`` client sending the same number of
requests at the same concurrency (the baseline, same run), and with srft's HTTP layer alone (the floor).
Target: >= 500 steps/s on 2 cores.
Then prints the prompt tokens per step that ``--mode per-step`` and ``--mode trajectory`` send on the corpus.

    python bench/annotate.py                       # 10,000 steps, concurrency 64
    python bench/annotate.py --steps 2000 --concurrency 16
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


def tokens_per_step(corpus: Path) -> dict[str, float]:
    """Estimated prompt tokens per labeled step for each mode (dry-run planning, ~4 characters per token)."""
    out = {}
    for mode in ("per-step", "trajectory"):
        chat = OpenAIChat(base_url="http://127.0.0.1:9/v1", model="plan", api_key="plan", budget=Budget(),
                          cache=None)
        run = AnnotationRun(corpus, LLMCritic("plan", chat, mode=mode))
        calls = run.plan()
        steps = run.stats.total_steps - run.stats.excluded
        out[mode] = sum(c.prompt_tokens for c in calls) / steps
        out[f"{mode} calls"] = len(calls)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

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
            tokens = tokens_per_step(corpus)
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
    print(f"prompt tokens per step on the corpus (estimated): per-step {tokens['per-step']:.0f} "
          f"({tokens['per-step calls']} calls), trajectory {tokens['trajectory']:.0f} "
          f"({tokens['trajectory calls']} calls): {tokens['per-step'] / tokens['trajectory']:.1f}x fewer")


if __name__ == "__main__":
    main()
