#!/usr/bin/env python3
"""How well does a model's SAM draw an object when it is told exactly where the object is?

A ``[SEG]`` mask can fail in two ways: the prompt points at the wrong object, or the decoder draws
the right object badly. This probe measures the second alone. Every object of a synthetic scene
(at least 100 visible pixels) is prompted through SAM's own prompt encoder, with no LLM involved,
in two ways: its tight box, and one point, the mask pixel farthest from the mask's edge. The IoU of
each mask with the object's visible mask is the decoder's quality given perfect localisation, an
upper bound of sorts for what the ``[SEG]`` prompts can reach. A model whose SAM was never trained
with box or point prompts (``--sam-prompt-weight`` of lisa-train, ``lisa_ros/train/scratch/prompt_aux.py``)
scores near chance.

Scenes come from ``--seed`` (default 515151: used neither by training, 9001, nor by the held-out
evaluation, 424242, nor by the tests). Output: a table on stdout and ``--json``.

    .venv/bin/python bench/probes/sam_prompt_probe.py --model lisa-tiny --scenes 60 --json bench_out/sam_prompt.json
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


def exact_prompts(mask: np.ndarray):
    """The object's tight box and its innermost pixel, as two prompts (source pixels)."""
    import cv2

    from lisa_ros.core.postprocess import mask_box
    from lisa_ros.train.scratch.prompt_aux import ObjectPrompt

    x0, y0, x1, y1 = mask_box(mask)  # max exclusive
    box = np.array([x0, y0, x1 - 1, y1 - 1], np.float32)
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return ObjectPrompt(mask, box=box), ObjectPrompt(mask, point=np.array([x, y], np.float32))


def probe(segmenter, seed: int, scenes: int, size=(320, 240)) -> dict:
    """Mean box and point IoU, overall and per category, over ``scenes`` scenes of ``seed``."""
    import torch

    from lisa_ros.data.synth import render_scene
    from lisa_ros.eval.metrics import mask_iou
    from lisa_ros.train.conversations import TrainItem
    from lisa_ros.train.scratch.prompt_aux import prompted_mask_logits

    model = segmenter.model
    per_category: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for index in range(scenes):
        scene = render_scene(seed, index, size, None)
        kept = [(obj, mask) for obj, mask in zip(scene.objects, scene.object_masks)
                if int(mask.sum()) >= MIN_VISIBLE_PIXELS]
        if not kept:
            continue
        prompts = [prompt for _, mask in kept for prompt in exact_prompts(np.asarray(mask, bool))]
        batch = probe_cli.scene_batch(segmenter, TrainItem(scene.name, scene.image, None, []))
        with torch.no_grad():
            embedding = model.encode_sam(batch.sam_pixels.to(segmenter.device))
            logits, order = prompted_mask_logits(model, embedding, prompts, batch.sam_resizes[0])
        masks = {prompt_index: (logits[row] > 0).cpu().numpy() for row, prompt_index in enumerate(order)}
        for k, (obj, mask) in enumerate(kept):
            per_category[obj.category].append((mask_iou(masks[2 * k], mask), mask_iou(masks[2 * k + 1], mask)))
    pairs = [pair for values in per_category.values() for pair in values]
    return {
        "seed": seed,
        "scenes": scenes,
        "objects": len(pairs),
        "iou_box": float(np.mean([p[0] for p in pairs])) if pairs else None,
        "iou_point": float(np.mean([p[1] for p in pairs])) if pairs else None,
        "categories": {
            name: {"count": len(v), "iou_box": float(np.mean([p[0] for p in v])),
                   "iou_point": float(np.mean([p[1] for p in v]))}
            for name, v in sorted(per_category.items())
        },
    }


def report(result: dict, args) -> None:
    print(f"model {args.model}: {result['objects']} objects in {args.scenes} scenes of seed {args.seed}")
    print(f"  IoU with a tight box {result['iou_box']:.3f}   with the innermost point {result['iou_point']:.3f}")
    print(f"  {'category':<12} {'n':>3} {'box':>6} {'point':>6}")
    for name, row in result["categories"].items():
        print(f"  {name:<12} {row['count']:>3} {row['iou_box']:>6.3f} {row['iou_point']:>6.3f}")


def main(argv: list[str] | None = None) -> int:
    return probe_cli.run(__doc__, 60, probe, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
