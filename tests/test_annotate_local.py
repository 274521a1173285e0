"""The local critic (bundled SmolLM2-135M-Instruct GGUF via transformers) labels real trajectories end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from critic_data import SIMPY, TEST_REPO, small_corpus_dataset

from srft_format.annotators.modes import MODES
from srft_format.annotators.prompts import load_template
from srft_format.cli.main import cli
from srft_format.dataset import Dataset
from srft_format.trainers.loading import SMOLLM2_GGUF


@pytest.mark.slow
def test_smollm2_labels_two_corpus_trajectories(tmp_path, corpus_dataset):
    data = tmp_path / "data"
    trajectories = small_corpus_dataset(data, corpus_dataset, (SIMPY, TEST_REPO))
    args = ["annotate", str(data), "--critic", "local", "--max-context-tokens", "640", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    steps = {(t.id, s.index) for t in trajectories for s in t.steps}
    assert summary["labeled"] == len(steps) == 7

    ds = Dataset.open(data)
    verdicts = list(ds.verdicts())
    assert {(v.trajectory, v.step) for v in verdicts} == steps
    for v in verdicts:
        assert v.label.value in ("correct", "incorrect", "neutral")
        assert 0 <= v.score <= 1 and v.rationale.startswith("constrained choice: p(correct)=")
        probs = [float(part.split("=")[1]) for part in v.rationale.removeprefix("constrained choice: ").split(", ")]
        assert sum(probs) == pytest.approx(1, abs=0.02) and v.extra["context"]["tokens"] <= 640
    declared = ds.annotators["local:smollm2-135m"]
    template = load_template(MODES["per-step"].template)
    assert (declared.kind.value, declared.model, declared.prompt_sha256) == ("llm", SMOLLM2_GGUF, template.sha256)

    again = CliRunner().invoke(cli, args)  # resumes: nothing left, so the model is loaded but never run
    assert json.loads(again.stdout[again.stdout.index("{"):])["already_labeled"] == 7
