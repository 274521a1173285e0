"""Tokenize srft's axolotl exports with axolotl's own ``chat_template`` strategy and count the trained tokens.

axolotl pins transformers, TRL, datasets, peft and accelerate to versions other than srft's, so it is not a dev
dependency; run this in a virtual environment that adds it beside srft's packages::

    python -m venv /tmp/ax && echo "$(python -c 'import site; print(site.getsitepackages()[0])')" \\
        > "$(/tmp/ax/bin/python -c 'import site; print(site.getsitepackages()[0])')/srft.pth"
    /tmp/ax/bin/pip install --no-deps axolotl==0.19.0 colorama addict
    srft export ds --to axolotl -o plain.jsonl                     # no template check
    srft export ds --to axolotl --tokenizer ./model -o checked.jsonl
    srft masks ds --tokenizer ./model --counts-only                 # srft's trained tokens
    /tmp/ax/bin/python bench/axolotl_check.py ./model plain.jsonl checked.jsonl

For each row: tokens, trained tokens (labels other than -100) and how many ``<function=`` calls the trained text
holds, with the dataset config the trainers/README.md gives (``message_field_training: training``,
``roles_to_train: [assistant]``, ``train_on_eos: turn``, the tokenizer's own template).
"""

from __future__ import annotations

import json
import sys


def main(tokenizer_dir: str, *exports: str) -> None:
    from axolotl.prompt_strategies.chat_template import load
    from axolotl.utils.dict import DictDefault
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = DictDefault({"chat_template": "tokenizer_default", "sequence_len": 131_072, "train_on_inputs": False})
    dataset = {"type": "chat_template", "field_messages": "messages", "message_field_training": "training",
               "roles_to_train": ["assistant"], "train_on_eos": "turn", "chat_template": "tokenizer_default"}
    strategy = load(tokenizer, cfg, dataset)
    for path in exports:
        with open(path, encoding="utf-8") as rows:
            for number, line in enumerate(rows, start=1):
                out = strategy.tokenize_prompt(json.loads(line))
                trained = [token for token, label in zip(out["input_ids"], out["labels"]) if label != -100]
                calls = tokenizer.decode(trained).count("<function=")
                print(f"{path}:{number}: {len(out['input_ids'])} tokens, {len(trained)} trained, "
                      f"{calls} tool calls in the trained text")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], *sys.argv[2:])
