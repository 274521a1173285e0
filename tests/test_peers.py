"""The exports in the peers' own loaders: TRL's SFTTrainer trains exactly the tokens srft's masks train.

TRL is a dev dependency. The trajectory is a real corpus run with every odd step rejected (sidecar verdicts).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convert_helpers import corpus_file, one
from masking import tokenizer
from srft_format.dataset import Dataset, DatasetWriter, write_dataset
from srft_format.models import Annotator, Verdict
from srft_format.policy import TrainingPolicy
from srft_format.trainers.data import build_examples
from srft_format.trainers.export import export
from srft_format.trainers.masks import MaskOptions


@pytest.fixture(scope="module")
def odd_rejected(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mini-swe-agent's astropy run, unresolved, every odd step rejected by a rule critic."""
    traj = one(corpus_file(corpus, "mini-swe-agent", "astropy-12907"))
    traj = traj.model_copy(update={"outcome": traj.outcome.model_copy(update={"resolved": False})})
    path = tmp_path_factory.mktemp("peers") / "ds"
    write_dataset(path, [traj])
    with DatasetWriter(path, mode="append") as out:
        out.declare_annotator(Annotator(id="odd-steps", kind="rule"))
        for step in traj.steps:
            out.add_verdict(traj.id, Verdict(step=step.index, annotator="odd-steps",
                                             label="incorrect" if step.index % 2 else "correct"))
    return path


@pytest.mark.slow
def test_trl_sft_trainer_trains_the_tokens_srft_masks_train(odd_rejected, tmp_path):
    """The README's SFTConfig: max_length equal to the export's, no packing. TRL keeps the labels as they are."""
    from datasets import load_dataset
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    smollm2, policy, limit = tokenizer("smollm2"), TrainingPolicy("srft"), 4096
    summary = export(odd_rejected, "trl", policy, tmp_path / "trl.jsonl", tokenizer=smollm2,
                     mask_options=MaskOptions(max_length=limit))
    examples, data = build_examples(Dataset.open(odd_rejected), smollm2, policy, MaskOptions(max_length=limit))
    assert summary.trained_tokens == data.trained_tokens > 0 and summary.trained_steps_cut > 0

    rows = load_dataset("json", data_files=str(tmp_path / "trl.jsonl"), split="train")
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(smollm2), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    config = SFTConfig(output_dir=str(tmp_path / "out"), max_length=limit, packing=False, report_to="none",
                       use_cpu=True, per_device_train_batch_size=1)
    trainer = SFTTrainer(model=model, args=config, train_dataset=rows, processing_class=smollm2)
    prepared = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    batch = trainer.data_collator(prepared)
    assert int((batch["labels"] != -100).sum()) == data.trained_tokens
    assert [p["input_ids"] for p in prepared] == [e.input_ids for e in examples]
    # TRL's default max_length (1024) would cut these rows: the README's config is what keeps them whole
    assert all(len(e.input_ids) > 1024 for e in examples)
    assert json.loads((tmp_path / "trl.jsonl.srft.json").read_text())["summary"]["trained_steps_cut"] > 0
