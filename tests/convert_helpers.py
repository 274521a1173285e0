"""Helpers for the converter tests: convert one file in memory, find corpus files by a name fragment."""

from __future__ import annotations

from pathlib import Path

from srft_format.converters.base import Converter, SourceRecord
from srft_format.converters.conversion import FileResult, convert_file, convert_record, records_with_converters
from srft_format.converters.reader import InputFile, RecordError, iter_records
from srft_format.models import Trajectory
from srft_format.validate import check_trajectory


def converted(path: Path | InputFile) -> list[tuple[SourceRecord, Converter, list[Trajectory]]]:
    """Every record of ``path`` with its (auto-detected) converter and trajectories; decoding errors raise."""
    out = []
    for item in iter_records(path if isinstance(path, InputFile) else InputFile(str(path), path.name)):
        assert not isinstance(item, RecordError), item.problem
        for record, converter, detection in records_with_converters(item, None):
            out.append((record, converter, convert_record(record, converter, detection)))
    return out


def trajectories(path: Path) -> list[Trajectory]:
    return [t for _, _, trajs in converted(path) for t in trajs]


def one(path: Path) -> Trajectory:
    (traj,) = trajectories(path)
    return traj


def corpus_file(corpus: Path, folder: str, fragment: str) -> Path:
    (match,) = [p for p in (corpus / folder).iterdir() if fragment in p.name]
    return match


def convert(path: Path) -> FileResult:
    """Convert one file through the pipeline; every trajectory must be valid."""
    result = convert_file(InputFile(str(path), path.name))
    assert not result.errors, result.errors
    for traj in result.trajectories:
        assert check_trajectory(traj) == []
    return result
