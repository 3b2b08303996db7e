#!/usr/bin/env bash
# How lisa-tiny's held-out accuracy grows with training compute: the shipped recipes
# (bench/lisa_tiny_reading.recipe, bench/lisa_tiny.recipe) with both stages' time budgets scaled by
# FRACTION, then the same held-out evaluation as bench/train_lisa_tiny.sh. The cosine schedule of
# stage 2 spans its scaled budget, so each run is a complete, shorter training, not an early
# checkpoint of the full one. Nothing is copied into the package.
#
#   bench/compute_scaling.sh FRACTION [FRACTION ...]     (run from the repo root, nothing else running)
#
# e.g. `bench/compute_scaling.sh 0.5 0.25`: runs/scaling_0.5, bench_out/scaling/eval_0.5.json, ...
# Fraction 1 is the shipped run (55 min); results: docs/benchmarks.md §3, "Accuracy against training time".
# A variant of the recipes: EXTRA="--images-per-batch 1" TAG=_ipb1 bench/compute_scaling.sh 1 adds those
# flags to both stages (after the recipe, so they win) and names the run runs/scaling_1_ipb1.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-bench_out/scaling}
HELDOUT=${HELDOUT:-$OUT/heldout_s424242}
EXTRA=${EXTRA:-}
TAG=${TAG:-}
READING_BUDGET=540   # the recipes' own budgets, in seconds
LISA_BUDGET=2760
[ $# -ge 1 ] || { echo "usage: $0 FRACTION [FRACTION ...]" >&2; exit 2; }
mkdir -p "$OUT"
[ -d "$HELDOUT" ] || $PY -m lisa_ros.cli.synth --seed 424242 --count 512 --out "$HELDOUT" --quiet

for fraction in "$@"; do
    run=runs/scaling_$fraction$TAG
    reading=$($PY -c "print(round($READING_BUDGET * $fraction))")
    lisa=$($PY -c "print(round($LISA_BUDGET * $fraction))")
    echo "fraction $fraction$TAG ($EXTRA): stage 1 $reading s, stage 2 $lisa s; load $(cat /proc/loadavg)"
    start=$(date +%s)
    # The last value of a repeated flag wins, so the budget given after the recipe replaces its own.
    # shellcheck disable=SC2046,SC2086  # recipe and EXTRA: one flag or value per word, none with spaces
    $PY -m lisa_ros.cli.train $(sed 's/#.*//' bench/lisa_tiny_reading.recipe) --time-budget "$reading" $EXTRA \
        --out "$run/reading"
    # shellcheck disable=SC2046,SC2086
    $PY -m lisa_ros.cli.train $(sed 's/#.*//' bench/lisa_tiny.recipe) --time-budget "$lisa" $EXTRA \
        --model "$run/reading/model" --out "$run"
    echo "fraction $fraction$TAG: training wall time $(($(date +%s) - start)) s"
    $PY -m lisa_ros.cli.eval --model "$run/model" --data "$HELDOUT" --mode generate --threads 2 \
        --per-sample --json "$OUT/eval_$fraction$TAG.json" --no-progress
done
