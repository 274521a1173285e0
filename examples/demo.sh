#!/usr/bin/env bash
# `make demo`: the whole srft pipeline on the bundled examples (examples/sources/, one small file per format).
# Everything it writes goes to build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
SRFT="${SRFT:-.venv/bin/srft}"
PY="${PY:-.venv/bin/python}"
OUT=build/demo
rm -rf "$OUT" && mkdir -p "$OUT"
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "Convert agent logs of every supported format into one dataset"
$SRFT convert examples/sources -o "$OUT/converted" --verbose
$SRFT info "$OUT/converted"
$SRFT validate "$OUT/converted"

step "Two teams label copies: team A with rule critics and the local SmolLM2 critic, team B with outcomes"
$SRFT copy "$OUT/converted" "$OUT/team-a"
$SRFT copy "$OUT/converted" "$OUT/team-b" --storage jsonl
$SRFT annotate "$OUT/team-a" --critic rules
$SRFT annotate "$OUT/team-a" --critic local --limit 2 --max-context-tokens 640
$SRFT annotate "$OUT/team-b" --critic outcome

step "Merge their labels, verify the result as a receiver would, and write a dataset card"
$SRFT merge "$OUT/team-a" "$OUT/team-b" -o "$OUT/dataset"
$SRFT verify "$OUT/dataset"
$SRFT card "$OUT/dataset"
$SRFT redact "$OUT/dataset" -o "$OUT/redacted"
$SRFT show "$OUT/dataset"
$SRFT verdicts "$OUT/dataset" --annotator rules --annotator local:smollm2-135m --annotator outcome --summary
$SRFT agree "$OUT/dataset" --a local:smollm2-135m --b rules --missing correct

step "Ask questions: reject rates and the SFT / RFT / SRFT training signal"
$SRFT stats "$OUT/dataset"
$SRFT query "$OUT/dataset" "SELECT scaffold, count(*) AS trajectories, sum(n_steps) AS steps FROM trajectories GROUP BY 1 ORDER BY 1"
$SRFT report "$OUT/dataset" -o "$OUT/report.html"

step "See exactly which tokens SRFT trains (SmolLM2's ChatML template): a trajectory with a rejected step"
TRAJ=$($SRFT query "$OUT/dataset" "SELECT trajectory_id FROM verdicts WHERE label = 'incorrect' ORDER BY 1 LIMIT 1" --format csv | tail -n 1 | tr -d '\r')
GGUF=$($PY -c "from srft_format.trainers.loading import bundled_smollm2; print(bundled_smollm2())")
$SRFT masks "$OUT/dataset" --tokenizer "$GGUF" -t "$TRAJ" --policy srft --annotator rules --unlabeled train

step "Train a tiny random model for 3 steps under SRFT, and export for other trainers"
$PY -m srft_format.trainers.tiny "$OUT/tiny-model"
$SRFT train "$OUT/dataset" --model "$OUT/tiny-model" --policy srft --annotator rules --unlabeled train \
  -o "$OUT/run" --max-steps 3 --batch-size 1 --max-length 2048 --device cpu
$SRFT export "$OUT/dataset" --to openai --policy srft --annotator rules --unlabeled train -o "$OUT/openai.jsonl"

step "Score critics against real human labels: Who&When (ICML 2025), the decisive mistake of failed agent runs"
# Five short hand-crafted runs of the gold set (../shared/gold, or SRFT_GOLD); the label is the decisive error
# only, so the table is about catching that step and localising the first error, not about every step.
GOLD="${SRFT_GOLD:-../shared/gold}/who-and-when/Hand-Crafted"
mkdir -p "$OUT/who-and-when-runs"
for run in 24 34 48 6 33; do cp "$GOLD/$run.json" "$OUT/who-and-when-runs/"; done
$SRFT convert "$OUT/who-and-when-runs" -o "$OUT/who-and-when"
$SRFT annotate "$OUT/who-and-when" --critic rules
$SRFT annotate "$OUT/who-and-when" --critic local --max-context-tokens 640
$SRFT eval-critic "$OUT/who-and-when" --critic rules --critic local:smollm2-135m --gold who-and-when --missing correct

step "Done: everything is in $OUT/ (open $OUT/report.html in a browser)"
