#!/usr/bin/env bash
# The one script to run on the lent GPU machine (H100/H200: Python 3.12, torch 2.11 CUDA 13,
# transformers 5.17, no ROS, no network). Finishes within 9 minutes; prints the tables that go
# into docs/benchmarks.md, and writes JSON under $OUT (the device tool's output folder).
#
# Here, first:   python bench/prepare_device_wheels.py      (segment-anything + a slim bitsandbytes)
# Then the device run:  command "bash bench/device_check.sh", carry [".whl"], timeout_s 570.
#
# Issue 26 (speed levers), in order of importance:
#   1. LISA-7B bf16 stage table with every speed lever alone against the settings before them,
#      and all together (bench/model_stages.py --levers; bench/speed_levers.py), plus 4-bit;
#   2. SAM encoder attention modes: time, memory, bf16/fp16 mask parity (bench/sam_attention_parity.py);
#   3. preprocessing on the GPU: bytes equal to PIL's? (bench/preprocess_parity.py);
#   4. if time remains: SAM encoder under torch.compile, each attention mode (bf16).
# STAGES_13B=1 adds the LISA-13B bf16 run, SAM_BACKENDS=1 the backend table of §2 (both recorded
# on 2026-11-26; left out by default to keep the time for the levers). DRY_RUN=1 runs every step on
# the CPU with lisa-tiny and tiny SAMs (a check of the script, seconds to minutes; not a benchmark).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/segment_anything-*.whl .whl/bitsandbytes-*.whl && export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
PY="${PYTHON:-python3}"
start=$SECONDS
if [ "${DRY_RUN:-0}" = 1 ]; then
  # One thread: a shared CPU machine oversubscribed by two OpenMP threads slows down several times.
  MODEL=(--model lisa-tiny --device cpu --precision fp32 --threads 1) DEVICE=cpu TINY=--tiny QUANT=none REPEATS=2
  echo "dry run on the CPU" | tee "$OUT/device.txt"
else
  MODEL=(--arch 7b --device cuda --precision bf16) DEVICE=cuda TINY= QUANT=none,4bit REPEATS=5
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
fi
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/device.txt"

# 1. LISA-7B architecture, bf16: stages and the official flow, 4-bit in its own process, then the
#    levers (their own process, last; the JSON is rewritten after each process).
timeout 380 "$PY" bench/model_stages.py "${MODEL[@]}" --quantizations "$QUANT" --levers \
  --repeats "$REPEATS" --reference-repeats 3 --json "$OUT/stages_7b.json" 2>&1 | tee "$OUT/stages_7b.md"
echo "[device_check] step 1 done at $((SECONDS - start)) s"

# 2. SAM encoder attention modes (ViT-H, random weights with random relative-position tables).
timeout 90 "$PY" bench/sam_attention_parity.py --device "$DEVICE" $TINY --repeats 10 \
  --json "$OUT/sam_attention.json" 2>&1 | tail -n 16 | tee "$OUT/sam_attention.md"
echo "[device_check] step 2 done at $((SECONDS - start)) s"

# 3. Preprocessing on the device against PIL (bytes, timing; no model).
timeout 50 "$PY" bench/preprocess_parity.py --device "$DEVICE" --json "$OUT/preprocess_parity.json" \
  > "$OUT/preprocess_parity.md" 2>&1; tail -n 30 "$OUT/preprocess_parity.md"
echo "[device_check] step 3 done at $((SECONDS - start)) s"

# 4. torch.compile of the SAM encoder (compilation can take minutes: only with time to spare).
if [ $((SECONDS - start)) -lt 420 ]; then
  timeout $((530 - (SECONDS - start))) "$PY" bench/sam_attention_parity.py --device "$DEVICE" $TINY --compile \
    --precisions bf16 --repeats 10 --json "$OUT/sam_attention_compiled.json" 2>&1 | tail -n 10 \
    | tee "$OUT/sam_attention_compiled.md"
fi

if [ "${SAM_BACKENDS:-0}" = 1 ] && [ $((SECONDS - start)) -lt 430 ]; then
  timeout 100 "$PY" bench/sam_backends.py --device "$DEVICE" $TINY --json "$OUT/sam_backends.json" 2>&1 \
    | tee "$OUT/sam_backends.md"
fi
if [ "${STAGES_13B:-0}" = 1 ] && [ "${DRY_RUN:-0}" != 1 ] && [ $((SECONDS - start)) -lt 400 ]; then
  timeout $((530 - (SECONDS - start))) "$PY" bench/model_stages.py --arch 13b --device cuda --precision bf16 \
    --quantizations none --repeats 3 --reference-repeats 2 --json "$OUT/stages_13b.json" 2>&1 | tee "$OUT/stages_13b.md"
fi
echo "device_check finished in $((SECONDS - start)) s"
