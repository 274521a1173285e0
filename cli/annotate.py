"""``srft annotate``: label the steps of a dataset with a critic (rules, outcome, an LLM, a local model, humans)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from srft_format.annotators.modes import MODES
from srft_format.annotators.registry import CRITICS

@click.command()
@click.argument("dataset", type=click.Path(file_okay=False), required=False)
@click.option("--critic", type=click.Choice(list(CRITICS)), help="Who labels the steps (required; see --list).")
@click.option("--list", "list_critics", is_flag=True,
              help="List the critics, their modes and the evidence each mode reads, and exit.")
@click.option("--annotator-id", help="Id recorded on every verdict. Default: rules, outcome, llm:MODEL, "
              "local:MODEL; required for human.")
@click.option("--limit", type=click.IntRange(min=0), help="Only the first N trajectories.")
@click.option("--dry-run", is_flag=True, help="Print how many model calls and tokens it would spend; write nothing.")
@click.option("--prefilter", metavar="ID", help="Skip steps this annotator (e.g. rules) already marked incorrect.")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(min=1),
              help="Commit every N verdicts ...")
@click.option("--batch-seconds", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="... or every S seconds, whichever first.")
@click.option("--keep-failed", is_flag=True, help="Keep the unknown verdicts of requests an endpoint rejected in "
              "an earlier run (by default they are asked again).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--rules", "rule_names", help="rules: comma-separated subset of the rules (default: all).")
@click.option("--list-rules", is_flag=True, help="List the rule critics with their rationale and exit.")
@click.option("--base-url", envvar="OPENAI_BASE_URL", help="openai: the endpoint, e.g. http://localhost:8000/v1 "
              "[env OPENAI_BASE_URL].")
@click.option("--model", help="openai: model name at the endpoint. local: model directory or .gguf "
              "(default: the bundled SmolLM2-135M-Instruct).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
              help="openai: the environment variable holding the API key (the key is never written to disk).")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(min=1),
              help="Trajectories in flight; for openai also the most requests in flight.")
@click.option("--max-retries", default=4, show_default=True, type=click.IntRange(min=0), help="openai: retries on 429/5xx/timeouts.")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="openai: seconds per request.")
@click.option("--max-requests", type=int, help="openai: stop after this many requests (cached answers are free).")
@click.option("--max-cost", type=float, help="openai: stop before spending more than this many US dollars.")
@click.option("--price-in", default=0.0, show_default=True, help="openai: US dollars per 1M prompt tokens.")
@click.option("--price-out", default=0.0, show_default=True, help="openai: US dollars per 1M completion tokens.")
@click.option("--temperature", default=0.0, show_default=True, help="openai: sampling temperature.")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1), help="openai: completion tokens per answer.")
@click.option("--mode", type=click.Choice(list(MODES)), default="per-step", show_default=True,
              help="openai: per-step (the steps before), hindsight (the whole run, outcome, tests, gold patch; "
              "one call per step, shared prompt prefix), trajectory (one call per window), first-error (the "
              "earliest decisive mistake). See --list.")
@click.option("--template", metavar="NAME|PATH.j2", help="openai/local: a shipped template (default per mode) or "
              "your own Jinja file, rendered in a sandbox; its sha256 is recorded. Variables: "
              "annotators/prompts/README.md.")
@click.option("--show-prompt", metavar="[TRAJECTORY:]STEP", help="Print the exact prompt that judges STEP (of the "
              "first trajectory, or of TRAJECTORY) and exit; sends and writes nothing.")
@click.option("--max-context-tokens", type=int, help="openai/local: cut prompts to this many tokens "
              "(task + recent steps + the step; recorded in each verdict). Default 8192 (openai), 1024 (local).")
@click.option("--observation/--no-observation", default=True, show_default=True,
              help="per-step: show the critic the environment's answer to the judged step.")
@click.option("--export-sheet", type=click.Path(dir_okay=False), help="human: write a labeling sheet (.csv or "
              ".jsonl) of every step, with context, and exit.")
@click.option("--import-sheet", type=click.Path(dir_okay=False, exists=True),
              help="human: read a filled-in sheet back as verdicts.")
def annotate(dataset: str | None, critic: str | None, annotator_id: str | None, limit: int | None, dry_run: bool,
             prefilter: str | None, batch_size: int, batch_seconds: float, keep_failed: bool, as_json: bool,
             **options: Any) -> None:
    """Label each step of DATASET correct / incorrect / neutral with a critic; verdicts go to sidecar files.

    Re-running resumes: steps this annotator already labeled are skipped (unknown verdicts of requests the
    endpoint rejected are asked again, unless --keep-failed). Verdicts are committed in batches, so a run
    that is killed keeps all but the last batch. A run stopped early (budget spent, endpoint failing) keeps
    its work and exits with status 2: run it again to continue. A run whose every request was rejected exits 1.
    The run holds the dataset's writer lock: a second writer is refused (or waits, with srft --wait).

    \b
    Critics (srft annotate --list: each critic, its modes and the evidence each mode reads):
      rules    cheap checks on the log (see --list-rules); only ever says incorrect
      outcome  every step of a resolved trajectory is correct (RFT as verdicts)
      openai   any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp, Ollama, OpenAI)
      local    a transformers model on this machine (default: SmolLM2-135M, a pipeline check, not a judge)
      human    export a labeling sheet, then import it filled in

    \b
    Examples:
      srft annotate --list-rules
      srft annotate data --critic rules
      srft annotate data --critic outcome
      OPENAI_API_KEY=sk-... srft annotate data --critic openai --model gpt-4o-mini \\
          --base-url https://api.openai.com/v1 --max-cost 5 --price-in 0.15 --price-out 0.6 --prefilter rules
      srft annotate data --critic openai --model qwen --base-url http://localhost:8000/v1 --dry-run
      srft tasks data --from swe-bench-verified.parquet   # gold patches and tests for hindsight critics
      srft annotate data --critic openai --model qwen --base-url http://localhost:8000/v1 --mode hindsight
      srft annotate data --critic openai --model qwen --base-url URL --template mine.j2 --show-prompt 3
      srft annotate data --critic local --limit 2
      srft annotate data --critic human --annotator-id alice --export-sheet alice.csv
      srft annotate data --critic human --annotator-id alice --import-sheet alice.csv
    """
    from srft_format.annotators.registry import build_critic
    from srft_format.annotators.runner import AnnotationRun

    if options.pop("list_critics"):
        _print_critics(as_json)
        return
    if options["list_rules"]:
        from srft_format.annotators.rules import RULES, rule_doc

        for name in RULES:
            click.echo(f"{name}: {rule_doc(name)}")
        return
    if not dataset or not critic:
        raise click.UsageError("give a DATASET and a --critic")
    if critic == "human" and options["export_sheet"]:
        _export_sheet(dataset, options["export_sheet"], limit)
        return
    from srft_format.lock import write_lock

    show = options.pop("show_prompt")
    made = build_critic(critic, annotator_id, dataset, dry_run or show is not None, options)
    if show is not None:
        from srft_format.annotators.base import show_prompt

        click.echo(show_prompt(made, dataset, show))
        return
    if dry_run:
        _print_plan(AnnotationRun(dataset, made, prefilter=prefilter, limit=limit, keep_failed=keep_failed),
                    options, as_json)
        return
    with write_lock(dataset):
        run = AnnotationRun(dataset, made, prefilter=prefilter, limit=limit, keep_failed=keep_failed)
        stats = _run_with_progress(run, options["concurrency"], batch_size, batch_seconds)
    _print_summary(run, stats, as_json)
    calls = getattr(getattr(run.critic, "chat", None), "stats", None)
    if not stats.stopped and calls is not None and calls.sent and sum(calls.errors.values()) >= calls.sent:
        errors = ", ".join(f"{n} x {e}" for e, n in sorted(calls.errors.items()))
        click.secho(f"every request failed ({errors}): the unknown verdicts will be asked again on the next run",
                    fg="red", err=True)
        sys.exit(1)
    if stats.stopped:
        click.secho(f"stopped early: {stats.stopped}; run the same command again to continue", fg="yellow",
                    err=True)
        sys.exit(2)


def _print_critics(as_json: bool) -> None:
    from srft_format.annotators.registry import listing

    rows = listing()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = ("critic", "mode", "evidence", "template", "what")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns[:-1]}
    click.echo("  ".join(c.ljust(widths.get(c, 0)) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(row[c].ljust(widths.get(c, 0)) for c in columns).rstrip())


def _export_sheet(dataset: str, path: str, limit: int | None) -> None:
    from itertools import islice

    from srft_format.annotators.human import sheet_rows, write_sheet
    from srft_format.dataset import Dataset

    trajectories = islice(Dataset.open(dataset).trajectories(), limit)
    rows = write_sheet(path, sheet_rows(trajectories))
    click.echo(f"wrote {rows} steps to {path}: fill in 'label' (correct/incorrect/neutral/unknown), then "
               f"import it with --import-sheet", err=True)


def _print_plan(run: Any, options: dict[str, Any], as_json: bool) -> None:
    calls = run.plan()
    fresh = [c for c in calls if not c.cached]
    stats = run.stats
    budget = getattr(getattr(run.critic, "chat", None), "budget", None)
    plan = {"steps_to_label": stats.total_steps - stats.already_done - stats.excluded - stats.prefiltered,
            "already_labeled": stats.already_done, "excluded": stats.excluded, "prefiltered": stats.prefiltered,
            "calls": len(fresh), "cached_calls": len(calls) - len(fresh),
            "prompt_tokens": sum(c.prompt_tokens for c in fresh),
            "max_completion_tokens": sum(c.max_completion_tokens for c in fresh)}
    if budget is not None and (budget.price_in or budget.price_out):
        plan["max_cost_usd"] = round(budget.price(plan["prompt_tokens"], plan["max_completion_tokens"]), 6)
    if as_json:
        click.echo(json.dumps(plan, indent=2))
    else:
        for key, value in plan.items():
            click.echo(f"{key.replace('_', ' ')}: {value}")
        click.echo("(dry run: nothing was sent or written; prompt tokens are estimated)", err=True)


def _run_with_progress(run: Any, concurrency: int, batch_size: int, batch_seconds: float) -> Any:
    from functools import partial

    from srft_format.annotators.runner import annotate as run_annotation

    job = partial(run_annotation, run, concurrency=concurrency, batch_steps=batch_size, batch_seconds=batch_seconds)
    if not sys.stderr.isatty():
        return asyncio.run(job())
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(run.critic.id, total=run.stats.total_steps)

        def update(stats: Any) -> None:
            counts = " ".join(f"{label}={n}" for label, n in sorted(stats.labels.items()))
            bar.update(task, completed=stats.seen, description=f"{run.critic.id} {counts}")

        return asyncio.run(job(progress=update))


def _print_summary(run: Any, stats: Any, as_json: bool) -> None:
    summary: dict[str, Any] = {"annotator": run.critic.id, "labeled": stats.labeled, "labels": dict(stats.labels),
                               "committed": stats.committed, "batches": stats.batches,
                               "already_labeled": stats.already_done, "excluded": stats.excluded,
                               "prefiltered": stats.prefiltered, "no_verdict": stats.passed,
                               "retried_failed": stats.retried,
                               "stopped": stats.stopped}
    chat = getattr(run.critic, "chat", None)
    if chat is not None:
        calls = chat.stats
        summary.update(requests=calls.sent, retries=calls.retries, cache_hits=calls.cache_hits,
                       prompt_tokens=calls.prompt_tokens, completion_tokens=calls.completion_tokens,
                       cost_usd=round(chat.budget.cost, 6), errors=calls.errors)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    labels = ", ".join(f"{n} {label}" for label, n in sorted(stats.labels.items())) or "none"
    click.echo(f"{run.critic.id}: labeled {stats.labeled} steps ({labels}); committed in {stats.batches} batches")
    click.echo(f"skipped: {stats.already_done} already labeled, {stats.excluded} excluded, "
               f"{stats.prefiltered} prefiltered; {stats.passed} examined without a verdict"
               + (f"; {stats.retried} unknown verdicts of failed requests asked again" if stats.retried else ""))
    if chat is not None:
        click.echo(f"requests: {summary['requests']} sent, {summary['retries']} retries, {summary['cache_hits']} "
                   f"cached; tokens: {summary['prompt_tokens']} in, {summary['completion_tokens']} out; "
                   f"cost ${summary['cost_usd']:.4f}")

