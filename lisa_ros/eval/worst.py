"""A PNG grid of the worst evaluation cases: image, ground truth, prediction, and the text.

One row per sample: the source image, the target groups overlaid (one colour per ``[SEG]``),
the predicted masks overlaid in the same colours, and under them the family, score,
instruction and the model's answer.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from lisa_ros.core.overlay import draw_overlay

from .evaluate import SampleResult

__all__ = ["worst_grid", "write_worst_png"]

_TILE_WIDTH = 320
_LINE_HEIGHT = 16
_FONT_SCALE = 0.42


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    import cv2

    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _caption(lines: list[str], width: int) -> np.ndarray:
    import cv2

    wrapped: list[str] = []
    chars = max(20, int(width / 7.2))
    for line in lines:
        wrapped.extend(textwrap.wrap(line, chars) or [""])
    panel = np.full((_LINE_HEIGHT * len(wrapped) + 6, width, 3), 255, dtype=np.uint8)
    for index, line in enumerate(wrapped):
        cv2.putText(panel, line, (4, _LINE_HEIGHT * (index + 1)), cv2.FONT_HERSHEY_SIMPLEX, _FONT_SCALE,
                    (20, 20, 20), 1, cv2.LINE_AA)
    return panel


def _row(result: SampleResult) -> np.ndarray:
    image = result.image
    gt = draw_overlay(image, result.target_masks)
    pred = draw_overlay(image, result.pred_masks)
    tiles = [_fit(t, _TILE_WIDTH) for t in (image, gt, pred)]
    strip = np.concatenate([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles], axis=1)
    ious = ", ".join(f"{v:.2f}" for v in result.ious)
    lines = [
        f"{result.name}  family: {result.family}  score: {result.score:.3f}  IoU per target: [{ious}]  "
        f"targets {result.num_targets}, predicted {result.num_predicted}",
        f"Q: {result.question}",
        f"A: {result.answer}",
    ]
    caption = _caption(lines, strip.shape[1])
    return np.concatenate([strip, caption, np.full((8, strip.shape[1], 3), 200, dtype=np.uint8)], axis=0)


def worst_grid(results: Sequence[SampleResult]) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB grid of ``results`` that still hold their images."""
    rows = [_row(r) for r in results if r.image is not None]
    if not rows:
        return _caption(["no samples"], 3 * (_TILE_WIDTH + 4))
    header = _caption(["columns: image | ground truth | prediction (worst first)"], rows[0].shape[1])
    return np.concatenate([header] + rows, axis=0)


def write_worst_png(results: Sequence[SampleResult], path: str | Path) -> Path:
    """Write :func:`worst_grid` of ``results`` as a PNG."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = worst_grid(results)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
    return path
