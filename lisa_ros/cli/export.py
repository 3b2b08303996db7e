"""``lisa-export``: SAM's mask decoder and image encoder to ONNX (and TensorRT), with a parity check.

    lisa-export --model lisa-tiny --out exports/lisa-tiny --verify --json parity.json

Exit status: 0 done (and, with ``--verify``, every fp32 artifact within tolerance); 1 a
verified artifact is out of tolerance; 2 bad arguments or a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .hub_options import add_hub_arguments

__all__ = ["main", "build_parser"]


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("prompt counts must be >= 1")
    return values


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if not parts or set(parts) - {"decoder", "encoder"}:
        raise argparse.ArgumentTypeError(f"--parts takes decoder and/or encoder, got {text!r}")
    return parts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lisa-export",
        description="Export LISA's SAM mask decoder and image encoder to ONNX (and TensorRT engines), "
        "each stamped with a hash of the weights it came from; optionally verify them against torch.",
    )
    parser.add_argument("--model", required=True, help="lisa-tiny, a checkpoint folder or a hub id")
    parser.add_argument("--clip", help="CLIP vision tower folder or hub id (default: the checkpoint's)")
    add_hub_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="export folder (the node's export_dir)")
    parser.add_argument("--parts", type=_parts, default=("decoder", "encoder"),
                        help="comma-separated: decoder, encoder (default both)")
    parser.add_argument("--with-fcs", action="store_true",
                        help="also export sam_decoder_fcs.onnx, taking [SEG] states [K,H] (text_hidden_fcs inside)")
    parser.add_argument("--tensorrt", action="store_true", help="build a TensorRT engine from each ONNX file")
    parser.add_argument("--fp16", action="store_true", help="build the TensorRT engines in fp16 (implies --tensorrt)")
    parser.add_argument("--max-prompts", type=int, default=16, help="largest K of the decoder engine's profile")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--device", default="cpu",
                        help="where the model runs for tracing references and --verify (cpu, cuda)")
    parser.add_argument("--llm-precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                        help="dtype of the language model, used by --verify for real [SEG] prompts "
                        "(bf16 halves a 7B model's memory); SAM is always loaded in fp32, and "
                        "text_hidden_fcs (--with-fcs) is exported from weights loaded in this dtype")
    parser.add_argument("--verify", action="store_true", help="compare every artifact with torch")
    parser.add_argument("--json", type=Path, help="write the verification report (or the manifest) here")
    parser.add_argument("--ks", type=_int_list, default=(1, 2, 3, 4, 5, 8),
                        help="prompt counts K for random decoder inputs (default 1,2,3,4,5,8)")
    parser.add_argument("--atol", type=float, default=1e-4, help="fp32 tolerance on max abs difference")
    parser.add_argument("--min-iou", type=float, default=0.999, help="fp32 tolerance on mask IoU")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads for --verify")
    return parser


def _load(args):
    import torch

    from lisa_ros.core.config import LisaConfig
    from lisa_ros.core.loading import load_lisa
    from lisa_ros.core.resolve import resolve_clip_path, resolve_model_path
    from lisa_ros.core.segmenter import LisaSegmenter, resolve_device, resolve_precision

    device = resolve_device(args.device)
    folder = resolve_model_path(args.model, allow_download=args.allow_download, revision=args.revision)
    clip = resolve_clip_path(args.clip, folder, LisaConfig.from_file(folder / "config.json").vision_tower,
                             allow_download=args.allow_download, revision=args.clip_revision)
    loaded = load_lisa(folder, clip, dtype=resolve_precision(args.llm_precision, device), device=device,
                       sam_dtype=torch.float32)
    # The exported graphs compute in fp32; so must the torch path they are compared with.
    loaded.model.text_hidden_fcs.float()
    return LisaSegmenter(loaded, device=device), folder


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from lisa_ros.core.errors import LisaError
    from lisa_ros.export.exporter import ExportOptions, export_folder

    try:
        segmenter, folder = _load(args)
    except (LisaError, ValueError) as exc:
        print(f"lisa-export: {exc}", file=sys.stderr)
        return 2
    options = ExportOptions(parts=args.parts, with_fcs=args.with_fcs, opset=args.opset,
                            tensorrt=args.tensorrt, fp16=args.fp16, max_prompts=args.max_prompts)
    result = export_folder(segmenter.model, args.out, options, model_path=str(folder), say=print)
    print(f"manifest: {args.out / 'manifest.json'}")
    if not args.verify:
        if args.json:
            args.json.write_text(json.dumps(result.manifest, indent=2) + "\n", encoding="utf-8")
        return 0

    from lisa_ros.export.verify import Tolerances, verify_folder

    report = verify_folder(segmenter, args.out, ks=args.ks, tolerances=Tolerances(args.atol, args.min_iou),
                           threads=args.threads, names=result.written)
    if result.tensorrt_skipped:
        report["tensorrt_skipped"] = result.tensorrt_skipped
    for name, entry in report["artifacts"].items():
        verdict = {True: "ok", False: "FAILED", None: "(not judged)"}[entry["passed"]]
        print(f"verify {name} [{entry['precision']}, {entry['runs_on']}]: max abs diff "
              f"{entry['max_abs_diff']:.3g}, min mask IoU {entry['min_mask_iou']:.5f} {verdict}")
    for name, reason in report["skipped"].items():
        print(f"verify {name}: skipped ({reason})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"report: {args.json}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
