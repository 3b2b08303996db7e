#!/usr/bin/env python3
"""SAM's image encoder under each attention implementation: time, memory and parity.

For every mode of :mod:`lisa_ros.core.sam_attention` (segment-anything's ``official``, ``chunked``,
fused ``sdpa`` with the relative-position bias as a mask, ``sdpa_folded``) and each precision,
on a random-weight SAM (ViT-H, or ``--tiny`` on a CPU): the encoder's median time and peak extra
memory (``bench/sam_backends.py``'s clock), and, against segment-anything's fp32 encoder, the
largest difference of the embedding and the worst IoU of masks decoded from 8 random prompts
(low resolution and upscaled; the bounds of docs/benchmarks.md §2 are IoU >= 0.998 for fp16 and
>= 0.988 for bf16). The relative-position tables are drawn at random too (they start at zero in
a fresh SAM, which would make their part of the check empty). ``--compile`` adds each mode under
``torch.compile`` (GPU option; compilation time reported separately).

    python bench/sam_attention_parity.py --device cuda --json sam_attention.json    # about 1 min
    python bench/sam_attention_parity.py --tiny --json /tmp/sam_attention_tiny.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from sam_backends import DTYPES, TINY, VIT_H, Clock, build_model, compare_masks  # noqa: E402

from lisa_ros.core.sam_attention import SAM_ATTENTION_MODES, set_sam_attention  # noqa: E402


def _randomise_relative_positions(model, seed: int) -> None:
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for block in model.sam.image_encoder.blocks:
            for table in (block.attn.rel_pos_h, block.attn.rel_pos_w):
                table.copy_(torch.randn(table.shape, generator=generator) * 0.5)


def run(args) -> dict:
    shape = TINY if args.tiny else VIT_H
    model = build_model(shape, args.device)
    _randomise_relative_positions(model, seed=1)
    clock = Clock(args.device, args.repeats, args.warmup)
    generator = torch.Generator(device="cpu").manual_seed(2)
    pixels = torch.randn((1, 3, shape.img_size, shape.img_size), generator=generator).to(args.device)
    prompts = torch.randn((8, shape.prompt_embed_dim), generator=generator).to(args.device)
    with torch.inference_mode():
        set_sam_attention(model.sam, "official")
        reference = model.encode_sam(pixels).float()
        reference_masks = model.decode_masks(reference, prompts)[0]
    rows = []
    for precision in args.precisions.split(","):
        dtype = DTYPES[precision]
        model.to(dtype)
        if dtype == torch.float16:
            model.sam.image_encoder.neck.float()  # as the loader (LISA keeps the neck in fp32 in fp16)
        for mode in SAM_ATTENTION_MODES:
            for compiled in (False, True) if args.compile else (False,):
                set_sam_attention(model.sam, mode)
                encode = torch.compile(model.encode_sam) if compiled else model.encode_sam
                started = time.perf_counter()
                with torch.inference_mode():
                    first = encode(pixels)  # compilation happens here
                    clock.sync()
                    compile_s = time.perf_counter() - started
                    timing = clock(lambda: encode(pixels))
                    embedding = encode(pixels).float()
                    masks = model.decode_masks(embedding.to(dtype), prompts)[0]
                row = {"mode": mode, "precision": precision, "compiled": compiled, **timing,
                       "embedding_max_abs_vs_fp32_official": float((embedding - reference).abs().max()),
                       **compare_masks(reference_masks, masks, shape.img_size)}
                if compiled:
                    row["first_call_s"] = round(compile_s, 1)
                del first
                rows.append(row)
                print(json.dumps(row), flush=True)
        model.float()
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    return {"benchmark": "bench/sam_attention_parity.py", "date": time.strftime("%Y-%m-%d %H:%M"),
            "sam": "tiny" if args.tiny else "ViT-H", "device": device, "torch": torch.__version__, "rows": rows}


def table(report: dict) -> str:
    lines = ["| mode | precision | compiled | median ms | peak extra MiB | max abs vs fp32 official | "
             "mask IoU low-res / upscaled |", "|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        peak = row["peak_extra_mb"]
        lines.append(
            f"| {row['mode']} | {row['precision']} | {'yes' if row['compiled'] else 'no'} | {row['median_ms']:.2f} | "
            f"{'-' if peak is None else round(peak)} | {row['embedding_max_abs_vs_fp32_official']:.2e} | "
            f"{row['mask_iou_low_res']:.4f} / {row['mask_iou_upscaled']:.4f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="a small SAM (CPU check)")
    parser.add_argument("--precisions", default="fp32,bf16,fp16")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also each mode under torch.compile")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    report = run(args)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
