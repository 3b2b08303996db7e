#!/usr/bin/env bash
# How the bundled lisa-tiny (lisa_ros/models/lisa-tiny/) was made: the exact recorded commands.
#
#   bench/train_lisa_tiny.sh [RUN_DIR]       (default RUN_DIR=runs/lisa-tiny; run from the repo root)
#
# 1. train from scratch with lisa-train on this CPU (2 cores, <= 60 min wall time for both stages), in
#    two stages (both recipes are shared with bench/fewshot.py --train-base):
#    a. bench/lisa_tiny_reading.recipe (9 min): text-only questions about the scene, so that the LLM
#       learns to read its image first. The tokenizer is trained here by `--init lisa-tiny`
#       (SentencePiece, LLaMA settings, on lisa_ros.data.synth.instruction_corpus() + the LLaVA system
#       prompt; about 1 s);
#    b. bench/lisa_tiny.recipe (46 min): LISA's objective, from stage a's model.
#    Training scenes are rendered on the fly from synthetic seed 9001 (about 0.03 s per scene,
#    inside the training time; every image is a new scene), so there is no separate data step.
# 2. copy the model folder (official LISA layout, fp16 weights, CLIP in clip/) into the package;
# 3. render the held-out evaluation scenes (seed 424242: never used for training or tests) and
#    evaluate in generate mode (lisa-eval), writing the JSON and the worst-case grid;
# 4. draw the loss curve (docs/lisa_tiny_loss.png) and print the loss table.
set -euo pipefail
RUN=${1:-runs/lisa-tiny}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-bench_out/lisa_tiny}
mkdir -p "$OUT"

echo "load before training: $(cat /proc/loadavg)"
start=$(date +%s)
# shellcheck disable=SC2046  # one flag or value per word, none with spaces
$PY -m lisa_ros.cli.train $(sed 's/#.*//' bench/lisa_tiny_reading.recipe) --out "$RUN/reading"
echo "stage 1 (reading) wall time: $(($(date +%s) - start)) s"
# shellcheck disable=SC2046
$PY -m lisa_ros.cli.train $(sed 's/#.*//' bench/lisa_tiny.recipe) --model "$RUN/reading/model" --out "$RUN"
end=$(date +%s)
echo "training wall time (both stages): $((end - start)) s; load after: $(cat /proc/loadavg)"

rm -rf lisa_ros/models/lisa-tiny
mkdir -p lisa_ros/models/lisa-tiny
cp -r "$RUN/model/." lisa_ros/models/lisa-tiny/
du -sh lisa_ros/models/lisa-tiny

$PY -m lisa_ros.cli.synth --seed 424242 --count 512 --out "$OUT/heldout_s424242" --quiet
$PY -m lisa_ros.cli.eval --model lisa-tiny --data "$OUT/heldout_s424242" --mode generate --threads 2 \
    --json "$OUT/eval_heldout_generate.json" --worst "$OUT/worst_heldout.png" --no-progress
$PY -m lisa_ros.train.curve "$RUN/log.jsonl" docs/lisa_tiny_loss.png --title lisa-tiny --table-every 100
