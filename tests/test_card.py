"""srft card: a Hugging Face dataset card whose configs let `datasets` load the directory offline."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml
from sharing import attempts, contents, critic, labelled

from srft_format import arrow
from srft_format.card import card_metadata, hub_license, size_category, write_card
from srft_format.dataset import Dataset
from srft_format.models import Trajectory, VerdictRecord
from srft_format.verify import verify_dataset

CRITIC = critic("critic")


def _header(card_path) -> dict:
    text = card_path.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture
def dataset(tmp_path):
    path = labelled(tmp_path / "ds", attempts(3), [(CRITIC, 0)], license="Apache-2.0")
    write_card(path)
    return path


def test_card_header_has_licence_tags_size_and_configs(dataset):
    header = _header(dataset / "README.md")
    manifest = Dataset.open(dataset).manifest

    assert header["license"] == "apache-2.0"
    assert header["size_categories"] == ["n<1K"]
    assert "srft" in header["tags"]
    configs = {c["config_name"]: c for c in header["configs"]}
    for kind in ("trajectories", "verdicts"):
        assert configs[kind]["data_files"] == [{"split": "train", "path": [
            f.path for f in manifest.files if f.kind == kind]}]
    assert configs["trajectories"]["default"] is True
    body = (dataset / "README.md").read_text()
    assert f"| trajectories | {manifest.counts.trajectories} |" in body and "| critic | llm |" in body
    assert f"| critic | {manifest.counts.verdicts} |" in body  # srft stats: verdicts by annotator
    assert verify_dataset(dataset).ok  # the card is not a stray file


def test_licence_and_size_mapping():
    assert hub_license(None) == "unknown" and hub_license("MIT") == "mit"
    assert hub_license("MIT AND CC-BY-4.0") == "other"
    assert [size_category(n) for n in (0, 999, 1000, 250_000)] == ["n<1K", "n<1K", "1K<n<10K", "100K<n<1M"]


def test_jsonl_dataset_gets_a_card_without_parquet_configs(tmp_path):
    path = labelled(tmp_path / "ds", attempts(1), [(CRITIC, 0)], storage="jsonl")
    assert "configs" not in card_metadata(Dataset.open(path).manifest)
    assert "--storage parquet" in write_card(path).read_text()


@pytest.fixture
def offline_datasets(tmp_path, monkeypatch):
    """The `datasets` library with the Hub unreachable and a private cache."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets  # the `hub` extra
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return datasets


def _records(hf_dataset, model):
    """Rows as `datasets` gives them -> the Parquet layout -> validated records."""
    table = pa.Table.from_pylist(list(hf_dataset), schema=arrow.schema_of(model))
    return [model.model_validate(obj) for obj in arrow.from_table(table, model)]


@pytest.mark.slow
def test_datasets_loads_the_directory_and_the_parquet_files_offline(dataset, tmp_path, offline_datasets):
    cache = str(tmp_path / "cache")
    trajectories, verdicts, _ = contents(dataset)
    sidecars = sorted(Dataset.open(dataset).verdicts(), key=lambda v: (v.trajectory, v.step, v.annotator))

    by_config = offline_datasets.load_dataset(str(dataset), "trajectories", split="train", cache_dir=cache)
    by_files = offline_datasets.load_dataset(
        "parquet", data_files=[str(f) for f in Dataset.open(dataset).files("trajectories")], split="train",
        cache_dir=cache)
    verdicts_by_config = offline_datasets.load_dataset(str(dataset), "verdicts", split="train", cache_dir=cache)
    verdicts_by_files = offline_datasets.load_dataset(
        "parquet", data_files=[str(f) for f in Dataset.open(dataset).files("verdicts")], split="train",
        cache_dir=cache)

    for loaded in (by_config, by_files):
        assert {t.id: t for t in _records(loaded, Trajectory)} == trajectories
    for loaded in (verdicts_by_config, verdicts_by_files):
        assert sorted(_records(loaded, VerdictRecord), key=lambda v: (v.trajectory, v.step, v.annotator)) \
            == sidecars
    assert len(sidecars) == sum(len(v) for v in verdicts.values()) > 0
