#!/usr/bin/env bash
# The one script to run on the lent GPU machine (H100/H200: Python 3.12, torch 2.11 CUDA 13,
# transformers 5.17, no ROS, no network). Finishes within 8 minutes; prints the tables that go
# into docs/benchmarks.md, and writes JSON under $OUT (the device tool's output folder).
#
# Here, first:   python bench/prepare_device_wheels.py      (segment-anything + a slim bitsandbytes)
# Then the device run:  command "bash bench/device_check.sh", carry [".whl"], timeout_s 540.
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
start=$SECONDS
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/device.txt"

# 1. LISA-7B architecture, bf16, then 8-bit and 4-bit (each in its own process for its own peak).
timeout 330 python3 bench/model_stages.py --arch 7b --device cuda --precision bf16 \
  --repeats 5 --reference-repeats 3 --json "$OUT/stages_7b.json" 2>&1 | tee "$OUT/stages_7b.md"

# 2. SAM decoder/encoder backends (torch fp32/bf16/fp16, onnxruntime where it has a GPU provider).
# (SAM_BACKENDS=0 skips it when those figures are already recorded.)
if [ "${SAM_BACKENDS:-1}" = 1 ] && [ -f bench/sam_backends.py ] && [ $((SECONDS - start)) -lt 390 ]; then
  timeout 100 python3 bench/sam_backends.py --device cuda --json "$OUT/sam_backends.json" 2>&1 | tee "$OUT/sam_backends.md"
fi

# 3. LISA-13B architecture in bf16 only, if time allows.
if [ $((SECONDS - start)) -lt 400 ]; then
  timeout $((470 - (SECONDS - start))) python3 bench/model_stages.py --arch 13b --device cuda --precision bf16 \
    --quantizations none --repeats 3 --reference-repeats 2 --json "$OUT/stages_13b.json" 2>&1 | tee "$OUT/stages_13b.md"
fi
echo "device_check finished in $((SECONDS - start)) s"
