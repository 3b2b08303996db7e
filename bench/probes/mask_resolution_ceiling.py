"""The best gIoU a SAM of a given input size can reach through its low-resolution logits.

SAM's mask decoder predicts ``[4g, 4g]`` logits (g = input size / patch size) that are upsampled
to the source frame (:func:`lisa_ros.core.postprocess.upscale_mask_logits`). Even a perfect model
is limited by that grid. This script puts every ground-truth target mask through it: the mask is
resized into SAM's padded input frame, area-averaged down to the logit grid, turned into sharp
logits (``20 * (coverage - 0.5)``) and brought back by the official upscaling. The IoU of the
result against the ground truth (ignore regions excluded, as the evaluation) is the ceiling. No
model is involved.

    .venv/bin/python bench/probes/mask_resolution_ceiling.py DATA [--geometry 256:16 --geometry 256:8 ...]

Prints, per geometry (input size : patch size), the mean (gIoU over masks), median and 10th
percentile IoU. Result: docs/benchmarks.md §3.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from lisa_ros.core.postprocess import upscale_mask_logits
from lisa_ros.core.preprocess import SamResize, sam_resize_shape
from lisa_ros.data.reasonseg import iter_samples
from lisa_ros.eval.metrics import mask_iou


def logit_grid_size(input_size: int, patch: int) -> int:
    """Side of SAM's low-resolution logits: its decoder upscales the embedding grid 4x."""
    return 4 * (input_size // patch)


def through_logit_grid(target: np.ndarray, input_size: int, patch: int) -> np.ndarray:
    """``bool [H, W]``: the ``float 0/1 [H, W]`` target after the logits of a SAM with that input
    size and patch size."""
    height, width = target.shape
    grid = logit_grid_size(input_size, patch)
    resized_h, resized_w = sam_resize_shape(height, width, input_size)
    resized = F.interpolate(torch.from_numpy(target)[None, None], (resized_h, resized_w), mode="area")
    padded = resized.new_zeros((1, 1, input_size, input_size))
    padded[..., :resized_h, :resized_w] = resized
    coverage = F.interpolate(padded, (grid, grid), mode="area")
    placement = SamResize((height, width), (resized_h, resized_w), input_size)
    return (upscale_mask_logits(20.0 * (coverage - 0.5), placement)[0] > 0).numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a ReasonSeg-format folder")
    parser.add_argument("--geometry", action="append", default=None,
                        help="SAM input size and patch size, 'INPUT:PATCH' (repeatable; default 256:16, 256:8, 512:16)")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    geometries = [tuple(int(v) for v in g.split(":")) for g in (args.geometry or ["256:16", "256:8", "512:16"])]
    ious: dict[tuple[int, int], list[float]] = {g: [] for g in geometries}
    for sample in iter_samples(args.data, limit=args.limit):
        for mask in sample.target_masks:
            target = (mask == 1).astype(np.float32)
            for input_size, patch in geometries:
                ious[(input_size, patch)].append(mask_iou(through_logit_grid(target, input_size, patch), mask))
    for (input_size, patch), values in ious.items():
        values = np.asarray(values)
        grid = logit_grid_size(input_size, patch)
        print(f"SAM {input_size} px / patch {patch} ({grid}x{grid} logits): {values.size} masks, "
              f"gIoU {values.mean():.3f}, median {np.median(values):.3f}, 10th percentile {np.percentile(values, 10):.3f}")


if __name__ == "__main__":
    main()
