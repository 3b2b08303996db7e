"""``lisa-eval``: gIoU / cIoU of a model on a ReasonSeg-format folder, as the official evaluation.

Example::

    lisa-eval --model lisa-tiny --data data/heldout --mode generate --json out/eval.json --worst out/worst.png

Prints the summary (overall, per family, absent-target rate) and writes it as JSON:
``giou``, ``ciou``, ``count`` (scored masks), ``families`` (per instruction family: ``giou``,
``ciou``, ``count``; the ``absent`` family also ``absent_correct_rate``), ``absent_correct_rate``,
``mode``, ``model``, ``data``, ``limit``, and more (see :mod:`lisa_ros.eval.evaluate` for how
absent targets and multi-target samples are scored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .hub_options import add_hub_arguments, hub_options

__all__ = ["main", "build_parser", "format_summary"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lisa-eval", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="lisa-tiny, a checkpoint folder, or a hub id")
    p.add_argument("--clip", help="CLIP vision tower folder or hub id (default: the checkpoint's)")
    add_hub_arguments(p)
    p.add_argument("--data", required=True, help="ReasonSeg-format folder (xxx.jpg + xxx.json)")
    p.add_argument("--mode", choices=["generate", "teacher-forced"], default="generate",
                   help="generate: free answers (as deployed); teacher-forced: the official validation")
    p.add_argument("--limit", type=int, help="evaluate the first N samples (name order)")
    p.add_argument("--families", help="comma-separated families to keep (synthetic data)")
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--worst", help="write a PNG grid of the worst cases here")
    p.add_argument("--worst-count", type=int, default=12, help="rows in the worst-case grid")
    p.add_argument("--per-sample", action="store_true", help="include every sample's result in the JSON")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--no-progress", action="store_true")
    return p


def format_summary(summary: dict) -> str:
    """A small plain-text table of the summary (gIoU / cIoU in %)."""
    lines = [f"{'family':<16} {'gIoU':>6} {'cIoU':>6} {'masks':>6}  absent-correct"]
    for name, entry in summary["families"].items():
        rate = entry.get("absent_correct_rate")
        ciou = entry.get("ciou")
        lines.append(
            f"{name:<16} {100 * entry['giou']:6.2f} {('%6.2f' % (100 * ciou)) if ciou is not None else '     -'} "
            f"{entry['count']:6d}  {'' if rate is None else f'{100 * rate:.1f}%'}"
        )
    rate = summary.get("absent_correct_rate")
    lines.append(
        f"{'overall':<16} {100 * summary['giou']:6.2f} {100 * summary['ciou']:6.2f} {summary['count']:6d}  "
        f"{'' if rate is None else f'{100 * rate:.1f}%'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import logging
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from lisa_ros.core.errors import LisaError
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.data.errors import DatasetError
    from lisa_ros.eval.evaluate import evaluate_folder

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    families = [f.strip() for f in args.families.split(",")] if args.families else None
    started = time.perf_counter()
    try:
        segmenter = LisaSegmenter.from_pretrained(
            args.model, clip=args.clip, precision=args.precision, device=args.device,
            max_new_tokens=args.max_new_tokens, frame_cache_size=0, **hub_options(args),
        )
        result = evaluate_folder(
            segmenter, args.data, mode=args.mode, limit=args.limit, families=families,
            max_new_tokens=args.max_new_tokens, keep_images=args.worst_count if args.worst else 0,
            progress=not args.no_progress,
        )
    except (LisaError, DatasetError) as exc:
        print(f"lisa-eval: {exc}", file=sys.stderr)
        return 2
    summary = dict(result.summary)
    summary.update(model=str(args.model), data=str(args.data), limit=args.limit, families_filter=families,
                   seconds=round(time.perf_counter() - started, 2))
    if args.per_sample:
        summary["per_sample"] = [s.as_dict() for s in result.samples]
    print(format_summary(summary))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.worst:
        from lisa_ros.eval.worst import write_worst_png

        write_worst_png(result.worst(args.worst_count), args.worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
