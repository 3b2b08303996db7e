#!/usr/bin/env python3
"""Continuous mode: what a tracked frame costs and how long its masks hold.

A tracked frame re-prompts SAM with the ``[SEG]`` prompts of an earlier LISA answer
(:meth:`lisa_ros.core.segmenter.LisaSegmenter.reprompt`): SAM's image encoder and mask decoder
run, CLIP and the LLM do not. This script measures, in one run:

* **cost**: a tracked frame (plain re-prompt, and with the box or mask helper) against a full
  LISA answer on the same new frames (frame-cache misses for both, calls interleaved so both see
  the same machine load); wall-clock medians of the public calls and their ratio. The full
  answer is the model's own answer to the scene's question (its length reported) and, as the
  least favourable case for tracking, the forced 6-token answer "Sure, [SEG]." (random-weight
  models: that one only);
* **quality**: synthetic sequences (:mod:`lisa_ros.data.synth.sequence`: one scene, a camera
  that pans, tilts and zooms a little per frame, targets sometimes pushed). Frame 0 gets a LISA
  answer; each later frame gets (a) a fresh full LISA answer and (b) tracked masks from frame 0's
  prompts: plain, box helper, mask helper (each helper chain fed its own previous output). Mean
  IoU per target against the ground truth (the official per-mask IoU, the target's cast shadow
  ignored as in lisa-eval; targets out of view on a frame are left out) and against the fresh
  answer's mask, after 1, 5, 10 and 30 frames;
* **re-query rule**: :func:`lisa_ros.core.tracking.requery_reason` with the proposed defaults on
  the plain chain, and a simulated node loop (track from the last answer; when the rule fires,
  answer the frame with LISA and track on from that answer; NO_TARGET stops tracking): how often
  it fires, why, and the IoU of what such a node would publish (the quality and re-query parts
  live in ``bench/tracking_quality.py``).

    python bench/tracking.py --json tracking_cpu.json                       # lisa-tiny, CPU
    python bench/tracking.py --arch 7b --device cuda --precision bf16 --cost-only   # random weights
    python bench/tracking.py --model /models/LISA-7B-v1 --clip /models/clip-vit-large-patch14 \\
        --device cuda --precision bf16 --sequences 20 --json tracking_7b.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "bench"):  # the package, and tracking_quality next to this script
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tracking_quality import CHECKPOINTS, HELPERS, measure_quality, median, question_for  # noqa: E402

SHORT_ANSWER = "Sure, [SEG]."


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _timed(device: str, call, *args, **kwargs):
    _sync(device)
    start = time.perf_counter()
    out = call(*args, **kwargs)
    _sync(device)
    return out, (time.perf_counter() - start) * 1000.0


def load_segmenter(args):
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.arch:
        sys.path.insert(0, str(REPO / "bench"))
        from model_stages import build_random_segmenter

        segmenter = build_random_segmenter(args.arch, args.device, args.precision, "none")
    else:
        from lisa_ros.core.segmenter import LisaSegmenter

        segmenter = LisaSegmenter.from_pretrained(args.model, clip=args.clip, precision=args.precision,
                                                  device=args.device)
    if args.export_dir:
        from lisa_ros.export.backends import attach_backends

        attach_backends(segmenter, decoder=args.decoder_backend, encoder=args.encoder_backend,
                        artifacts=args.export_dir)
    return segmenter


# -- cost ------------------------------------------------------------------------------------------

def measure_cost(segmenter, args) -> dict:
    """Full answers against tracked frames on the same new frames, interleaved."""
    device = segmenter.device
    free = not args.arch  # a random-weight model's own answer is noise
    try:
        from lisa_ros.data.synth.sequence import render_sequence

        sequence = render_sequence(args.seed, args.cost_scene, args.cost_size, "moderate")
        question = question_for(sequence.scene)

        def frame(index: int) -> np.ndarray:
            return sequence.frame(index).image
    except ImportError:  # a bare GPU machine without OpenCV: noise frames (speed does not care)
        if free:
            raise
        question = "What is the mug in this image? Please output segmentation mask."
        width, height = args.cost_size

        def frame(index: int) -> np.ndarray:
            return np.random.default_rng(index).integers(0, 255, (height, width, 3), dtype=np.uint8)
    answer = segmenter.segment(frame(0), question, frame_key="cost-answer",
                               forced_answer=None if free else SHORT_ANSWER)
    if not answer.masks:  # the model declined: track the short answer's prompt instead
        answer = segmenter.segment(frame(0), question, frame_key="cost-answer-short", forced_answer=SHORT_ANSWER)
    kinds = (["full_own"] if free else []) + ["full_short"] + [f"tracked_{h}" for h in HELPERS]
    times = {kind: [] for kind in kinds}
    stages = {kind: {} for kind in kinds}
    tokens, answered_with_masks = [], []
    previous = {h: None for h in HELPERS}
    for repeat in range(args.warmup + args.repeats):
        image = frame(1 + repeat)
        record = repeat >= args.warmup
        for kind in kinds:
            key = f"cost-{repeat}-{kind}"  # a frame-cache miss for every call
            if kind.startswith("full"):
                out, ms = _timed(device, segmenter.segment, image, question, frame_key=key,
                                 forced_answer=SHORT_ANSWER if kind == "full_short" else None)
                if kind == "full_own" and record:
                    tokens.append(out.timings["new_tokens"])
                    answered_with_masks.append(bool(out.masks))
            else:
                helper = kind.removeprefix("tracked_")
                out, ms = _timed(device, segmenter.reprompt, image, answer, frame_key=key, helper=helper,
                                 previous=previous[helper])
                previous[helper] = out
            if record:
                times[kind].append(ms)
                for name, value in out.timings.items():
                    stages[kind].setdefault(name, []).append(value)
    medians = {kind: median(values) for kind, values in times.items()}
    result = {
        "frame_size": list(args.cost_size),
        "question": question,
        "answer_tracked": answer.answer,
        "masks": len(answer.masks),
        "repeats": args.repeats,
        "median_ms": medians,
        "stage_median_ms": {kind: {n: median(v) for n, v in s.items()} for kind, s in stages.items()},
        "own_answer_new_tokens_median": median(tokens),
        # own answers without a [SEG] skip SAM's decoder: a cheaper full answer than one with masks
        "own_answers_with_masks": f"{sum(answered_with_masks)}/{len(answered_with_masks)}",
    }
    ratios = {}
    for full in [k for k in kinds if k.startswith("full")]:
        for helper in HELPERS:
            ratios[f"tracked_{helper}/{full}"] = round(medians[f"tracked_{helper}"] / medians[full], 3)
    result["ratios"] = ratios
    return result


# -- report ----------------------------------------------------------------------------------------

def print_tables(result: dict) -> None:
    cost = result.get("cost")
    if cost:
        print(f"\nCost, {cost['frame_size'][0]}x{cost['frame_size'][1]}, {cost['repeats']} new frames, "
              f"median ms (tracking: {cost['answer_tracked']!r}, {cost['masks']} masks)")
        print("| call | median ms | vs full (own answer) | vs full (6-token answer) |")
        print("|---|---|---|---|")
        for kind, ms in cost["median_ms"].items():
            own = cost["ratios"].get(f"{kind}/full_own") if kind.startswith("tracked") else None
            short = cost["ratios"].get(f"{kind}/full_short") if kind.startswith("tracked") else None
            print(f"| {kind} | {ms} | {own if own is not None else ''} | {short if short is not None else ''} |")
        print(f"own answer: median {cost['own_answer_new_tokens_median']} new tokens, "
              f"{cost.get('own_answers_with_masks')} with masks")
        for kind, stages in cost["stage_median_ms"].items():
            print(f"  {kind}: " + ", ".join(f"{n} {v}" for n, v in stages.items()))
    quality = result.get("quality")
    if quality:
        s = quality["summary"]
        print(f"\nQuality: {s['sequences']} sequences ({s['targets_tracked']} tracked masks), motion {s['motion']}, "
              f"{s['frame_size'][0]}x{s['frame_size'][1]}")
        print("| masks | " + " | ".join(f"after {c}" for c in CHECKPOINTS if c <= s["frames"]) + " |")
        print("|---|" + "---|" * len([c for c in CHECKPOINTS if c <= s["frames"]]))
        checkpoints = [c for c in CHECKPOINTS if c <= s["frames"]]
        names = {"full": "fresh LISA answer", "none": "tracked, plain", "box": "tracked, box helper",
                 "mask": "tracked, mask helper", "node": "node loop with re-query"}
        for chain, label in names.items():
            row = [str(s["miou"][chain].get(c)) for c in checkpoints]
            print(f"| mIoU vs ground truth, {label} | " + " | ".join(row) + " |")
        for helper in HELPERS:
            row = [str(s["tracked_over_full"][helper][c]) for c in checkpoints]
            print(f"| tracked / fresh mIoU, {names[helper]} | " + " | ".join(row) + " |")
        for helper in HELPERS:
            row = [str(s["agreement_with_fresh_answer"][helper][c]) for c in checkpoints]
            print(f"| IoU with the fresh answer's mask, {names[helper]} | " + " | ".join(row) + " |")
        print(json.dumps({k: v for k, v in s.items() if k not in ("miou", "tracked_over_full",
                                                                     "agreement_with_fresh_answer")}, indent=1))


def parse_args(argv=None):
    def size(text):
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="lisa-tiny", help="checkpoint name or folder (default lisa-tiny)")
    p.add_argument("--clip", default=None, help="CLIP vision tower folder (default: the checkpoint's)")
    p.add_argument("--arch", choices=("7b", "13b"), default=None,
                   help="an official architecture with random weights (cost only)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--export-dir", default=None, help="lisa-export folder: run SAM on exported backends")
    p.add_argument("--decoder-backend", default="onnxruntime")
    p.add_argument("--encoder-backend", default="onnxruntime")
    p.add_argument("--seed", type=int, default=11, help="synthetic sequences' seed")
    p.add_argument("--cost-scene", type=int, default=1,
                   help="sequence index for the cost (default 1: lisa-tiny answers it with one mask on every frame)")
    p.add_argument("--cost-size", type=size, default=(640, 480))
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--cost-only", action="store_true")
    p.add_argument("--quality-only", action="store_true")
    p.add_argument("--sequences", type=int, default=40)
    p.add_argument("--first-index", type=int, default=0)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--quality-size", type=size, default=(320, 240))
    p.add_argument("--motion", default="moderate")
    p.add_argument("--rate", type=float, default=10.0, help="tracked frames per second (for the age rule)")
    p.add_argument("--max-age", type=float, default=5.0)
    p.add_argument("--min-score", type=float, default=0.5)
    p.add_argument("--area-factor", type=float, default=2.0)
    p.add_argument("--json", default=None, help="write everything here")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.arch:
        args.cost_only = True  # random weights: their masks mean nothing
    return args


def main(argv=None) -> int:
    import torch

    args = parse_args(argv)
    segmenter = load_segmenter(args)
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device,
                    "gpu": torch.cuda.get_device_name() if str(args.device).startswith("cuda") else None},
        "model": args.arch or args.model, "precision": args.precision, "backends": segmenter.backend_names,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    if not args.quality_only:
        result["cost"] = measure_cost(segmenter, args)
    if not args.cost_only:
        result["quality"] = measure_quality(segmenter, args)
    print_tables(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
