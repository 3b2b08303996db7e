#!/usr/bin/env python3
"""Does a model segment *the named object*, or just "the objects"?

gIoU alone cannot tell a model that grounds the instruction from one that masks every object
on the table (with 1-6 objects, the second still scores about 0.25). This probe separates them.
For every object of a synthetic scene whose category is unique in that scene, it asks for it by
name in teacher-forced mode (question "What is {category} in this image? ...", answer
"Sure, the {category} [SEG]." so the ``[SEG]`` state follows the name, as in generation) and
compares the mask with

* the object's own visible mask (``iou_target``: high when the model grounds), and
* the union of all objects' masks (``iou_union``: high when it segments everything).

A second measure asks the same image for two *different* categories and reports the IoU between
the two predicted masks (``iou_between_prompts``): near 1 means the prompt is ignored.

Scenes come from ``--seed`` (default 515151: used neither by training, 9001, nor by the held-out
evaluation, 424242, nor by the tests). Output: a table on stdout and ``--json``.

    .venv/bin/python bench/probes/grounding_probe.py --model lisa-tiny --scenes 60 --json bench_out/grounding.json
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import probe_cli  # noqa: E402  (bench/probes/, the script's own folder)

# Objects smaller than this (visible pixels) are skipped: mostly hidden, their IoU is noise.
MIN_VISIBLE_PIXELS = 100


def _ask(segmenter, image: np.ndarray, category: str) -> np.ndarray:
    out = segmenter.segment_teacher_forced(
        image,
        f"<image>\nWhat is {category} in this image? Please output segmentation mask.",
        f"Sure, the {category} [SEG].",
    )
    return out.masks[0].mask


def probe(segmenter, seed: int, scenes: int, size=(320, 240)) -> dict:
    """Per-category and overall means of ``iou_target``/``iou_union`` and the prompt-sensitivity
    measure, over ``scenes`` synthetic scenes of ``seed``."""
    from lisa_ros.data.synth import render_scene
    from lisa_ros.eval.metrics import mask_iou

    per_category: dict[str, list[tuple[float, float]]] = defaultdict(list)
    between: list[float] = []
    for index in range(scenes):
        scene = render_scene(seed, index, size, None)
        categories = [o.category for o in scene.objects]
        union = np.any(np.stack(scene.object_masks), axis=0)
        asked: list[np.ndarray] = []
        for obj, mask in zip(scene.objects, scene.object_masks):
            if categories.count(obj.category) != 1 or int(mask.sum()) < MIN_VISIBLE_PIXELS:
                continue
            predicted = _ask(segmenter, scene.image, obj.category)
            per_category[obj.category].append((mask_iou(predicted, mask), mask_iou(predicted, union)))
            asked.append(predicted)
        if len(asked) >= 2:
            between.append(mask_iou(asked[0], asked[1]))
    pairs = [pair for values in per_category.values() for pair in values]
    return {
        "seed": seed,
        "scenes": scenes,
        "objects": len(pairs),
        "iou_target": float(np.mean([p[0] for p in pairs])) if pairs else None,
        "iou_union": float(np.mean([p[1] for p in pairs])) if pairs else None,
        "target_beats_union": float(np.mean([p[0] > p[1] for p in pairs])) if pairs else None,
        "iou_between_prompts": float(np.mean(between)) if between else None,
        "categories": {
            name: {"count": len(v), "iou_target": float(np.mean([p[0] for p in v])),
                   "iou_union": float(np.mean([p[1] for p in v]))}
            for name, v in sorted(per_category.items())
        },
    }


def report(result: dict, args) -> None:
    print(f"model {args.model}: {result['objects']} objects in {args.scenes} scenes of seed {args.seed}")
    print(f"  iou_target {result['iou_target']:.3f}   iou_union {result['iou_union']:.3f}   "
          f"target beats union {result['target_beats_union']:.1%}   "
          f"IoU between two prompts' masks {result['iou_between_prompts']:.3f}")
    print(f"  {'category':<12} {'n':>3} {'iou_target':>10} {'iou_union':>10}")
    for name, row in result["categories"].items():
        print(f"  {name:<12} {row['count']:>3} {row['iou_target']:>10.3f} {row['iou_union']:>10.3f}")


def main(argv: list[str] | None = None) -> int:
    return probe_cli.run(__doc__, 60, probe, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
