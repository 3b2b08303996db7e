#!/usr/bin/env python3
"""Latency of LISA's SAM parts per backend and precision, and half-precision mask parity.

Times SAM's image encoder (one 1024x1024 frame) and mask decoder (K = 1, 3, 8 ``[SEG]``
prompts, LISA's single-mask path) under

* torch fp32 / fp16 / bf16 (``LisaModel.encode_sam`` / ``decode_masks``, the runtime path);
* onnxruntime fp32 (the ``lisa-export`` ONNX graphs; CUDA provider when present, else CPU;
  numpy I/O, so host<->device copies are included, as in the runtime backend);
* TensorRT fp32 / fp16 engines, when the ``tensorrt`` package and a GPU are present;

on a randomly initialised full-size ViT-H SAM (the official LISA SAM shape; a tiny LLM and CLIP
complete the :class:`LisaModel`, they are not timed). Reports medians (and p90) over
``--repeats`` runs after warm-up, with CUDA synchronisation; peak CUDA memory above what was
allocated before the call; and, against the torch fp32 path, the largest absolute difference
and the IoU of masks (logits > 0) at low resolution and upscaled to the input size, both for
the decoder alone (fp32 embedding cast down) and end to end (encoder + decoder in that
precision): the "half-precision parity on GPU" figure.

    python bench/sam_backends.py --json sam_backends_gpu.json                   # GPU machine, < 3 min
    python bench/sam_backends.py --tiny --json /tmp/sam_tiny.json               # CPU check, seconds

Needs torch, transformers, segment-anything, onnx (+ onnxruntime for that backend); no ROS.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lisa_ros.core.sam_builder import SamShape  # noqa: E402

VIT_H = SamShape(1024, 16, 1280, 32, 16, 4.0, 14, (7, 15, 23, 31), 256, 16, 2, 2048, 8, 3, 3, 256)
# Windowed + global blocks like ViT-H, at a size that runs in milliseconds on a CPU.
TINY = SamShape(128, 16, 32, 2, 2, 2.0, 4, (1,), 32, 8, 2, 64, 4, 3, 3, 32)
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def build_model(shape: SamShape, device: str, seed: int = 0):
    """A random-weight fp32 :class:`LisaModel` with SAM of ``shape`` (tiny LLM and CLIP)."""
    from transformers import CLIPVisionConfig

    from lisa_ros.core.config import LisaConfig
    from lisa_ros.core.modeling import LisaModel

    config = LisaConfig.from_dict({
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4,
        "vocab_size": 1000, "mm_hidden_size": 32, "out_dim": shape.prompt_embed_dim,
        "sam_decoder_num_heads": shape.decoder_num_heads,
    })
    clip = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                            image_size=28, patch_size=14, projection_dim=32)
    torch.manual_seed(seed)
    with torch.device(device):  # random init where the model runs (ViT-H init on a CPU is slow)
        model = LisaModel(config, shape, clip)
    return model.eval().requires_grad_(False)


class Clock:
    """Median / p90 wall time of a callable, synchronising CUDA around every run."""

    def __init__(self, device: str, repeats: int, warmup: int):
        self.cuda = device.startswith("cuda")
        self.repeats, self.warmup = repeats, warmup

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def __call__(self, fn, repeats: int | None = None, warmup: int | None = None):
        repeats = repeats or self.repeats
        for _ in range(self.warmup if warmup is None else warmup):
            fn()
        self.sync()
        before = torch.cuda.memory_allocated() if self.cuda else 0
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            self.sync()
            start = time.perf_counter()
            fn()
            self.sync()
            times.append((time.perf_counter() - start) * 1000.0)
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20 if self.cuda else None
        times.sort()
        return {
            "median_ms": statistics.median(times),
            "p90_ms": times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))],
            "runs": repeats,
            "peak_extra_mb": peak,
        }


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def compare_masks(reference: torch.Tensor, result: torch.Tensor, size: int) -> dict:
    """Worst per-mask IoU (logits > 0) at low resolution and upscaled to ``size``, max abs diff."""
    ref, got = reference.float().cpu(), result.float().cpu()
    up = lambda x: torch.nn.functional.interpolate(x, (size, size), mode="bilinear", align_corners=False)  # noqa: E731
    return {
        "max_abs_vs_fp32": float((ref - got).abs().max()),
        "mask_iou_low_res": min(mask_iou(r > 0, g > 0) for r, g in zip(ref[:, 0].numpy(), got[:, 0].numpy())),
        "mask_iou_upscaled": min(mask_iou(r > 0, g > 0) for r, g in zip(up(ref)[:, 0].numpy(), up(got)[:, 0].numpy())),
    }


def weights_mb(module, dtype) -> float:
    return sum(p.numel() for p in module.parameters()) * torch.finfo(dtype).bits / 8 / 2**20


class Bench:
    def __init__(self, args):
        self.args = args
        self.device = args.device
        self.shape = TINY if args.tiny else VIT_H
        self.clock = Clock(self.device, args.repeats, args.warmup)
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over_budget(self, stage: str) -> bool:
        if self.elapsed() > self.args.budget_s:
            self.notes.append(f"{stage}: skipped, time budget of {self.args.budget_s:.0f} s spent")
            return True
        return False

    def add(self, **row):
        self.rows.append(row)
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        print("  " + ", ".join(f"{k}={v}" for k, v in shown.items()), flush=True)

    # -- torch ----------------------------------------------------------------------------

    def run_torch(self, model, pixels, prompts):
        shape = self.shape
        with torch.inference_mode():
            ref_embedding = model.encode_sam(pixels)
            ref = {k: model.decode_masks(ref_embedding, p) for k, p in prompts.items()}
        self.reference = (ref_embedding, ref)
        for name in self.args.precisions:
            if self.over_budget(f"torch {name}"):
                break
            dtype = DTYPES[name]
            half = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
            with torch.inference_mode():
                timing = self.clock(lambda: half.encode_sam(pixels))
                embedding = half.encode_sam(pixels)
                end_to_end = [compare_masks(ref[k][0], half.decode_masks(embedding, p)[0], shape.img_size)
                              for k, p in prompts.items()]
                self.add(part="encoder", backend="torch", precision=name, K=None, **timing,
                         weights_mb=weights_mb(half.sam.image_encoder, dtype),
                         embedding_max_abs_vs_fp32=float((embedding.float() - ref_embedding).abs().max()),
                         e2e_mask_iou_low_res=min(c["mask_iou_low_res"] for c in end_to_end),
                         e2e_mask_iou_upscaled=min(c["mask_iou_upscaled"] for c in end_to_end))
                cast = ref_embedding.to(dtype)
                for k, p in prompts.items():
                    timing = self.clock(lambda: half.decode_masks(cast, p))
                    low, _ = half.decode_masks(cast, p)
                    self.add(part="decoder", backend="torch", precision=name, K=k, **timing,
                             weights_mb=weights_mb(half.sam.mask_decoder, dtype),
                             **compare_masks(ref[k][0], low, shape.img_size))
            if half is not model:
                del half
                if self.device.startswith("cuda"):
                    torch.cuda.empty_cache()

    # -- exported backends ----------------------------------------------------------------

    def run_onnxruntime(self, model, pixels, prompts, folder: Path):
        try:
            import onnxruntime as ort
        except ImportError:
            self.notes.append("onnxruntime: not installed")
            return
        from lisa_ros.export.onnx_export import export_onnx
        from lisa_ros.export.runners import DecoderRunner, EncoderRunner, OrtEngine, ort_providers

        run_on = self.device if not ort_providers(self.device)[1] else "cpu"
        self.notes.append(f"onnxruntime {ort.__version__}: providers {ort.get_available_providers()}, ran on {run_on}")
        ref_embedding, ref = self.reference
        parts = ["decoder"] + ([] if self.args.no_ort_encoder else ["encoder"])
        for part in parts:
            if self.over_budget(f"onnxruntime {part}"):
                return
            began = time.perf_counter()
            record = export_onnx(model, part, folder)
            export_s = time.perf_counter() - began
            try:
                engine = OrtEngine(folder / record["file"], device=run_on, threads=self.args.threads)
            except RuntimeError as exc:  # e.g. a CUDA provider built for another CUDA
                self.notes.append(f"onnxruntime on {run_on} failed ({exc}); using the CPU")
                run_on = "cpu"
                engine = OrtEngine(folder / record["file"], device=run_on, threads=self.args.threads)
            facts = {"export_s": export_s, "onnx_mb": record["bytes"] / 2**20, "runs_on": engine.describe()}
            if part == "decoder":
                runner = DecoderRunner(engine, self.shape.low_res_size)
                for k, p in prompts.items():
                    timing = self.clock(lambda: runner(ref_embedding, p))
                    self.add(part="decoder", backend="onnxruntime", precision="fp32", K=k, **timing, **facts,
                             **compare_masks(ref[k][0], runner(ref_embedding, p)[0], self.shape.img_size))
            else:
                runner = EncoderRunner(engine)
                slow = not (run_on.startswith("cuda") or self.args.tiny)  # ViT-H on CPU: seconds a run
                timing = self.clock(lambda: runner(pixels), repeats=2 if slow else None, warmup=1 if slow else None)
                embedding = runner(pixels).to(ref_embedding.device)
                self.add(part="encoder", backend="onnxruntime", precision="fp32", K=None, **timing, **facts,
                         embedding_max_abs_vs_fp32=float((embedding - ref_embedding).abs().max()))

    def run_tensorrt(self, model, pixels, prompts, folder: Path):
        from lisa_ros.export.trt_engine import build_engine, tensorrt_unavailable

        reason = tensorrt_unavailable()
        if reason:
            self.notes.append(f"tensorrt: {reason}")
            return
        from lisa_ros.export.artifacts import ONNX_ARTIFACTS
        from lisa_ros.export.onnx_export import export_onnx
        from lisa_ros.export.runners import DecoderRunner, EncoderRunner
        from lisa_ros.export.trt_engine import TensorRTEngine

        ref_embedding, ref = self.reference
        for part in ("decoder", "encoder"):
            onnx_path = folder / ONNX_ARTIFACTS[part].file
            if not onnx_path.is_file():
                export_onnx(model, part, folder)
            for fp16 in (False, True):
                if self.over_budget(f"tensorrt {part}"):
                    return
                engine_path = folder / f"{part}_{'fp16' if fp16 else 'fp32'}.engine"
                build_engine(onnx_path, engine_path, fp16=fp16, max_prompts=max(self.args.ks))
                engine = TensorRTEngine(engine_path, device=self.device)
                precision = "fp16" if fp16 else "fp32"
                if part == "decoder":
                    runner = DecoderRunner(engine, self.shape.low_res_size)
                    for k, p in prompts.items():
                        timing = self.clock(lambda: runner(ref_embedding, p))
                        self.add(part="decoder", backend="tensorrt", precision=precision, K=k, **timing,
                                 **compare_masks(ref[k][0], runner(ref_embedding, p)[0], self.shape.img_size))
                else:
                    runner = EncoderRunner(engine)
                    timing = self.clock(lambda: runner(pixels))
                    self.add(part="encoder", backend="tensorrt", precision=precision, K=None, **timing,
                             embedding_max_abs_vs_fp32=float((runner(pixels) - ref_embedding).abs().max()))

    # -- all ------------------------------------------------------------------------------

    def result(self) -> dict:
        args, shape = self.args, self.shape
        return {
            "script": "bench/sam_backends.py",
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": environment(self.device),
            "sam": "tiny" if args.tiny else "vit_h",
            "sam_shape": list(shape.__dict__.values()),
            "ks": list(args.ks), "repeats": args.repeats, "warmup": args.warmup, "tf32": args.tf32,
            "rows": self.rows, "notes": self.notes, "total_s": self.elapsed(),
        }

    def save(self, final: bool = False) -> dict:
        """Write the results so far (a run cut short by a time limit still leaves its numbers)."""
        result = self.result()
        result["complete"] = final
        result["markdown"] = markdown(result)
        if self.args.json:
            self.args.json.parent.mkdir(parents=True, exist_ok=True)
            self.args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return result

    def run(self) -> dict:
        args, shape = self.args, self.shape
        if self.device.startswith("cuda") and not args.tf32:
            # fp32 means fp32: cuDNN would otherwise run the convolutions in TF32, which alone
            # moves ViT-H's embedding by ~1e-3 and would blur every parity figure.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        print(f"building a random {'tiny' if args.tiny else 'ViT-H'} SAM on {self.device} ...", flush=True)
        model = build_model(shape, self.device)
        generator = torch.Generator().manual_seed(1)
        pixels = torch.randn(1, 3, shape.img_size, shape.img_size, generator=generator).to(self.device)
        prompts = {k: torch.randn(k, shape.prompt_embed_dim, generator=generator).to(self.device) for k in args.ks}
        self.run_torch(model, pixels, prompts)
        self.save()
        with tempfile.TemporaryDirectory(prefix="sam_bench_") as scratch:
            for backend, stage in (("onnxruntime", self.run_onnxruntime), ("tensorrt", self.run_tensorrt)):
                if backend not in args.backends:
                    continue
                try:
                    stage(model, pixels, prompts, Path(scratch))
                except Exception as exc:  # noqa: BLE001 - report what failed, keep the other results
                    traceback.print_exc()
                    self.notes.append(f"{backend}: failed after {self.elapsed():.0f} s: {type(exc).__name__}: {exc}")
                self.save()
        return self.save(final=True)


def environment(device: str) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
            "cpus": os.cpu_count(), "platform": platform.platform()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def markdown(result: dict) -> str:
    def fmt(value, digits=3):
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.{digits}g}" if abs(value) < 1e-2 else f"{value:.{digits}f}"
        return str(value)

    lines = [
        f"SAM {result['sam']} on {result['machine'].get('gpu', result['machine']['device'])}, "
        f"torch {result['machine']['torch']}, medians of {result['repeats']} runs",
        "",
        "| part | backend | precision | K | median ms | p90 ms | peak extra MB | max abs vs fp32 | mask IoU vs fp32 (low-res / upscaled) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        if row["part"] == "encoder":
            diff = row.get("embedding_max_abs_vs_fp32")
            iou = (row.get("e2e_mask_iou_low_res"), row.get("e2e_mask_iou_upscaled"))
        else:
            diff = row.get("max_abs_vs_fp32")
            iou = (row.get("mask_iou_low_res"), row.get("mask_iou_upscaled"))
        iou_text = f"{iou[0]:.4f} / {iou[1]:.4f}" if iou[0] is not None else ""
        lines.append(
            f"| {row['part']} | {row['backend']} | {row['precision']} | {fmt(row['K'])} | {fmt(row['median_ms'], 4)} | "
            f"{fmt(row['p90_ms'], 4)} | {fmt(row['peak_extra_mb'], 4)} | {fmt(diff)} | {iou_text} |"
        )
    lines += ["", "Encoder IoU: end to end (encoder + decoder in that precision, K = all); decoder IoU: decoder alone."]
    lines += [f"- {note}" for note in result["notes"]]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny SAM on the CPU (a quick check of the script)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present, cpu with --tiny)")
    parser.add_argument("--ks", default="1,3,8", help="prompt counts K")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 20 GPU, 3 tiny)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 3 GPU, 1 tiny)")
    parser.add_argument("--precisions", default="fp32,fp16,bf16")
    parser.add_argument("--backends", default="torch,onnxruntime,tensorrt")
    parser.add_argument("--no-ort-encoder", action="store_true",
                        help="skip the ViT-H encoder under onnxruntime (its export takes about a minute)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--tf32", action="store_true", help="let torch fp32 use TF32 on the GPU (off by default)")
    parser.add_argument("--budget-s", type=float, default=160.0, help="skip later stages once this much time is spent")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    args.ks = tuple(int(k) for k in args.ks.split(","))
    args.precisions = tuple(args.precisions.split(","))
    args.backends = tuple(args.backends.split(","))
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    gpu = args.device.startswith("cuda")
    args.repeats = args.repeats or (20 if gpu else 3)
    args.warmup = args.warmup if args.warmup is not None else (3 if gpu else 1)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    result = Bench(args).run()
    print("\n" + result["markdown"])
    if args.json:
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
