#!/usr/bin/env python3
"""Where LISA's time and memory go, stage by stage, and how much the fast path saves.

Runs the real :class:`lisa_ros.core.segmenter.LisaSegmenter` and reports, in one run:

* per-stage latency (preprocess, CLIP, SAM encoder, prefill, per-token decode, mask decoder,
  postprocess, total) on a frame-cache miss, medians over ``--repeats``;
* a frame-cache hit (second instruction on the same frame) against the miss;
* our KV-cache generation against the official no-cache flow (CLIP and the whole sequence
  recomputed per token) for a short answer ("Sure, [SEG].") and a 64-token explanatory one,
  with the same tokens (answers are forced so both paths decode exactly the same tokens; a
  free greedy run also checks that both paths choose the same tokens);
* full precision against 8-bit and 4-bit weights (each in its own process, so peak memory is
  that configuration's own): stage times and peak memory;
* with ``--levers``: each speed lever alone against the settings before them, and all together
  (``bench/speed_levers.py``; full precision, in a last process of its own, under ``levers``).

Default speed options unless switches say otherwise (``--encoder-schedule``, ``--sam-attention``,
``--device-preprocess``, ``--draft-tokens``, ``--llm-attention``; ``--before``: before issue 26).
The JSON report is rewritten after every process, so a run cut short keeps what it measured.

Models: ``--model lisa-tiny`` (or any checkpoint) on the CPU, or ``--arch 7b|13b``: the
official LISA architectures with random weights (speed does not depend on the weight values),
meant for the GPU machine. Frames are 640x480.

    python bench/model_stages.py --model lisa-tiny --device cpu --levers --json stages_cpu.json
    python bench/model_stages.py --arch 7b --device cuda --precision bf16 --levers --json stages_7b.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import stage_report

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHORT_ANSWER = "Sure, [SEG]."
# Cut to --long-tokens tokens with the model's tokenizer (answer_of_length); the count decoded
# is reported.
LONG_ANSWER = (
    "The mug on the left is the best choice because it is a container with a handle, it is "
    "empty and clean, and it stands upright close to the edge of the table where the robot can "
    "reach it easily without moving the other objects, so you can pour water into it and drink from "
    "it whenever you like, and it will not tip over because its base is wide and heavy and flat [SEG]."
)
INSTRUCTION = "I'm thirsty, what can I use?"


def _frame(seed: int) -> np.ndarray:
    """A 640x480 RGB frame: a synthetic tabletop scene when available, else structured noise."""
    try:
        from lisa_ros.data.synth import render_scene

        return render_scene(seed=9000 + seed, index=0, size=(640, 480)).image
    except Exception:  # noqa: BLE001 - the benchmark must not depend on the data package
        rng = np.random.default_rng(seed)
        return rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)


def answer_of_length(segmenter, words: str, tokens: int) -> str:
    """The longest prefix of ``words`` + " [SEG]." whose answer has at most ``tokens`` ids
    (EOS included) with this model's tokenizer, so answer lengths match across vocabularies."""
    from lisa_ros.core.prompt import build_prompt_ids

    vocabulary = words.replace(" [SEG].", "").split()
    best = "Sure, [SEG]."
    for count in range(1, len(vocabulary) + 1):
        answer = " ".join(vocabulary[:count]) + " [SEG]."
        prompt = build_prompt_ids(segmenter.tokenizer, INSTRUCTION, answer=answer)
        if len(prompt.ids) - prompt.prompt_length > tokens:
            break
        best = answer
    return best


def _tokenizer_folder() -> Path:
    for folder in (REPO / "lisa_ros" / "models" / "lisa-tiny", REPO / "tests" / "fixtures" / "tokenizer" / "lisa7b"):
        if (folder / "tokenizer.model").is_file():
            return folder
    raise SystemExit("no tokenizer found (lisa-tiny or tests/fixtures/tokenizer/lisa7b)")


def build_random_segmenter(arch: str, device: str, precision: str, quantization: str, **options):
    """A LisaSegmenter of an official architecture with random weights, built on ``device``."""
    import torch

    from lisa_ros.core.loading import LoadedLisa, LoadReport
    from lisa_ros.core.modeling import LisaModel
    from lisa_ros.core.preprocess import ClipPreprocessConfig
    from lisa_ros.core.presets import SAM_VIT_H, clip_vit_l14_config, lisa_config
    from lisa_ros.core.quantization import quantize_model
    from lisa_ros.core.segmenter import LisaSegmenter, resolve_precision
    from lisa_ros.core.tokenizer import LisaTokenizer

    dtype = resolve_precision(precision, device)
    config = lisa_config(arch)
    clip_config = clip_vit_l14_config()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LisaModel(config, SAM_VIT_H, clip_config)
    finally:
        torch.set_default_dtype(previous)
    model.eval().requires_grad_(False)
    if quantization != "none":
        quantize_model(model, quantization, dtype, device)
    tokenizer_folder = _tokenizer_folder()
    loaded = LoadedLisa(
        model=model, tokenizer=LisaTokenizer.from_folder(tokenizer_folder), config=config,
        clip_preprocess=ClipPreprocessConfig(shortest_edge=clip_config.image_size, crop=(clip_config.image_size,) * 2), model_folder=tokenizer_folder, clip_folder=tokenizer_folder,
        report=LoadReport(),
    )
    return LisaSegmenter(loaded, device=device, **options)


def _median(values):
    return round(statistics.median(values), 3) if values else None


def _sync(device):
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _peak_memory_mb(device) -> float:
    if str(device).startswith("cuda"):
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    # ru_maxrss is in KiB on Linux: the process's peak resident set.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(segmenter, image, **kwargs):
    _sync(segmenter.device)
    start = time.perf_counter()
    out = segmenter.segment(image, INSTRUCTION, **kwargs)
    _sync(segmenter.device)
    return out, (time.perf_counter() - start) * 1000.0


def run_configuration(args) -> dict:
    """All measurements for one precision/quantization in this process."""
    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    load_start = time.perf_counter()
    options = {"max_new_tokens": 128, "overlap_encoders": not args.no_overlap, "speed": speed_options(args)}
    if args.arch:
        segmenter = build_random_segmenter(args.arch, args.device, args.precision, args.quantization, **options)
    else:
        from lisa_ros.core.segmenter import LisaSegmenter

        segmenter = LisaSegmenter.from_pretrained(
            args.model, precision=args.precision, device=args.device, quantization=args.quantization, **options
        )
    load_s = time.perf_counter() - load_start
    if args.levers:  # a process of its own (speed_levers.py), after the stage tables are saved
        from speed_levers import measure_levers

        loaded = segmenter.loaded
        del segmenter
        return {"levers": measure_levers(loaded, args.device, args.repeats, args.warmup, args.long_tokens,
                                         compile_sam=args.sam_compile)}
    if str(args.device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        weights_mb = round(torch.cuda.memory_allocated() / 2**20, 1)
    else:
        weights_mb = None

    # Warm-up: allocator, kernels, lazy inits.
    for warm in range(args.warmup):
        segmenter.segment(_frame(100 + warm), INSTRUCTION, forced_answer=SHORT_ANSWER)

    stages: dict[str, list[float]] = {}
    miss_totals, hit_totals, decode_per_token = [], [], []
    for repeat in range(args.repeats):
        image = _frame(repeat)
        miss, miss_ms = _timed(segmenter, image, forced_answer=SHORT_ANSWER)
        hit, hit_ms = _timed(segmenter, image, forced_answer=SHORT_ANSWER)
        assert not miss.frame_cache_hit and hit.frame_cache_hit
        miss_totals.append(miss_ms)
        hit_totals.append(hit_ms)
        for name, value in miss.timings.items():
            stages.setdefault(name, []).append(value)
        steps = miss.timings["new_tokens"] - 1
        if steps > 0:
            decode_per_token.append(miss.timings["decode"] / steps)

    result = {
        "precision": args.precision,
        "quantization": args.quantization,
        "speed_options": {k: v for k, v in vars(segmenter.speed).items() if k != "draft_answers"},
        "load_s": round(load_s, 2),
        "weights_gpu_mb": weights_mb,
        "stages_ms_median": {name: _median(values) for name, values in stages.items()},
        "decode_ms_per_token_median": _median(decode_per_token),
        "end_to_end_miss_ms_median": _median(miss_totals),
        "end_to_end_hit_ms_median": _median(hit_totals),
        "hit_over_miss_ratio": round(_median(hit_totals) / _median(miss_totals), 3),
    }

    if args.compare_reference:
        comparisons = {}
        fast_ms, reference_ms = [], []
        for repeat in range(args.reference_repeats):
            fast_ms.append(_timed(segmenter, _frame(500 + repeat), forced_answer=SHORT_ANSWER)[1])
            reference_ms.append(_timed(segmenter, _frame(600 + repeat), forced_answer=SHORT_ANSWER, reference=True)[1])
        comparisons["short_new_frame_end_to_end"] = {
            "kv_cache_ms_median": _median(fast_ms),
            "official_no_cache_ms_median": _median(reference_ms),
            "speedup": round(_median(reference_ms) / _median(fast_ms), 2),
        }
        long_answer = answer_of_length(segmenter, LONG_ANSWER, args.long_tokens)
        for label, answer in (("short", SHORT_ANSWER), ("long", long_answer)):
            fast_ms, reference_ms, tokens = [], [], None
            for repeat in range(args.reference_repeats):
                image = _frame(200 + repeat)
                # Same cached features for both paths, finished before timing starts (on CUDA the
                # SAM encoder runs asynchronously on a side stream).
                features, _, _ = segmenter.encode_image(image)
                features.sam_embedding.get()
                _sync(segmenter.device)
                fast, ms_fast = _timed(segmenter, image, forced_answer=answer)
                reference, ms_reference = _timed(segmenter, image, forced_answer=answer, reference=True)
                assert fast.answer_ids == reference.answer_ids
                fast_ms.append(ms_fast)
                reference_ms.append(ms_reference)
                tokens = int(fast.timings["new_tokens"])
            comparisons[label] = {
                "new_tokens": tokens,
                "kv_cache_ms_median": _median(fast_ms),
                "official_no_cache_ms_median": _median(reference_ms),
                "speedup": round(_median(reference_ms) / _median(fast_ms), 2),
            }
        if segmenter.static_decoder is not None:
            comparisons["static_graph_vs_dynamic_eager"] = _static_vs_dynamic(segmenter, long_answer, args.reference_repeats)
        image = _frame(300)
        free_fast = segmenter.segment(image, INSTRUCTION, max_new_tokens=32)
        free_reference = segmenter.segment(image, INSTRUCTION, max_new_tokens=32, reference=True)
        comparisons["free_greedy_same_tokens"] = free_fast.answer_ids == free_reference.answer_ids
        comparisons["free_greedy_tokens"] = len(free_fast.answer_ids)
        result["kv_cache_vs_official"] = comparisons
    result["peak_memory_mb"] = _peak_memory_mb(args.device)
    result["peak_memory_kind"] = "gpu max_memory_allocated" if str(args.device).startswith("cuda") else "process max RSS"
    return result


def speed_options(args):
    """The SpeedOptions the command line asks for (None fields: the segmenter's defaults)."""
    from lisa_ros.core.speed_options import SpeedOptions

    if args.before:
        from speed_levers import lever_rows

        return SpeedOptions(**dict(lever_rows(str(args.device).startswith("cuda")))["before"])
    preprocess = {"auto": None, "on": True, "off": False}[args.device_preprocess]
    return SpeedOptions(encoder_schedule=args.encoder_schedule, sam_attention=args.sam_attention,
                        device_preprocess=preprocess, draft_tokens=args.draft_tokens, llm_attention=args.llm_attention)


def _static_vs_dynamic(segmenter, answer: str, repeats: int) -> dict:
    """Decode speed and agreement of the static-cache CUDA-graph step against the eager
    dynamic-cache step, on the same model, frame and forced answer."""
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.core.speed_options import SpeedOptions

    # One token per pass on both (per-token decode times), the rest as the segmenter measured.
    one_token = SpeedOptions(**{**vars(segmenter.speed), "draft_tokens": 0})
    eager = LisaSegmenter(segmenter.loaded, device=segmenter.device, static_cache_length=0, overlap_encoders=False,
                          speed=one_token)
    segmenter = LisaSegmenter(segmenter.loaded, device=segmenter.device, speed=one_token)
    image = _frame(400)
    graph_ms, eager_ms, diffs, ious = [], [], [], []
    for _ in range(repeats):
        fast = segmenter.segment(image, INSTRUCTION, forced_answer=answer, keep_logits=True)
        slow = eager.segment(image, INSTRUCTION, forced_answer=answer, keep_logits=True)
        steps = fast.timings["new_tokens"] - 1
        graph_ms.append(fast.timings["decode"] / steps)
        eager_ms.append(slow.timings["decode"] / steps)
        for a, b in zip(fast.masks, slow.masks):
            diffs.append(float(np.abs(a.logits - b.logits).max()))
            union = np.logical_or(a.mask, b.mask).sum()
            ious.append(float(np.logical_and(a.mask, b.mask).sum() / union) if union else 1.0)
    return {
        "graph_decode_ms_per_token_median": _median(graph_ms),
        "eager_decode_ms_per_token_median": _median(eager_ms),
        "speedup": round(_median(eager_ms) / _median(graph_ms), 2),
        "mask_logit_max_abs_diff": round(max(diffs), 5) if diffs else None,
        "mask_iou_min": round(min(ious), 5) if ious else None,
    }


def _speed_arguments(args) -> list[str]:
    """The speed switches, passed on to each configuration's process."""
    command = ["--device-preprocess", args.device_preprocess] + (["--before"] if args.before else [])
    for flag, value in (("--encoder-schedule", args.encoder_schedule), ("--sam-attention", args.sam_attention),
                        ("--draft-tokens", args.draft_tokens), ("--llm-attention", args.llm_attention)):
        if value is not None:
            command += [flag, str(value)]
    return command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="lisa-tiny")
    parser.add_argument("--arch", choices=["7b", "13b"], help="official architecture with random weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--quantizations", default="none,8bit,4bit", help="comma list; each in its own process")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--long-tokens", type=int, default=64, help="length of the explanatory answer")
    parser.add_argument("--no-overlap", action="store_true", help="run SAM's encoder in line, not on a side stream")
    parser.add_argument("--encoder-schedule", choices=["inline", "concurrent", "after_clip", "interleaved"])
    parser.add_argument("--sam-attention", choices=["official", "chunked", "sdpa", "sdpa_folded"])
    parser.add_argument("--device-preprocess", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--draft-tokens", type=int, help="guessed tokens per pass (0: one token per step)")
    parser.add_argument("--llm-attention", choices=["sdpa", "eager"])
    parser.add_argument("--before", action="store_true", help="the speed settings before issue 26")
    parser.add_argument("--levers", action="store_true", help="each speed lever alone (bench/speed_levers.py)")
    parser.add_argument("--sam-compile", action="store_true", help="with --levers: also all levers + torch.compile(SAM encoder)")
    parser.add_argument("--skip-reference", action="store_true", help="no KV-cache vs official comparison")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quantization", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--compare-reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.reference_repeats, args.warmup = 2, 1, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.single:
        print(json.dumps(run_configuration(args)))
        return 0

    report = {
        "benchmark": "bench/model_stages.py",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": f"LISA-{args.arch.upper()} architecture, random weights" if args.arch else args.model,
        "machine": stage_report.machine(args.device),
        "frame": "640x480",
        "instruction": INSTRUCTION,
        "configurations": [],
    }
    configurations = report["configurations"]
    runs = [q for q in args.quantizations.split(",") if q] + (["levers"] if args.levers else [])
    for index, quantization in enumerate(runs):
        command = [
            sys.executable, __file__, "--single", "--quantization", quantization, "--model", args.model,
            "--device", args.device, "--precision", args.precision, "--repeats", str(args.repeats),
            "--reference-repeats", str(args.reference_repeats), "--warmup", str(args.warmup),
            "--threads", str(args.threads), "--long-tokens", str(args.long_tokens),
        ]
        if args.arch:
            command += ["--arch", args.arch]
        if args.no_overlap:
            command.append("--no-overlap")
        command += _speed_arguments(args)
        if quantization == "levers":  # full precision, in a process of its own, last
            command[command.index("--quantization") + 1] = "none"
            command += ["--levers"] + (["--sam-compile"] if args.sam_compile else [])
        elif index == 0 and not args.skip_reference:
            command.append("--compare-reference")  # the KV-cache comparison runs at full precision
        print(f"[model_stages] {quantization} ...", file=sys.stderr, flush=True)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            failed = {"precision": args.precision, "quantization": quantization, "error": done.stderr[-500:]}
            (report.setdefault("errors", []) if quantization == "levers" else configurations).append(
                {**failed, "stages_ms_median": {}})
        elif quantization == "levers":
            report["levers"] = json.loads(done.stdout.strip().splitlines()[-1])["levers"]
        else:
            configurations.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if args.json:  # after every process, so that a run cut short keeps what it measured
            Path(args.json).write_text(json.dumps(report, indent=2))
    print(stage_report.stage_table(report))
    if report.get("levers"):
        print("\nspeed levers, each alone against the settings before them (medians, ms):\n")
        print(stage_report.levers_table(report["levers"]))
    return 0 if all("error" not in c for c in configurations) and not report.get("errors") else 1


if __name__ == "__main__":
    sys.exit(main())
