"""SWE-agent ``.traj`` runs (0.x to 1.1+) and demonstrations (history-only ``.traj``, ``.demo.yaml``).

The chat comes from ``history`` (what the agent kept and sent); ``trajectory`` steps are matched to its
assistant turns. Steps the history lacks are re-queries after format errors (1.x: kept, flagged
``requery``, their error prompt taken from the next step's ``query``) or turns a hand-edited file dropped
(rebuilt from the step, and the record marked ``reconstructed``). A 1.1+ step's ``query`` (the exact model
input) becomes ``step.input`` where it differs from the chat before the step (later queries leave re-queries
out; history processors rewrite old observations), converted as the history is so that equal messages are
stored as runs of the chat. The 1.0 ``messages`` (the history after a step) is dropped when it equals the
history it was built from; when a history processor rewrote some items, ``step.extra.messages_edits`` keeps
those items by position; else it is kept verbatim. 0.x ``state`` is taken before the action
(``extra.state_before``), 1.x after it (``extra.state_after``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import orjson

from srft_format.errors import Problem, SrftError
from srft_format.inputs import MessageIndex
from srft_format.models import Action, Agent, ExcludeReason, InputItem, Message, Outcome, Role, Step, Task, Trajectory

from .actions import call_action, command_action
from .base import Converter, Detection, SourceRecord, new_trajectory
from .chat import chat_message, text_of
from .openai_chat import CallIds
from .reader import file_stem
from .source_fields import require, run_usage, token_count

NAME = "swe-agent"
RUN_KEYS = ("trajectory", "history", "info", "replay_config", "environment")
STEP_MAPPED = ("response", "thought", "action", "observation", "messages", "query")
HISTORY_SKIPPED = frozenset(("thought", "action", "tool_call_ids", "thinking_blocks"))
SAMPLING_KEYS = ("temperature", "top_p")
AGENT_INFO_KEYS = ("swe_agent_hash", "swe_rex_version", "swe_rex_hash")
SCAFFOLD_EXIT = "Exit due to "
"""How SWE-agent's own last 'assistant' turn begins when it ended the run on an error (``Exit due to unknown
error: litellm.APIError ...``, ``Exit due to cost limit``): the scaffold wrote it, the model did not."""


# ------------------------------------------------------------------------------------------- detection


def _is_history(value: Any) -> bool:
    return isinstance(value, list) and (not value or (isinstance(value[0], dict) and "role" in value[0]))


def detect(record: SourceRecord) -> Detection | None:
    data = record.data
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("attempts"), list) and "trajectory" in data:
        return Detection("1.x-retry", "has 'attempts' beside 'trajectory' (RetryAgent output)")
    if not _is_history(data.get("history")):
        return None
    if "trajectory" not in data:
        if "info" in data:
            return Detection("?", "has SWE-agent 'history' and 'info' but no 'trajectory'")
        return Detection("demonstration", "'history' without 'trajectory': a demonstration")
    return _run_version(data)


def _run_version(data: dict[str, Any]) -> Detection:
    steps = data.get("trajectory")
    first = steps[0] if isinstance(steps, list) and steps and isinstance(steps[0], dict) else {}
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    if isinstance(first.get("state"), str):
        if "execution_time" in first or "summarizer" in info or "edited_files30" in info:
            return Detection("0.7", "steps carry 'state' as a JSON string, with 'execution_time' or "
                                    "info.summarizer/edited_files (v0.7)")
        return Detection("0.x", "steps carry 'state' as a JSON string and no 'execution_time'")
    if "query" in first:
        return Detection("1.1+", "steps carry 'query', the exact model input")
    if "messages" in first:
        return Detection("1.0", "steps carry 'messages', the history after each step")
    history = data.get("history") or []
    typed = any("message_type" in h for h in history if isinstance(h, dict))
    if typed or isinstance(first.get("state"), dict):
        return Detection("1.x", "1.x history ('message_type', state dicts) but no per-step model input")
    return Detection("0.x", "history without 'message_type' and no per-step fields")


# ------------------------------------------------------------------------------------------ conversion


def convert(record: SourceRecord, detection: Detection) -> Iterator[Trajectory]:
    data = record.data
    if detection.version == "?":
        raise SrftError(Problem("required field is missing (a run needs 'trajectory'; a demonstration has "
                                "only 'history')", "trajectory"))
    if detection.version == "1.x-retry":
        yield from _retry_attempts(record, data)
        return
    yield _RunBuilder(record, detection, data).build()


def _retry_attempts(record: SourceRecord, data: dict[str, Any]) -> Iterator[Trajectory]:
    """RetryAgent output: one trajectory per attempt (the top-level copy of the best one is not repeated)."""
    retry = {k: v for k, v in data.items() if k not in ("attempts", "trajectory", "history")}
    best = _dict(data.get("info"), "info").get("best_attempt_idx")
    for i, attempt in enumerate(_list(data, "attempts")):
        path = f"attempts[{i}]"
        builder = _RunBuilder(record, _run_version(_dict(attempt, path)), attempt, f"{path}.")
        traj = builder.build(f"#attempt{i}")
        traj.extra.update(attempt=i, best_attempt=best == i, retry=retry)
        yield traj


def _list(data: dict[str, Any], key: str, prefix: str = "") -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    return require(value, list, f"{prefix}{key}", "a list")


def _dict(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    return require(value, dict, path, "an object")


def _json_or_self(value: Any) -> Any:
    """A JSON string decoded (0.x ``state``, 1.x ``replay_config``); anything else unchanged."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _signature(item: Any) -> tuple[Any, ...]:
    """What the model sees of a history item: role, text, tool call ids, answered call ids."""
    if not isinstance(item, dict):
        return (None,)
    calls = item.get("tool_calls") or []
    answered = item.get("tool_call_ids") or ([item["tool_call_id"]] if item.get("tool_call_id") else [])
    return (item.get("role"), text_of(item.get("content")),
            tuple(c.get("id") for c in calls if isinstance(c, dict)), tuple(answered))


class _RunBuilder:
    """Builds one trajectory from one SWE-agent run (or demonstration) dict."""

    def __init__(self, record: SourceRecord, detection: Detection, data: dict[str, Any], prefix: str = ""):
        self.record, self.detection, self.data, self.prefix = record, detection, data, prefix
        self.history = _list(data, "history", prefix)
        self.demo = "trajectory" not in data
        self.steps_src = _list(data, "trajectory", prefix)
        self.messages: list[Message] = []
        self.steps: list[Step] = []
        self.pending: list[tuple[Step, dict[str, Any] | None, tuple[Any, ...] | None]] = []
        self.reconstructed = False
        self.call_ids = CallIds()
        self.requery_sigs: tuple[Any, ...] = ()
        """What the last re-query added to the next model input (the failed output and the error prompt)."""
        self.inserted: set[int] = set()
        """Messages that are not history items (re-query prompts, rebuilt turns)."""
        self.history_sigs = [_signature(h) for h in self.history]
        self.scaffold_exit: dict[str, Any] | None = None
        """SWE-agent's own exit turn (and the turns after it), when it ended the run on an error."""
        self.info = _dict(data.get("info"), f"{prefix}info")
        submission = self.info.get("submission")
        self.submission = submission if isinstance(submission, str) else None

    # -- messages

    def _message(self, item: Any, path: str) -> Message:
        if not isinstance(item, dict):
            raise SrftError(Problem(f"expected a message object, got {type(item).__name__}", path))
        ids = item.get("tool_call_ids")
        if ids is not None and not isinstance(ids, list):
            raise SrftError(Problem(f"expected a list, got {type(ids).__name__}", f"{path}.tool_call_ids"))
        source = {**item, "tool_call_id": ids[0]} if item.get("role") == "tool" and ids else item
        msg = chat_message(source, path, skip=HISTORY_SKIPPED)
        if ids and (len(ids) > 1 or item.get("role") != "tool"):
            msg.extra["tool_call_ids"] = ids
        blocks = item.get("thinking_blocks")
        if blocks:
            msg.reasoning = "\n\n".join(str(b.get("thinking", "")) for b in blocks if isinstance(b, dict))
            msg.extra["thinking_blocks"] = [
                {k: v for k, v in b.items() if k != "thinking"} if isinstance(b, dict) else b for b in blocks]
        return msg

    def _add(self, message: Message, inserted: bool = False) -> int:
        self.messages.append(self.call_ids.answer(self.call_ids.claim(message)))
        if inserted:
            self.inserted.add(len(self.messages) - 1)
        return len(self.messages) - 1

    # -- steps

    def _step(self, output: int, step_src: dict[str, Any] | None, action_text: str | None,
              exclude: list[ExcludeReason], expected_input: tuple[Any, ...] | None) -> Step:
        message = self.messages[output]
        actions, action_used = _actions(message, action_text)
        step = Step(index=len(self.steps), output=output, actions=actions, exclude=exclude)
        if action_text and not action_used:
            step.extra["action"] = action_text
        self.steps.append(step)
        self.pending.append((step, step_src, expected_input))
        return step

    def _pair_steps(self) -> tuple[dict[int, int], dict[int, list[int]], list[int]]:
        """History index -> its trajectory step; requery steps before each history turn; steps past it."""
        accepted = [i for i, h in enumerate(self.history)
                    if isinstance(h, dict) and h.get("role") == "assistant" and not h.get("is_demo")]
        paired: dict[int, int] = {}
        requeries: dict[int, list[int]] = defaultdict(list)
        tail: list[int] = []
        j = 0
        for k, step in enumerate(self.steps_src):
            if not isinstance(step, dict):
                raise SrftError(Problem(f"expected an object, got {type(step).__name__}",
                                        f"{self.prefix}trajectory[{k}]"))
            if j >= len(accepted):
                tail.append(k)
            elif _same_turn(step, self.history[accepted[j]]):
                paired[accepted[j]] = k
                j += 1
            else:
                requeries[accepted[j]].append(k)
        if j < len(accepted) and requeries:  # not a requery pattern: the two lists disagree; pair by position
            paired = dict(zip(accepted, range(len(self.steps_src))))
            requeries, tail = defaultdict(list), list(range(len(accepted), len(self.steps_src)))
        return paired, requeries, tail

    def _requery(self, k: int, history_end: int) -> None:
        """A re-queried model output: kept and flagged, with the error prompt it got back when recorded."""
        src = self.steps_src[k]
        nxt = self.steps_src[k + 1] if k + 1 < len(self.steps_src) else {}
        query = nxt.get("query") if isinstance(nxt, dict) else None
        base = tuple(self.history_sigs[:history_end])
        response = src.get("response")
        if (isinstance(query, list) and len(query) == len(base) + 2 and isinstance(query[-2], dict)
                and text_of(query[-2].get("content")) == response):
            output = self._add(self._message(query[-2], f"{self.prefix}trajectory[{k + 1}].query[-2]"), True)
            error = self._add(self._message(query[-1], f"{self.prefix}trajectory[{k + 1}].query[-1]"), True)
            step = self._step(output, src, src.get("action"), [ExcludeReason.requery], base)
            step.observations.append(error)
            self.requery_sigs = (_signature(query[-2]), _signature(query[-1]))
        else:
            self.reconstructed = True
            output = self._add(_assistant(response), True)
            self._step(output, src, src.get("action"), [ExcludeReason.requery], base)
            self.requery_sigs = ((None,),)  # the prompt that followed it is unknown

    def _unrecorded_turn(self, k: int) -> None:
        """A step the history lacks (hand-edited files): its output and observation rebuilt from the step."""
        self.reconstructed = True
        src = self.steps_src[k]
        response = src.get("response")
        output = self._add(_assistant(response), True)
        step = self._step(output, src, src.get("action"), [], None)
        observation = src.get("observation")
        if isinstance(observation, str) and observation:
            step.observations.append(self._add(Message(role="user", content=observation), True))

    def _walk(self) -> None:
        paired, requeries, tail = self._pair_steps()
        current: Step | None = None
        exit_at = self._scaffold_exit()
        for h, item in enumerate(self.history):
            self.requery_sigs = ()
            for k in requeries.get(h, ()):
                self._requery(k, h)
            if h == exit_at:
                self.scaffold_exit = {"history": self.history[h:]}
                if paired.get(h) is not None:
                    self.scaffold_exit["step"] = self.steps_src[paired[h]]
                break
            index = self._add(self._message(item, f"{self.prefix}history[{h}]"))
            demo = self.demo or bool(item.get("is_demo"))
            if self.messages[index].role is Role.assistant:
                k = paired.get(h)
                src = self.steps_src[k] if k is not None else None
                exclude = [ExcludeReason.demonstration] if demo else []
                action_text = src.get("action") if src is not None else item.get("action")
                if not isinstance(action_text, str):
                    action_text = None
                seen_input = (*self.history_sigs[:h], *self.requery_sigs)
                current = self._step(index, src, action_text, exclude, seen_input)
            elif current is not None and demo == (ExcludeReason.demonstration in current.exclude):
                current.observations.append(index)  # a demonstration's turns answer only demonstrations
        for k in tail:
            self._unrecorded_turn(k)

    def _scaffold_exit(self) -> int | None:
        """The history index of the last assistant turn when SWE-agent wrote it to end the run on an error (no
        model output: not a step, it goes to ``outcome.extra.scaffold_exit`` with what follows it)."""
        last = next((h for h in range(len(self.history) - 1, -1, -1)
                     if isinstance(self.history[h], dict) and self.history[h].get("role") == "assistant"), None)
        if last is None or self.demo:
            return None
        item = self.history[last]
        text = text_of(item.get("content"))
        return last if text.startswith(SCAFFOLD_EXIT) and not item.get("tool_calls") and \
            not (item.get("action") or "").strip() else None

    def _finish_steps(self) -> None:
        """Map each trajectory step's fields now that every observation message exists."""
        ends = [*(s.output for s in self.steps[1:]), len(self.messages)]
        where = {id(src): k for k, src in enumerate(self.steps_src)}
        index = MessageIndex(self.messages)
        for (step, src, expected_input), end in zip(self.pending, ends):
            if src is not None:
                step.extra.update(self._step_extra(step, src, expected_input, end))
                if "query" in src:
                    path = f"{self.prefix}trajectory[{where[id(src)]}]"
                    step.input = self._recorded_query(step, src["query"], path, index)

    def _recorded_query(self, step: Step, query: Any, path: str, index: MessageIndex) -> list[InputItem] | None:
        """``step.input`` from a 1.1+ ``query``: None when it equals the chat before the step."""
        items = require(query, list, f"{path}.query", "a list")
        if items == [{}]:  # SWE-agent's placeholder for a step that made no model call: kept as written
            step.extra["query"] = items
            return None
        sent = [self.call_ids.answer(self._message(item, f"{path}.query[{i}]")) for i, item in enumerate(items)]
        return index.input_items(sent, step.output)

    def _step_extra(self, step: Step, src: dict[str, Any], expected_input: tuple[Any, ...] | None,
                    end: int) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        output = self.messages[step.output]
        seen = [text_of_message(self.messages[i]) for i in step.observations]
        response = src.get("response")
        if response is not None and response != text_of_message(output):
            extra["response"] = response
        observation = src.get("observation")
        if observation and observation != self.submission and not any(observation in text for text in seen):
            extra["observation"] = observation
        if "messages" in src:
            after = tuple(self.history_sigs[:self._history_end(end)]) if expected_input is not None else None
            extra.update(_recorded_input("messages", src["messages"], after))
        if "state" in src:
            key = "state_before" if isinstance(src["state"], str) else "state_after"
            extra[key] = _json_or_self(src["state"])
        if src.get("thinking_blocks") and output.reasoning is None:
            extra["thinking_blocks"] = src["thinking_blocks"]
        for key, value in src.items():
            if key not in (*STEP_MAPPED, "state", "thinking_blocks") and value not in ({}, None):
                extra[key] = value
        return extra

    def _history_end(self, message_end: int) -> int:
        """How many history items precede message ``message_end`` (requery messages are not history)."""
        return message_end - sum(1 for i in self.inserted if i < message_end)

    # -- the trajectory

    def build(self, suffix: str = "") -> Trajectory:
        self._walk()
        self._finish_steps()
        return self._trajectory(suffix, self.info, _json_or_self(self.data.get("replay_config")))

    def _trajectory(self, suffix: str, info: dict[str, Any], config: Any) -> Trajectory:
        extra = {k: v for k, v in self.data.items() if k not in (*RUN_KEYS, "attempts")}
        outcome = self._outcome(info)
        if self.scaffold_exit is not None:
            outcome.extra["scaffold_exit"] = self.scaffold_exit
        stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
        traj = new_trajectory(CONVERTER, self.record, self.detection, suffix=suffix,
                              origin="reconstructed" if self.reconstructed else "recorded",
                              task=self._task(config), agent=self._agent(info, config), usage=run_usage(stats),
                              outcome=outcome, messages=self.messages, steps=self.steps, extra=extra)
        assert traj.provenance is not None
        traj.provenance.api_calls = token_count(stats.get("api_calls"))
        return traj

    def _task(self, config: Any) -> Task:
        config = config if isinstance(config, dict) else {}
        problem = config.get("problem_statement") if isinstance(config.get("problem_statement"), dict) else {}
        repo = config.get("env", {}).get("repo") if isinstance(config.get("env"), dict) else None
        repo = repo if isinstance(repo, dict) else {}
        url = repo.get("github_url")
        environment = self.data.get("environment")
        instance = problem.get("id") if isinstance(problem.get("id"), str) else None
        if instance is None and isinstance(environment, str) and environment not in ("main", "swe_main"):
            instance = environment
        return Task(instance_id=instance or file_stem(self.record.file, (".traj", ".json", ".yaml", ".yml", ".demo")),
                    repo="/".join(url.rstrip("/").split("/")[-2:]) if isinstance(url, str) else None,
                    base_commit=repo.get("base_commit") if isinstance(repo.get("base_commit"), str) else None,
                    problem_statement=problem.get("text") if isinstance(problem.get("text"), str) else None,
                    extra={"environment": environment} if environment is not None else {})

    def _agent(self, info: dict[str, Any], config: Any) -> Agent:
        agent_cfg = config.get("agent") if isinstance(config, dict) else None
        model_cfg = agent_cfg.get("model") if isinstance(agent_cfg, dict) else None
        model_cfg = model_cfg if isinstance(model_cfg, dict) else {}
        version = info.get("swe_agent_version")
        return Agent(scaffold=NAME, scaffold_version=version if isinstance(version, str) else None,
                     model=model_cfg.get("name") if isinstance(model_cfg.get("name"), str) else None,
                     sampling={k: model_cfg[k] for k in SAMPLING_KEYS if model_cfg.get(k) is not None},
                     config=config,
                     extra={k: info[k] for k in AGENT_INFO_KEYS if k in info})

    def _outcome(self, info: dict[str, Any]) -> Outcome:
        exit_status, patch = info.get("exit_status"), info.get("submission")
        rest = {k: v for k, v in info.items()
                if k not in ("exit_status", "submission", "swe_agent_version", *AGENT_INFO_KEYS)}
        return Outcome(exit_status=exit_status if isinstance(exit_status, str) else None,
                       patch=patch if isinstance(patch, str) else None, extra=rest)


def text_of_message(message: Message) -> str:
    content = message.content
    if isinstance(content, list):
        return "".join(getattr(p, "text", "") for p in content)
    return content or ""


def _sigs(items: Any) -> tuple[Any, ...] | None:
    return tuple(_signature(i) for i in items) if isinstance(items, list) else None


def _recorded_input(key: str, items: Any, history: tuple[Any, ...] | None) -> dict[str, Any]:
    """A step's recorded model input, as little as is needed to rebuild it from the history.

    Nothing when it equals the history; ``<key>_edits`` ({position: item}) when it is the history with some
    items rewritten (history processors such as ``last_n_observations``); else ``<key>`` verbatim.
    """
    sigs = _sigs(items)
    if history is not None and sigs == history:
        return {}
    if history is not None and sigs is not None and len(sigs) == len(history):
        return {f"{key}_edits": {str(i): items[i] for i, (a, b) in enumerate(zip(sigs, history)) if a != b}}
    return {key: items}


def _assistant(response: Any) -> Message:
    """An assistant message rebuilt from a trajectory step's ``response``."""
    return Message(role="assistant", content=response if isinstance(response, str) else None)


def _same_turn(step: dict[str, Any], item: Any) -> bool:
    """Does a trajectory step record this history assistant turn?"""
    if not isinstance(item, dict):
        return False
    if step.get("response") == text_of(item.get("content")):
        return True
    return step.get("action") == item.get("action") and step.get("thought") == item.get("thought")


def _actions(message: Message, action_text: str | None) -> tuple[list[Action], bool]:
    """A step's actions, and whether the scaffold's rendered ``action`` text became an action's command."""
    if len(message.tool_calls) == 1:
        return [call_action(message.tool_calls[0], command=action_text or None)], bool(action_text)
    if message.tool_calls:
        return [call_action(call) for call in message.tool_calls], False
    if action_text and action_text.strip():
        return [command_action(action_text)], True
    return [], False


CONVERTER = Converter(
    name=NAME,
    versions=("0.x", "0.7", "1.0", "1.1+", "1.x", "1.x-retry", "demonstration"),
    detect=detect,
    convert=convert,
    description="SWE-agent .traj runs (text actions, function calling, per-step query) and demonstrations",
    derived_fields=("trajectory[].thought", "history[].thought", "history[].action"),
)
