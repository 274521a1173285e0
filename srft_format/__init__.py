"""srft: an open data format and toolchain for step-annotated LLM-agent trajectories."""

from .dataset import Dataset, DatasetWriter, copy_dataset, write_dataset
from .errors import FormatVersionError, Problem, SrftError
from .check import find_problems
from .inputs import input_items, step_input
from .io import read_objects, read_records, write_records
from .models import (FORMAT_VERSION, Action, ActionKind, Agent, Annotator, AnnotatorKind, Evidence, ExcludeReason,
                     InputItem, Label, Manifest, Message, Outcome, Provenance, Role, Step, Task, ToolCall, Trajectory, Verdict,
                     VerdictRecord)
from .policy import TrainingPolicy, VerdictPolicy

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION", "Action", "ActionKind", "Agent", "Annotator", "AnnotatorKind", "Dataset", "DatasetWriter",
    "Evidence", "ExcludeReason", "FormatVersionError", "InputItem", "Label", "Manifest", "Message", "Outcome", "Problem", "Provenance",
    "Role", "SrftError", "Step", "Task", "ToolCall", "TrainingPolicy", "Trajectory", "Verdict", "VerdictPolicy",
    "VerdictRecord", "copy_dataset", "find_problems", "input_items", "read_objects", "read_records", "step_input", "write_dataset",
    "write_records",
]
