"""srft merge: the union of teams' datasets, refusing id conflicts and annotator collisions."""

from __future__ import annotations

import pytest
from sharing import attempts, contents, critic, labelled

from srft_format.dataset import Dataset, write_dataset, write_manifest
from srft_format.errors import SrftError
from srft_format.merge import merge_datasets
from srft_format.models import Source
from srft_format.redact import MARKER, redaction_marker

CRITIC_A, CRITIC_B = critic("team-a/critic"), critic("team-b/critic", model="critic-2")


@pytest.mark.parametrize("storage_b", ["parquet", "jsonl"])
def test_merging_two_labelings_equals_labeling_once_with_both(tmp_path, storage_b):
    trajs = attempts(4)
    a = labelled(tmp_path / "a", trajs, [(CRITIC_A, 0)])
    b = labelled(tmp_path / "b", trajs, [(CRITIC_B, 1)], storage=storage_b)
    both = labelled(tmp_path / "both", trajs, [(CRITIC_A, 0), (CRITIC_B, 1)])

    result = merge_datasets([a, b], tmp_path / "merged")

    assert contents(tmp_path / "merged") == contents(both)
    assert result.duplicates == len(trajs)  # every trajectory came twice
    assert result.manifest.counts == Dataset.open(both).manifest.counts
    assert not result.warnings


def test_union_keeps_trajectories_of_every_input(tmp_path):
    trajs = attempts(5)
    a = labelled(tmp_path / "a", trajs[:6], [(CRITIC_A, 0)])
    b = labelled(tmp_path / "b", trajs[4:], [(CRITIC_A, 0)])  # the same annotator, defined the same way

    merge_datasets([a, b], tmp_path / "merged")

    merged, verdicts, annotators = contents(tmp_path / "merged")
    assert sorted(merged) == sorted(t.id for t in trajs)
    assert sum(len(v) for v in verdicts.values()) == sum(len(t.steps) for t in trajs)
    assert list(annotators) == [CRITIC_A.id]


def test_two_different_records_with_one_id_are_refused_naming_both_inputs(tmp_path):
    trajs = attempts(2)
    a = labelled(tmp_path / "team-a", trajs, [])
    changed = [t.model_copy(deep=True) for t in trajs]
    changed[1].outcome.patch = "diff --git a/other.py b/other.py\n"
    b = labelled(tmp_path / "team-b", changed, [])

    with pytest.raises(SrftError) as err:
        merge_datasets([a, b], tmp_path / "merged")

    message = str(err.value)
    assert repr(trajs[1].id) in message and str(a) in message and str(b) in message
    assert not (tmp_path / "merged").exists()


def test_conflicting_verdicts_are_refused(tmp_path):
    trajs = attempts(1)
    a = labelled(tmp_path / "a", trajs, [(CRITIC_A, 0)])
    b = labelled(tmp_path / "b", trajs, [(CRITIC_A, 1)])  # same annotator, other labels

    with pytest.raises(SrftError, match=r"verdict \(trajectory .* differs between"):
        merge_datasets([a, b], tmp_path / "merged")


def test_annotator_id_with_two_definitions_is_refused_naming_both_inputs(tmp_path):
    trajs = attempts(2)
    a = labelled(tmp_path / "team-a", trajs, [(CRITIC_A, 0)])
    impostor = critic(CRITIC_A.id, model="another-model")
    b = labelled(tmp_path / "team-b", trajs, [(impostor, 0)])

    with pytest.raises(SrftError) as err:
        merge_datasets([a, b], tmp_path / "merged")

    message = str(err.value)
    assert repr(CRITIC_A.id) in message and str(a) in message and str(b) in message
    assert "rename" in message


def test_inline_annotator_colliding_with_another_inputs_registry_is_refused(tmp_path):
    a = labelled(tmp_path / "a", attempts(1), [(CRITIC_A, 0)])
    inline = attempts(1)[0].model_copy(update={"id": "inline-1"})
    inline.annotators = [critic(CRITIC_A.id, model="other")]
    b = tmp_path / "b"
    write_dataset(b, [inline])

    with pytest.raises(SrftError, match="means different annotators"):
        merge_datasets([a, b], tmp_path / "merged")


def test_licences_sources_and_redaction_markers_are_combined(tmp_path):
    trajs = attempts(2)
    a = labelled(tmp_path / "a", trajs[:2], [], license="MIT")
    b = labelled(tmp_path / "b", trajs[2:], [], license="CC-BY-4.0")
    for path, format, counts in ((a, "swe-agent", {"openai-key": 2}), (b, "openhands", {"jwt": 1})):
        manifest = Dataset.open(path).manifest
        manifest.extra[MARKER] = redaction_marker(counts)
        manifest.sources = [Source(format=format, files=1, trajectories=2)]
        write_manifest(path, manifest)

    result = merge_datasets([a, b], tmp_path / "merged")

    assert any("licences" in w and "MIT" in w and "CC-BY-4.0" in w for w in result.warnings)
    assert result.manifest.license == "MIT AND CC-BY-4.0"
    assert [s.format for s in result.manifest.sources] == ["swe-agent", "openhands"]
    assert result.manifest.extra[MARKER]["counts"] == {"jwt": 1, "openai-key": 2}
    assert [m["name"] for m in result.manifest.extra["merged_from"]] == ["a", "b"]


def test_merge_with_an_unredacted_input_is_not_marked_redacted(tmp_path):
    trajs = attempts(2)
    a = labelled(tmp_path / "a", trajs[:2], [])
    b = labelled(tmp_path / "b", trajs[2:], [])
    manifest = Dataset.open(a).manifest
    manifest.extra[MARKER] = redaction_marker({})
    write_manifest(a, manifest)

    result = merge_datasets([a, b], tmp_path / "merged")

    assert MARKER not in result.manifest.extra


def test_cli_merge_reports_a_conflict_in_one_line(tmp_path, srft):
    trajs = attempts(1)
    a = labelled(tmp_path / "a", trajs, [(CRITIC_A, 0)])
    b = labelled(tmp_path / "b", trajs, [(critic(CRITIC_A.id, model="x"), 0)])
    run = srft("merge", a, b, "-o", tmp_path / "m")
    assert run.code == 1
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_cli_merge_warns_about_licences(tmp_path, srft):
    a = labelled(tmp_path / "a", attempts(1), [], license="MIT")
    b = labelled(tmp_path / "b", attempts(2)[2:], [], license="Apache-2.0")
    run = srft("merge", a, b, "-o", tmp_path / "m")
    assert run.code == 0 and "warning: the inputs have different licences" in run.stderr
    assert Dataset.open(tmp_path / "m").manifest.counts.trajectories == 4
