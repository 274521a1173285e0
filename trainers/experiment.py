"""``srft experiment``: the controlled SFT / RFT / SRFT comparison, seeds and intervals included.

Layout of ``EXP_DIR``::

    experiment.json         the settings (everything needed to rerun), the split's manifests, each run's status
    split/train, split/test the dataset split by task (``srft split --by task``)
    runs/<policy>-seed<N>/  a ``srft train`` run directory (run.json, final/) plus eval.json
    results.json            the collected table (``--format json`` prints it)

A run is *done* when its ``run.json`` has the final checkpoint and its ``eval.json`` exists; *diverged* when
the trainer recorded a non-finite loss in ``run.json``; anything else is unfinished and is trained again from
scratch (a killed experiment resumes at the first unfinished run). Every figure is computed from the files,
so runs trained on other machines (``--only``) are collected by copying their directories in.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from srft_format import __version__
from srft_format.dataset import MANIFEST, Dataset, file_sha256, is_dataset
from srft_format.errors import SrftError
from srft_format.ids import sha256_hex
from srft_format.jsonl import open_output
from srft_format.policy import POLICY_NAMES, TrainingPolicy
from srft_format.split import GROUP_KEYS, assign, split_dataset

from . import bootstrap
from .evaluate import CATEGORIES, FIGURES, HeldOut, evaluate_run, figures, mask_held_out, sums_of
from .masks import MaskOptions

SPLIT_NAMES = ("train", "test")
TRAIN_FIELDS = ("max_steps", "batch_size", "lr", "warmup_steps", "max_length", "bf16", "gradient_checkpointing",
                "lora", "lora_rank", "packing", "device")
"""The ``srft train`` settings an experiment fixes for every run (the seed is the run's own)."""
DIFFERENCES = (("srft", "rft"), ("srft", "sft"))
LAUNCHERS = ("local", "accelerate")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """Everything that decides an experiment's numbers; ``experiment.json`` records it, a resume must match."""

    dataset: str
    model: str
    tokenizer: str | None
    policies: tuple[str, ...]
    seeds: tuple[int, ...]
    train: dict[str, Any]
    policy_options: dict[str, Any] = field(default_factory=dict)
    """``annotators``, ``resolution``, ``threshold``, ``unlabeled``, ``soft`` (as ``srft train``)."""
    mask_options: dict[str, Any] = field(default_factory=dict)
    """The :class:`MaskOptions` fields but ``max_length`` (``chat_template``: a file path)."""
    split_seed: int = 0
    eval_ratio: float = 0.2
    eval_batch_size: int = 4
    draws: int = 2000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in POLICY_NAMES]
        if unknown or not self.policies or len(set(self.policies)) != len(self.policies):
            raise SrftError(f"--policies: distinct names among {', '.join(POLICY_NAMES)}, got "
                            f"{', '.join(self.policies) or 'none'}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise SrftError(f"--seeds: distinct seeds, got {list(self.seeds)}")
        if not 0 < self.eval_ratio < 1:
            raise SrftError(f"--eval-ratio must lie strictly between 0 and 1, got {self.eval_ratio}")

    def policy(self, name: str) -> TrainingPolicy:
        from srft_format.cli.options import policy_from_options

        return policy_from_options(policy=name, **self.policy_options)

    def masks(self) -> MaskOptions:
        """The mask options (the template file read), as ``srft train`` builds them."""
        template = self.mask_options.get("chat_template")
        text = Path(template).read_text(encoding="utf-8") if template else None
        return MaskOptions(**{**self.mask_options, "chat_template": text, "max_length": self.train["max_length"]})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["policies"], out["seeds"] = list(self.policies), list(self.seeds)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        return cls(**{**data, "policies": tuple(data["policies"]), "seeds": tuple(data["seeds"])})


@dataclass(frozen=True)
class Run:
    policy: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.policy}-seed{self.seed}"

    @property
    def key(self) -> str:
        return f"{self.policy}:{self.seed}"


def plan_runs(settings: Settings) -> list[Run]:
    """Every policy x seed, seed-major: a stopped experiment already has every policy of the first seeds."""
    return [Run(policy, seed) for seed in settings.seeds for policy in settings.policies]


def parse_only(values: Sequence[str], runs: Sequence[Run]) -> list[Run]:
    """``--only POLICY:SEED`` values -> the planned runs they name (a run not in the plan is an error)."""
    by_key = {run.key: run for run in runs}
    chosen = []
    for value in values:
        if value not in by_key:
            raise SrftError(f"--only {value}: not a planned run; choose among {', '.join(by_key)}")
        chosen.append(by_key[value])
    return chosen


class Experiment:
    """An experiment directory: its settings, split, runs and results."""

    def __init__(self, root: str | Path, settings: Settings):
        self.root = Path(root)
        self.settings = settings
        self.runs = plan_runs(settings)
        self._held_out: HeldOut | None = None

    # ------------------------------------------------------------------------------------------ files

    @property
    def record_path(self) -> Path:
        return self.root / "experiment.json"

    @property
    def split_dir(self) -> Path:
        return self.root / "split"

    def run_dir(self, run: Run) -> Path:
        return self.root / "runs" / run.name

    @classmethod
    def open(cls, root: str | Path) -> "Experiment":
        """The experiment recorded in ``root/experiment.json`` (for ``--collect`` and ``srft report``)."""
        path = Path(root) / "experiment.json"
        if not path.is_file():
            raise SrftError(f"{root}: no experiment.json here (start one with `srft experiment DS -o {root}`)")
        return cls(root, Settings.from_dict(json.loads(path.read_text())["settings"]))

    def check_recorded(self) -> None:
        """Refuse to resume an experiment recorded with other settings."""
        if not self.record_path.is_file():
            return
        recorded = json.loads(self.record_path.read_text())["settings"]
        mine = self.settings.to_dict()
        changed = [k for k in mine if recorded.get(k) != mine[k]]
        if changed:
            k = changed[0]
            raise SrftError(f"{self.record_path}: this experiment was run with {k}={recorded.get(k)!r}, not "
                            f"{mine[k]!r}; resume it with the same settings (see its 'rerun') or use a new -o")

    def write_record(self) -> dict[str, Any]:
        """(Re)write ``experiment.json``: settings, dataset and split manifests, each run's status."""
        source = Dataset.open(self.settings.dataset)
        record = {
            "srft_version": __version__,
            "settings": self.settings.to_dict(),
            "rerun": rerun_argv(self.settings, self.root),
            "dataset": {"path": str(self.settings.dataset), "name": source.name,
                        "manifest_sha256": file_sha256(source.path / MANIFEST)},
            "chat_template_sha256": _template_sha(self.settings),
            "split": self.split_record(),
            "runs": [{"policy": r.policy, "seed": r.seed, "dir": str(self.run_dir(r).relative_to(self.root)),
                      "status": self.status(r)} for r in self.runs],
        }
        self.root.mkdir(parents=True, exist_ok=True)
        _write_json(self.record_path, record)
        return record

    # ------------------------------------------------------------------------------------------ split

    def split_note(self) -> dict[str, Any]:
        s = self.settings
        return {"by": "task", "seed": s.split_seed, "ratios": dict(zip(SPLIT_NAMES, (1 - s.eval_ratio,
                                                                                      s.eval_ratio)))}

    def ensure_split(self, log: Log) -> None:
        """Split the dataset by task into ``split/train`` and ``split/test`` unless that split is there."""
        if all(is_dataset(self.split_dir / name) for name in SPLIT_NAMES):
            source = Dataset.open(self.settings.dataset).manifest.name
            for name in SPLIT_NAMES:
                derived = Dataset.open(self.split_dir / name).manifest.extra.get("derived", {})
                note = {k: derived.get(k) for k in self.split_note()}
                if note != self.split_note() or derived.get("from") != source:
                    raise SrftError(f"{self.split_dir / name}: a split of another dataset or with other "
                                    "settings; remove it or use a new -o")
            return
        s = self.settings
        manifests = split_dataset(s.dataset, self.split_dir, ratios=(1 - s.eval_ratio, s.eval_ratio),
                                  names=SPLIT_NAMES, by="task", seed=s.split_seed, overwrite=True)
        log("split by task: " + ", ".join(f"{name} {m.counts.trajectories} trajectories"
                                          for name, m in manifests.items()))

    def split_record(self) -> dict[str, Any] | None:
        """The split's manifests (sha256, counts) and tasks per split; ``tasks_in_both`` is 0 by construction."""
        if not all(is_dataset(self.split_dir / name) for name in SPLIT_NAMES):
            return None
        out: dict[str, Any] = {**self.split_note(), "parts": {}}
        tasks = {}
        for name in SPLIT_NAMES:
            dataset = Dataset.open(self.split_dir / name)
            tasks[name] = {GROUP_KEYS["task"](t) for t in dataset.trajectories()}
            out["parts"][name] = {"path": str((self.split_dir / name).relative_to(self.root)),
                                  "manifest_sha256": file_sha256(dataset.path / MANIFEST),
                                  "trajectories": dataset.manifest.counts.trajectories,
                                  "tasks": len(tasks[name])}
        out["tasks_in_both"] = len(tasks["train"] & tasks["test"])
        return out

    # ------------------------------------------------------------------------------------------- runs

    def status(self, run: Run) -> str:
        """``done``, ``diverged``, ``trained`` (not yet evaluated) or ``pending``."""
        record = _read_run(self.run_dir(run))
        if record is None:
            return "pending"
        if record["train"].get("diverged"):
            return "diverged"
        if "final" not in record["checkpoints"] or record["train"]["steps"] != self.settings.train["max_steps"]:
            return "pending"
        return "done" if (self.run_dir(run) / "eval.json").is_file() else "trained"

    def train_argv(self, run: Run, launcher_args: Sequence[str] = ()) -> list[str]:
        """The ``accelerate launch ... srft train`` command line of one run (the FSDP/DDP path)."""
        s = self.settings
        argv = [sys.executable, "-m", "accelerate.commands.launch", *launcher_args, "-m", "srft_format.cli.main",
                "train", str(self.split_dir / "train"), "--model", s.model, "-o", str(self.run_dir(run)),
                "--policy", run.policy, "--seed", str(run.seed)]
        if s.tokenizer:
            argv += ["--tokenizer", s.tokenizer]
        argv += _setting_flags(s)
        return argv

    def train(self, run: Run, log: Log, launcher: str = "local", launcher_args: Sequence[str] = ()) -> None:
        """Train one run from scratch (a partial directory from a killed run is removed first)."""
        directory = self.run_dir(run)
        if directory.exists():
            shutil.rmtree(directory)
        if launcher == "accelerate":
            done = subprocess.run(self.train_argv(run, launcher_args), stdout=subprocess.DEVNULL)
            if done.returncode and self.status(run) != "diverged":
                raise SrftError(f"run {run.key}: `accelerate launch ... srft train` exited with status "
                                f"{done.returncode} (its error is above)")
            return
        from .train import TrainConfig, train

        s = self.settings
        config = TrainConfig(model=s.model, output=str(directory), tokenizer=s.tokenizer, seed=run.seed,
                             **s.train)
        try:
            train(str(self.split_dir / "train"), s.policy(run.policy), config, s.masks(), log=log)
        except SrftError:
            if self.status(run) != "diverged":
                raise

    def held_out(self) -> HeldOut:
        """The held-out split masked for evaluation (once per process)."""
        if self._held_out is None:
            from .loading import load_tokenizer

            s = self.settings
            tokenizer = load_tokenizer(s.tokenizer or s.model)
            policy = s.policy("srft")
            self._held_out = mask_held_out(Dataset.open(self.split_dir / "test"), tokenizer, policy.verdicts,
                                           s.masks())
            if not self._held_out.examples:
                raise SrftError(f"{self.split_dir / 'test'}: the held-out split has no step to evaluate; "
                                "raise --eval-ratio or use a bigger dataset")
        return self._held_out

    def evaluate(self, run: Run) -> None:
        from .loading import load_tokenizer

        s = self.settings
        tokenizer = load_tokenizer(s.tokenizer or s.model)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        device = "cuda" if s.train["device"] != "cpu" and _has_cuda() else "cpu"
        record = evaluate_run(self.run_dir(run), self.held_out(), pad, base_model=s.model,
                              batch_size=s.eval_batch_size, device=device)
        _write_json(self.run_dir(run) / "eval.json", record)

    def run_all(self, log: Log, only: Sequence[Run] = (), launcher: str = "local",
                launcher_args: Sequence[str] = ()) -> None:
        """Train and evaluate every unfinished run (or those of ``only``), in plan order."""
        self.check_recorded()
        self.ensure_split(log)
        self.write_record()
        chosen = list(only) or self.runs
        for number, run in enumerate(chosen, 1):
            status = self.status(run)
            if status in ("done", "diverged"):
                log(f"[{number}/{len(chosen)}] {run.key}: {status}, kept")
                continue
            if status == "pending":
                log(f"[{number}/{len(chosen)}] {run.key}: training")
                started = time.perf_counter()
                self.train(run, log, launcher, launcher_args)
                log(f"[{number}/{len(chosen)}] {run.key}: trained in {time.perf_counter() - started:.1f}s")
            if self.status(run) == "diverged":
                log(f"[{number}/{len(chosen)}] {run.key}: DIVERGED (non-finite loss); reported, not averaged")
            else:
                log(f"[{number}/{len(chosen)}] {run.key}: evaluating on the held-out split")
                self.evaluate(run)
            self.write_record()

    # ---------------------------------------------------------------------------------------- collect

    def collect(self) -> dict[str, Any]:
        """The results table: per policy and per run, with bootstrap intervals, and paired differences."""
        s = self.settings
        evals: dict[Run, dict[str, Any]] = {}
        statuses = {run: self.status(run) for run in self.runs}
        for run, status in statuses.items():
            if status == "done":
                evals[run] = json.loads((self.run_dir(run) / "eval.json").read_text())
        ids = _same_trajectories(evals) if evals else []
        resampler = bootstrap.Resampler(len(ids), len(s.seeds), s.draws) if evals else None
        seed_index = {seed: i for i, seed in enumerate(s.seeds)}
        samples = {run: resampler.within_seed(sums_of(e), seed_index[run.seed], figures)
                   for run, e in evals.items()}
        signal = _training_signal(self.split_dir / "train", s)
        out: dict[str, Any] = {"experiment": str(self.root), "settings": s.to_dict(),
                               "held_out": _held_out_summary(next(iter(evals.values())), ids) if evals else None,
                               "figures": list(FIGURES), "runs": [], "policies": {}, "differences": {}}
        for run, status in statuses.items():
            out["runs"].append(self._run_summary(run, status, evals.get(run), samples.get(run)))
        for policy in s.policies:
            mine = [run for run in self.runs if run.policy == policy]
            per_seed = [samples.get(run) for run in mine]
            finished = [run for run in mine if run in evals]
            entry: dict[str, Any] = {
                "runs": len(mine), "finished": len(finished),
                "diverged": [run.seed for run in mine if statuses[run] == "diverged"],
                "unfinished": [run.seed for run in mine if statuses[run] not in ("done", "diverged")],
                "trained_steps": signal.get(policy, {}).get("steps"),
                "completion_tokens": signal.get(policy, {}).get("tokens"),
            }
            runs = [r for r in out["runs"] if r["policy"] == policy and r["train"]]
            for key in ("steps", "trained_tokens", "tokens", "seconds"):
                values = [r["train"][key] for r in runs]
                entry[f"train_{key}"] = sum(values) / len(values) if values else None
            entry["eval_seconds"] = _mean([e["seconds"] for r, e in evals.items() if r.policy == policy])
            if finished and resampler:
                point = _mean_figures([evals[r] for r in finished])
                draws = resampler.across_seeds(per_seed)
                entry["figures"] = {name: bootstrap.interval(point[i], draws[:, i], s.confidence).to_dict()
                                    for i, name in enumerate(FIGURES)}
            else:
                entry["figures"] = {name: bootstrap.interval(float("nan"), _nothing(), s.confidence).to_dict()
                                    for name in FIGURES}
            out["policies"][policy] = entry
        for a, b in DIFFERENCES:
            if a in s.policies and b in s.policies and resampler:
                out["differences"][f"{a}-{b}"] = self._difference(a, b, evals, samples, resampler)
        return out

    def _run_summary(self, run: Run, status: str, record: dict[str, Any] | None,
                     draws: Any) -> dict[str, Any]:
        run_json = _read_run(self.run_dir(run))
        train = None
        if run_json is not None:
            t = run_json["train"]
            train = {"steps": t["steps"], "trained_tokens": t["trained_tokens"], "tokens": t["tokens"],
                     "seconds": t["seconds"], "final_loss": _finite(t["losses"][-1]) if t["losses"] else None,
                     "diverged": t.get("diverged"), "examples": run_json["data"]["examples"],
                     "data_trained_steps": run_json["data"]["trained_steps"]}
        summary: dict[str, Any] = {"policy": run.policy, "seed": run.seed, "status": status, "train": train}
        if record is not None:
            point = record["figures"]
            summary["figures"] = {name: bootstrap.interval(_nan(point[name]), draws[:, i],
                                                           self.settings.confidence).to_dict()
                                  for i, name in enumerate(FIGURES)}
            summary["eval_seconds"] = record["seconds"]
        return summary

    def _difference(self, a: str, b: str, evals: dict[Run, Any], samples: dict[Run, Any],
                    resampler: bootstrap.Resampler) -> dict[str, Any]:
        """``a − b`` paired by seed and by held-out trajectory, over the seeds where both finished."""
        seeds = [seed for seed in self.settings.seeds if Run(a, seed) in evals and Run(b, seed) in evals]
        out: dict[str, Any] = {"seeds": seeds}
        if not seeds:
            out["figures"] = {name: {"mean": None, "low": None, "high": None} for name in FIGURES}
            return out
        point = [x - y for x, y in zip(_mean_figures([evals[Run(a, s)] for s in seeds]),
                                       _mean_figures([evals[Run(b, s)] for s in seeds]))]
        per_seed = [samples[Run(a, s)] - samples[Run(b, s)] if s in seeds else None for s in self.settings.seeds]
        draws = resampler.across_seeds(per_seed)
        out["figures"] = {name: bootstrap.interval(point[i], draws[:, i], self.settings.confidence).to_dict()
                          for i, name in enumerate(FIGURES)}
        return out


# ---------------------------------------------------------------------------------------------- dry run


def rerun_argv(settings: Settings, root: Path) -> list[str]:
    """The ``srft experiment`` command line that reruns (or resumes) this experiment."""
    s = settings
    argv = ["srft", "experiment", s.dataset, "--model", s.model, "-o", str(root),
            "--policies", ",".join(s.policies), "--seeds", str(len(s.seeds)),
            "--split-seed", str(s.split_seed), "--eval-ratio", str(s.eval_ratio),
            "--eval-batch-size", str(s.eval_batch_size), "--bootstrap", str(s.draws)]
    if s.tokenizer:
        argv += ["--tokenizer", s.tokenizer]
    return argv + _setting_flags(s)


def _setting_flags(s: Settings) -> list[str]:
    """The training, verdict and mask settings as ``srft train`` / ``srft experiment`` options."""
    argv = [arg for annotator in s.policy_options.get("annotators", ()) for arg in ("--annotator", annotator)]
    options = {**s.train, **{k: v for k, v in s.policy_options.items() if k != "annotators"},
               **{("recorded_tokens" if k == "use_recorded_tokens" else k): v for k, v in s.mask_options.items()}}
    return argv + _flags(options)


def _flags(options: dict[str, Any]) -> list[str]:
    """``{"max_steps": 3, "bf16": True, "train_on_eos": False}`` -> ``--max-steps 3 --bf16 --no-train-on-eos``."""
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key == "train_on_eos":
            argv.append(flag if value else "--no-train-on-eos")
        elif isinstance(value, bool):
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv



def plan_budget(settings: Settings) -> dict[str, Any]:
    """What ``--dry-run`` prints: the split (computed, not written), the runs, and the token budget."""
    from .data import mask_trajectory
    from .loading import load_tokenizer

    source = Dataset.open(settings.dataset)
    tokenizer = load_tokenizer(settings.tokenizer or settings.model)
    ratios = (1 - settings.eval_ratio, settings.eval_ratio)
    sidecar = source.verdicts_by_trajectory()
    parts = {name: {"trajectories": 0, "tasks": set(), "tokens": 0} for name in SPLIT_NAMES}
    per_policy = {p: {"trained_steps": 0, "trained_tokens": 0, "examples": 0, "example_tokens": 0}
                  for p in settings.policies}
    masks = settings.masks()
    for traj in source.trajectories():
        task = GROUP_KEYS["task"](traj)
        part = assign(task, settings.split_seed, ratios, SPLIT_NAMES)
        parts[part]["trajectories"] += 1
        parts[part]["tasks"].add(task)
        located = [0.0 if s.exclude else 1.0 for s in traj.steps]
        examples = mask_trajectory(source, traj, tokenizer, located, masks) if any(located) else []
        parts[part]["tokens"] += sum(len(e.input_ids) for e in examples)
        if part != "train":
            continue
        spans = {s.step: s.end - s.start for e in examples for s in e.steps}
        length = len(examples[0].input_ids) if examples else 0
        for name in settings.policies:
            weights = settings.policy(name).step_weights(traj, sidecar.get(traj.id, ()))
            tokens = sum(spans.get(i, 0) for i, w in enumerate(weights) if w > 0)
            entry = per_policy[name]
            entry["trained_steps"] += sum(1 for w in weights if w > 0)
            entry["trained_tokens"] += tokens
            if tokens:
                entry["examples"] += 1
                entry["example_tokens"] += length
    rows = settings.train["max_steps"] * settings.train["batch_size"]
    for entry in per_policy.values():
        mean = entry["example_tokens"] / entry["examples"] if entry["examples"] else 0
        entry["tokens_per_run"] = round(rows * mean)
        entry["epochs"] = round(rows / entry["examples"], 2) if entry["examples"] else None
    runs = len(settings.policies) * len(settings.seeds)
    return {
        "split": {name: {**p, "tasks": len(p["tasks"])} for name, p in parts.items()},
        "runs": [run.key for run in plan_runs(settings)],
        "per_run": per_policy,
        "budget": {"train_tokens": sum(e["tokens_per_run"] for e in per_policy.values()) * len(settings.seeds),
                   "eval_tokens": parts["test"]["tokens"] * runs, "runs": runs,
                   "optimizer_steps": settings.train["max_steps"] * runs},
        "note": "token counts are of the rendered examples (max_length applied); tokens per run = steps x "
                "batch x mean example length under that policy",
    }


# ------------------------------------------------------------------------------------------------ helpers


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open_output(path) as out:
        out.write(json.dumps(data, indent=2).encode() + b"\n")


def _read_run(directory: Path) -> dict[str, Any] | None:
    path = directory / "run.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _template_sha(settings: Settings) -> str | None:
    template = settings.mask_options.get("chat_template")
    return sha256_hex(Path(template).read_bytes()) if template else None


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _same_trajectories(evals: dict[Run, dict[str, Any]]) -> list[str]:
    """The held-out trajectory ids, the same (and in the same order) in every evaluation, or an error."""
    lists = {run: [t["id"] for t in e["trajectories"]] for run, e in evals.items()}
    first_run, ids = next(iter(lists.items()))
    for run, other in lists.items():
        if other != ids:
            raise SrftError(f"runs {first_run.key} and {run.key} were evaluated on different held-out "
                            "trajectories (was the split changed?); delete the eval.json of the stale runs")
    return ids


def _held_out_summary(record: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    sums = sums_of(record)
    return {"trajectories": len(ids), "tasks": len({t["task"] for t in record["trajectories"]}),
            "resolved": sum(1 for t in record["trajectories"] if t["resolved"]), "tokens": record["tokens"],
            "steps": {c: int(sums[:, i, 2].sum()) for i, c in enumerate(CATEGORIES)},
            "scored_tokens": {c: int(sums[:, i, 1].sum()) for i, c in enumerate(CATEGORIES)},
            "skipped_steps": record["skipped_steps"]}


def _training_signal(train_dir: Path, settings: Settings) -> dict[str, dict[str, Any]]:
    """``srft stats``' training signal of the train split under the experiment's verdict policy."""
    from srft_format.query import open_views
    from srft_format.stats import compute_stats

    if not is_dataset(train_dir):
        return {}
    con = open_views([str(train_dir)], policy=settings.policy("srft"))
    return {row["policy"]: row for row in compute_stats(con, names=("training_signal",))["training_signal"]}


def _mean_figures(records: list[dict[str, Any]]) -> list[float]:
    """The figures averaged over runs (seeds)."""
    import numpy as np

    return list(np.mean([figures(sums_of(r)) for r in records], axis=0))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _finite(value: float) -> float | None:
    """A loss for JSON: non-finite ones are reported by ``diverged``, not written as NaN."""
    return value if math.isfinite(value) else None


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _nothing() -> Any:
    import numpy as np

    return np.array([])
