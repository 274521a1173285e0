"""``srft masks``: what a user runs to see what a policy trains (real CLI, real tokenizer directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from masking import TEMPLATES, agent_trajectory, family_tokenizer
from srft_format.trainers.masks import build_examples

from srft_format.dataset import write_dataset
from srft_format.errors import SrftError
from srft_format.models import Annotator, Verdict
from srft_format.policy import TrainingPolicy


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A model directory holding deepseek's vocabulary with the thinking template's control tokens."""
    path = tmp_path_factory.mktemp("tok") / "thinking-tokenizer"
    family_tokenizer("thinking").save_pretrained(path)
    return path


CRITIC = Annotator(id="critic", kind="llm")


def labelled(traj_id: str, observations: str):
    """A 3-step trajectory whose critic rejects step 1."""
    verdicts = [Verdict(step=i, annotator="critic", label=label)
                for i, label in enumerate(["correct", "incorrect", "correct"])]
    traj = agent_trajectory(traj_id, n_steps=3, observations=observations)
    return traj.model_copy(update={"annotators": [CRITIC], "verdicts": verdicts})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two trajectories: tool observations (one example), user observations (the template rewrites them)."""
    path = tmp_path_factory.mktemp("ds") / "masks-ds"
    write_dataset(path, [labelled("tool-obs", "tool"), labelled("user-obs", "user")], annotators=[CRITIC])
    return path


def masks(*args) -> str:
    """``srft masks ARGS`` in-process (the subprocess form costs an import of transformers per call)."""
    from click.testing import CliRunner
    from srft_format.cli.main import cli

    result = CliRunner().invoke(cli, ["masks", *map(str, args)], catch_exceptions=False,
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def counts_row(stdout: str, example: int = 1) -> list[int]:
    row = next(line for line in stdout.splitlines() if re.match(rf"^\W*{example}\W", line))
    return [int(n) for n in re.findall(r"\d+", row)]


def test_counts_match_the_masks_training_uses(dataset, tokenizer_dir):
    stdout = masks(dataset, "--tokenizer", tokenizer_dir, "-t", "tool-obs")
    assert "<think>\nThinking about step 0." in stdout and "<tool_response>" in stdout

    from srft_format.trainers.loading import load_tokenizer

    traj = labelled("tool-obs", "tool")
    weights = TrainingPolicy("srft").step_weights(traj)
    assert weights == [1.0, 0.0, 1.0]
    (example,) = build_examples(traj, load_tokenizer(tokenizer_dir), weights)
    rejected = sum(s.end - s.start for s in example.steps if s.weight == 0)
    assert counts_row(stdout) == [1, len(example.input_ids), example.trained_tokens, rejected,
                                  len(example.input_ids) - example.trained_tokens - rejected, 2, 0]
    assert "2 of 3 steps have a positive weight" in stdout

    sft = masks(dataset, "--tokenizer", tokenizer_dir, "-t", "tool-obs", "--policy", "sft", "--counts-only")
    assert "<think>" not in sft
    assert counts_row(sft)[2] == example.trained_tokens + rejected and counts_row(sft)[3] == 0


def test_a_rewriting_template_is_refused_in_one_line_or_split(srft, dataset, tokenizer_dir):
    run = srft("masks", dataset, "--tokenizer", tokenizer_dir, "-t", "user-obs")
    assert run.code == 1
    assert run.stderr.count("\n") == 1 and "rewrites this turn once later turns follow" in run.stderr
    split = masks(dataset, "--tokenizer", tokenizer_dir, "-t", "user-obs", "--history", "split",
                  "--counts-only")
    assert "example 2 of 2" in split
    assert counts_row(split, 1)[5] + counts_row(split, 2)[5] == 2  # steps 0 and 2, once each


def test_a_template_without_tool_calls_gets_text_calls_or_refuses(dataset, tokenizer_dir):
    gemma = ("--tokenizer", tokenizer_dir, "-t", "tool-obs", "--chat-template", TEMPLATES / "gemma.jinja")
    stdout = masks(dataset, *gemma)
    assert "<function=bash>" in stdout and "note: tool calls are written as text" in stdout
    with pytest.raises(SrftError, match="does not render tool calls"):
        masks(dataset, *gemma, "--tool-calls", "native")
