"""``srft experiment``: SFT vs RFT vs SRFT on one dataset, several seeds, offline evaluation with intervals."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from typing import Any

import click

from srft_format.trainers.masks import MaskOptions

from .options import mask_options, verdict_options

POLICY_OPTIONS = ("annotators", "resolution", "threshold", "unlabeled", "soft")
MASK_OPTIONS = tuple(f.name for f in fields(MaskOptions) if f.name != "max_length")
"""The mask options every run shares (``max_length`` is a training setting)."""


@click.command()
@click.argument("dataset", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--model", help="Model directory or .gguf file every run starts from.")
@click.option("--tokenizer", help="Tokenizer directory or .gguf file (default: the model's).")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="The experiment directory.")
@click.option("--policies", default="sft,rft,srft", show_default=True, help="Comma-separated policies to compare.")
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True,
              help="Runs per policy, with seeds 0..N-1 (model init of adapters, data order).")
@verdict_options
@mask_options
@click.option("--max-steps", type=click.IntRange(1), default=100, show_default=True,
              help="Optimizer steps of every run (the same for every policy).")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True)
@click.option("--lr", type=float, default=2e-5, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(0), default=0, show_default=True)
@click.option("--max-length", type=click.IntRange(8), default=4096, show_default=True)
@click.option("--bf16", is_flag=True)
@click.option("--gradient-checkpointing", is_flag=True)
@click.option("--lora", is_flag=True)
@click.option("--lora-rank", type=click.IntRange(1), default=16, show_default=True)
@click.option("--packing", is_flag=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--eval-ratio", type=float, default=0.2, show_default=True,
              help="Share of tasks held out for evaluation (split by task: no task in both).")
@click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the task split.")
@click.option("--eval-batch-size", type=click.IntRange(1), default=4, show_default=True)
@click.option("--bootstrap", "draws", type=click.IntRange(100), default=2000, show_default=True,
              help="Bootstrap draws for the 95% intervals.")
@click.option("--launcher", type=click.Choice(["local", "accelerate"]), default="local", show_default=True,
              help="local: train in this process; accelerate: each run through `accelerate launch ... srft "
                   "train` (multi-GPU, FSDP with --launcher-arg --config_file --launcher-arg fsdp.yaml).")
@click.option("--launcher-arg", "launcher_args", multiple=True, metavar="ARG",
              help="An argument for `accelerate launch` (repeat; e.g. --launcher-arg=--num_processes=8).")
@click.option("--only", multiple=True, metavar="POLICY:SEED",
              help="Train and evaluate only this run (repeat); then `srft experiment -o DIR --collect`.")
@click.option("--collect", is_flag=True, help="Train nothing: collect the finished runs of -o into the table.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the token budget; write nothing.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def experiment(dataset: str | None, model: str | None, tokenizer: str | None, output: str, policies: str,
               seeds: int, launcher: str, launcher_args: tuple[str, ...], only: tuple[str, ...], collect: bool,
               dry_run: bool, fmt: str, **options: Any) -> None:
    """Compare SFT, RFT and SRFT on DATASET: same critic labels, same settings, several seeds.

    \b
    1. split DATASET by task (`srft split --by task`) into OUTPUT/split/{train,test};
    2. train one run per policy and seed (`srft train`, identical settings) into OUTPUT/runs/;
    3. evaluate each run offline on the held-out trajectories, with the training chat rendering and masks:
       mean token log-likelihood of the steps the critic accepted, of those it rejected, of resolved
       trajectories' steps, and the margin accepted - rejected (SRFT's claim: a larger margin than SFT,
       more accepted-step likelihood than RFT);
    4. print a table per policy with 95% bootstrap intervals (over held-out trajectories and over seeds),
       the paired differences SRFT - RFT and SRFT - SFT, trained steps and tokens, wall time.

    OUTPUT/experiment.json records the settings, the split's manifests and the command that reruns it.
    Running the same command again resumes at the first unfinished run; a run whose loss went non-finite
    is reported as diverged, never averaged in.

    \b
    Examples:
      srft experiment ds --model SmolLM2-135M-Instruct.Q4_1.gguf -o exp --max-steps 200 --dry-run
      srft experiment ds --model ./qwen -o exp --policies sft,rft,srft --seeds 3 --bf16 --lora
      srft experiment ds --model ./qwen -o exp --launcher accelerate --launcher-arg=--config_file=fsdp.yaml
      srft experiment ds --model ./qwen -o exp --only srft:2      # on one machine; copy runs/ back, then
      srft experiment -o exp --collect --format json
      srft report exp/split/train --experiment exp -o report.html
    """
    from srft_format.trainers.experiment import TRAIN_FIELDS, Experiment, Settings, parse_only, plan_budget

    log = lambda line: click.echo(line, err=True)  # noqa: E731
    if collect:
        results = Experiment.open(output).collect()
        _write_results(output, results)
        _show(results, fmt)
        return
    if dataset is None or model is None:
        raise click.UsageError("DATASET and --model are needed (only --collect reads them from -o)")
    settings = Settings(
        dataset=dataset, model=model, tokenizer=tokenizer,
        policies=tuple(p.strip() for p in policies.split(",") if p.strip()), seeds=tuple(range(seeds)),
        train={key: options.pop(key) for key in TRAIN_FIELDS},
        policy_options={key: (list(options[key]) if key == "annotators" else options[key])
                        for key in POLICY_OPTIONS},
        mask_options={key: options[key] for key in MASK_OPTIONS},
        split_seed=options["split_seed"], eval_ratio=options["eval_ratio"],
        eval_batch_size=options["eval_batch_size"], draws=options["draws"])
    exp = Experiment(output, settings)
    chosen = parse_only(only, exp.runs)
    if dry_run:
        plan = plan_budget(settings)
        plan["status"] = {run.key: exp.status(run) for run in exp.runs}
        _show_plan(plan, fmt)
        return
    exp.run_all(log, chosen, launcher, launcher_args)
    if chosen:
        log(f"ran {', '.join(r.key for r in chosen)}; collect every run with: srft experiment -o {output} --collect")
        return
    results = exp.collect()
    _write_results(output, results)
    _show(results, fmt)


def _write_results(output: str, results: dict[str, Any]) -> None:
    from pathlib import Path

    from srft_format.jsonl import open_output

    with open_output(Path(output) / "results.json") as out:
        out.write(json.dumps(results, indent=2).encode() + b"\n")


def _show(results: dict[str, Any], fmt: str) -> None:
    """The results as JSON, or as tables: per policy, paired differences, per run."""
    if fmt == "json":
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    from srft_format.report_experiment import interval_text

    from .query import output_console, render_table

    figures = results["figures"]
    console = output_console()
    held = results["held_out"]
    if held is None:
        console.print("no run has finished yet: " + ", ".join(f"{r['policy']}:{r['seed']} {r['status']}"
                                                            for r in results["runs"]), highlight=False)
    else:
        console.print(f"held out: {held['trajectories']} trajectories, {held['tasks']} tasks ({held['resolved']} "
                      f"resolved), {held['tokens']} tokens; scored steps "
                      + ", ".join(f"{k} {v}" for k, v in held["steps"].items())
                      + (f"; not scored: {held['skipped_steps']}" if any(held["skipped_steps"].values()) else ""),
                      highlight=False)
    rows = []
    for policy, p in results["policies"].items():
        runs = f"{p['finished']}/{p['runs']}" + (f" ({len(p['diverged'])} diverged)" if p["diverged"] else "")
        rows.append((policy, runs, *(interval_text(p["figures"][f]) for f in figures), p["trained_steps"],
                     _round(p["train_trained_tokens"]), _round(p["train_steps"]), _round(p["train_seconds"]),
                     _round(p["eval_seconds"], 1)))
    columns = ["policy", "runs", *(f"{f} LL" if f != "margin" else f for f in figures), "trained steps",
               "trained tokens", "opt steps", "train s", "eval s"]
    console.print(render_table(columns, rows, "Mean token log-likelihood on held-out actions, mean over seeds "
                                              "[95% bootstrap interval over trajectories and seeds]"))
    if results["differences"]:
        rows = [(pair.replace("-", " − ").upper(), len(d["seeds"]),
                 *(interval_text(d["figures"][f]) for f in figures)) for pair, d in results["differences"].items()]
        console.print(render_table(["paired difference", "seeds", *figures], rows,
                                   "Paired differences (same seeds, same held-out trajectories)"))
    rows = [(r["policy"], r["seed"], r["status"], *(interval_text(r.get("figures", {}).get(f)) for f in figures),
             r["train"]["final_loss"] if r["train"] else None) for r in results["runs"]]
    console.print(render_table(["policy", "seed", "status", *figures, "final loss"], rows,
                               "Runs [95% bootstrap interval over held-out trajectories]"))
    for r in results["runs"]:
        if r["status"] == "diverged":
            d = r["train"]["diverged"]
            console.print(f"{r['policy']} seed {r['seed']}: diverged (loss {d['loss']} at step {d['step']}); "
                          "left out of the means and intervals", style="red", highlight=False)


def _round(value: float | None, digits: int = 0) -> float | int | None:
    if value is None:
        return None
    return round(value, digits) if digits else int(round(value))


def _show_plan(plan: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(plan, indent=2) + "\n")
        return
    from .query import output_console, render_table

    console = output_console()
    rows = [(name, p["trajectories"], p["tasks"], p["tokens"]) for name, p in plan["split"].items()]
    console.print(render_table(["split", "trajectories", "tasks", "tokens"], rows, "Split by task"))
    rows = [(policy, e["trained_steps"], e["trained_tokens"], e["examples"], e["epochs"], e["tokens_per_run"])
            for policy, e in plan["per_run"].items()]
    console.print(render_table(["policy", "trained steps", "trained tokens", "examples", "epochs",
                                "tokens per run"], rows, "Per run (train split)"))
    console.print("runs: " + ", ".join(f"{key} ({status})" for key, status in plan["status"].items()),
                  highlight=False)
    b = plan["budget"]
    console.print(f"budget: {b['runs']} runs, {b['optimizer_steps']} optimizer steps, {b['train_tokens']} "
                  f"training tokens, {b['eval_tokens']} evaluation tokens ({plan['note']})", highlight=False)
