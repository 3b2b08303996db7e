"""Pictures of results for people: masks blended over the source image, with boxes and labels.

Used by ``lisa-segment``, the node's ``overlay`` topic and the evaluation's worst-case grid.
Cost matters on the node (it runs per result at camera resolution), so blending touches only
mask pixels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["PALETTE", "draw_overlay", "label_origin", "union_mask"]

# Distinct, colour-blind-friendlier RGB colours (Okabe-Ito), one per mask in answer order.
PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
)


# Label font scale (cv2.FONT_HERSHEY_SIMPLEX): legible on a 640x480 frame.
_FONT_SCALE = 0.45


def union_mask(masks: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """``uint8 [H, W]`` 0/255 union of ``bool [H, W]`` masks (all zero when there are none)."""
    union = np.zeros(shape, dtype=bool)
    for mask in masks:
        union |= mask
    return union.view(np.uint8) * np.uint8(255)


def draw_overlay(
    image: np.ndarray,
    masks: Sequence[np.ndarray],
    boxes: Sequence[tuple[int, int, int, int]] = (),
    labels: Sequence[str] = (),
    alpha: float = 0.5,
) -> np.ndarray:
    """An RGB picture of the result.

    Args:
        image: ``uint8 [H, W, 3]`` RGB source.
        masks: ``bool [H, W]`` masks, coloured from :data:`PALETTE` in order.
        boxes: ``(x_min, y_min, x_max, y_max)`` per mask (max exclusive), drawn as outlines.
        labels: text drawn at each box's top-left corner.
        alpha: mask opacity.
    Returns:
        a new ``uint8 [H, W, 3]`` RGB image.
    """
    import cv2

    out = image.copy()
    for index, mask in enumerate(masks):
        # Blend only inside the mask's bounding box: a grasp target covers a small part of
        # the frame, and full-frame float arithmetic dominated the node's result cost.
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(mask.any(axis=0))
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        region = out[y0:y1, x0:x1]
        tint = np.empty_like(region)
        tint[:] = PALETTE[index % len(PALETTE)]
        blended = cv2.addWeighted(region, 1.0 - alpha, tint, alpha, 0.0)
        np.copyto(region, blended, where=mask[y0:y1, x0:x1, None])
    placed: list[tuple[int, int, int, int]] = []
    for index, box in enumerate(boxes):
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            continue
        colour = PALETTE[index % len(PALETTE)]
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), colour, 2)
        if index < len(labels) and labels[index]:
            font = cv2.FONT_HERSHEY_SIMPLEX
            (width, height), baseline = cv2.getTextSize(labels[index], font, _FONT_SCALE, 3)
            origin = label_origin((x0 + 2, max(y0 - 4, 12)), (width, height + baseline), placed)
            cv2.putText(out, labels[index], origin, font, _FONT_SCALE, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, labels[index], origin, font, _FONT_SCALE, colour, 1, cv2.LINE_AA)
    return out


def label_origin(
    wanted: tuple[int, int], size: tuple[int, int], placed: list[tuple[int, int, int, int]]
) -> tuple[int, int]:
    """Where to draw a label so it covers no earlier one.

    Boxes of several masks often share a corner (two targets next to each other, or a stray
    patch that stretches both boxes), and labels drawn at the same corner are unreadable.

    Args:
        wanted: ``(x, y)`` text origin (OpenCV: left end of the baseline), pixels.
        size: ``(width, height)`` of the text including its baseline, pixels.
        placed: ``(x0, y0, x1, y1)`` rectangles of labels already drawn; the chosen one is appended.
    Returns:
        the origin: ``wanted``, moved down one line at a time until it is free.
    """
    x, y = wanted
    width, height = size
    for _ in range(len(placed) + 1):
        rect = (x, y - height, x + width, y)
        if not any(rect[0] < p[2] and p[0] < rect[2] and rect[1] < p[3] and p[1] < rect[3] for p in placed):
            break
        y += height + 2
    placed.append((x, y - height, x + width, y))
    return x, y
