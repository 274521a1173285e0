"""Every critic ``srft annotate --critic NAME`` can run: what it is, its modes, the evidence each mode reads,
and how it is built from options (the CLI only parses them).

Adding a critic is one :class:`CriticEntry` in :data:`CRITICS` with a builder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srft_format.errors import SrftError
from srft_format.models import Evidence

from .base import Critic
from .modes import MODES, get_mode
from .outcome import OutcomeCritic
from .prompts import load_template
from .rules import RuleCritic

Options = Mapping[str, Any]
"""The options of ``srft annotate`` by name (``mode``, ``template``, ``model``, ``base_url`` ...)."""


@dataclass(frozen=True)
class CriticEntry:
    name: str
    summary: str
    modes: tuple[str, ...]
    """The ``--mode`` values it runs (empty: it has none)."""
    evidence: tuple[Evidence, ...] = ()
    """For critics without modes: what they read."""
    build: Callable[[str | None, str, bool, Options], Critic] | None = None
    """``(annotator id or None, dataset path, dry run, options) -> critic``."""

    def evidence_of(self, mode: str | None) -> list[Evidence]:
        if mode is None or not self.modes:
            return list(self.evidence)
        found = MODES[mode]
        return found.evidence(load_template(found.template))


def _rules(annotator_id: str | None, dataset: str, dry_run: bool, options: Options) -> Critic:
    from .rules import RULES

    names = [n.strip() for n in options["rule_names"].split(",")] if options.get("rule_names") else list(RULES)
    return RuleCritic(annotator_id or "rules", names)


def _outcome(annotator_id: str | None, dataset: str, dry_run: bool, options: Options) -> Critic:
    return OutcomeCritic(annotator_id or "outcome")


def _human(annotator_id: str | None, dataset: str, dry_run: bool, options: Options) -> Critic:
    from srft_format.dataset import Dataset

    from .human import HumanSheetCritic

    if not annotator_id or not options.get("import_sheet"):
        raise SrftError("--critic human needs --annotator-id and --export-sheet or --import-sheet")
    critic = HumanSheetCritic(annotator_id, options["import_sheet"])
    critic.check_steps({t.id: len(t.steps) for t in Dataset.open(dataset).trajectories()})
    return critic


def _local(annotator_id: str | None, dataset: str, dry_run: bool, options: Options) -> Critic:
    from .local import LocalCritic, local_mode_and_template

    mode = options.get("mode") or "per-step"
    local_mode_and_template(mode, options.get("template"))  # refuse before loading a model
    model = options.get("model")
    name = Path(model).name if model else "smollm2-135m"
    return LocalCritic(annotator_id or f"local:{name}", model,
                       max_context_tokens=options.get("max_context_tokens") or 1024,
                       with_observation=options.get("observation", True), template=options.get("template"),
                       mode=mode)


def _openai(annotator_id: str | None, dataset: str, dry_run: bool, options: Options) -> Critic:
    from .budget import Budget
    from .cache import ResponseCache, cache_path
    from .chat_http import OpenAIChat, api_key_from_env
    from .llm import LLMCritic

    if not options.get("base_url") or not options.get("model"):
        raise SrftError("--critic openai needs --base-url (or OPENAI_BASE_URL) and --model")
    if options.get("max_cost") is not None and not (options.get("price_in") or options.get("price_out")):
        raise SrftError("--max-cost needs --price-in/--price-out (US dollars per 1M tokens)")
    mode = options.get("mode") or "per-step"
    get_mode(mode)
    ident = annotator_id or f"llm:{options['model']}"
    api_key = "dry-run" if dry_run else api_key_from_env(options.get("api_key_env") or "OPENAI_API_KEY")
    budget = Budget(options.get("max_requests"), options.get("max_cost"), options.get("price_in") or 0.0,
                    options.get("price_out") or 0.0)
    chat = OpenAIChat(base_url=options["base_url"], model=options["model"], api_key=api_key, budget=budget,
                      cache=ResponseCache(cache_path(dataset, ident)), concurrency=options.get("concurrency", 16),
                      max_retries=options.get("max_retries", 4), timeout=options.get("timeout", 120.0),
                      temperature=options.get("temperature", 0.0))
    return LLMCritic(ident, chat, mode=mode, template=options.get("template"),
                     max_context_tokens=options.get("max_context_tokens") or 8192,
                     max_tokens=options.get("max_tokens", 256), with_observation=options.get("observation", True))


CRITICS: dict[str, CriticEntry] = {e.name: e for e in (
    CriticEntry("rules", "cheap checks on the log (--list-rules); only ever says incorrect", (),
                RuleCritic.EVIDENCE, _rules),
    CriticEntry("outcome", "every step of a resolved trajectory is correct (RFT as verdicts)", (),
                OutcomeCritic.EVIDENCE, _outcome),
    CriticEntry("openai", "any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp, Ollama, OpenAI)",
                tuple(MODES), build=_openai),
    CriticEntry("local", "a transformers model on this machine (default SmolLM2-135M: a pipeline check)",
                ("per-step",), build=_local),
    CriticEntry("human", "labeling sheets: --export-sheet, then --import-sheet (evidence: what the sheet showed)",
                (), build=_human),
)}


def get_critic(name: str) -> CriticEntry:
    if name not in CRITICS:
        raise SrftError(f"unknown critic {name!r}; choose one of {', '.join(CRITICS)}")
    return CRITICS[name]


def build_critic(name: str, annotator_id: str | None, dataset: str, dry_run: bool, options: Options) -> Critic:
    """The critic ``name`` configured by ``options``; refuses a ``--mode`` it does not run, by name."""
    entry = get_critic(name)
    mode = options.get("mode")
    if mode and mode != "per-step" and not entry.modes:
        raise SrftError(f"--critic {name} has no modes; --mode {mode} is for --critic openai")
    assert entry.build is not None
    return entry.build(annotator_id, dataset, dry_run, options)


def listing() -> list[dict[str, str]]:
    """One row per critic and mode: ``critic``, ``mode``, ``evidence``, ``template``, ``what``."""
    rows = []
    for entry in CRITICS.values():
        for mode in entry.modes or (None,):
            evidence = entry.evidence_of(mode)
            rows.append({"critic": entry.name, "mode": mode or "-",
                         "evidence": ", ".join(e.value for e in evidence) or "(not declared)",
                         "template": MODES[mode].template if mode else "-",
                         "what": MODES[mode].summary if mode else entry.summary})
    return rows
