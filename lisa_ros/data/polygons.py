"""Labelme polygons <-> masks, with the ReasonSeg rasterisation rules.

Coordinates are image pixel coordinates: ``x`` is the column, ``y`` the row, origin at the
top-left pixel's centre. Shapes are labelme-style dicts::

    {"label": "target" | "ignore" | ..., "points": [[x, y], ...], "group_id": int | None,
     "shape_type": "polygon", "flags": {}}

Rasterisation (official ReasonSeg, docs/model-reference.md §9.3), reproduced exactly:

1. shapes whose label is ``"flag"`` (any case) are skipped;
2. points are cast to int32 the way ``np.array(points, dtype=np.int32)`` does: truncation
   toward zero, not rounding;
3. each polygon's area is the pixel count it covers when drawn alone (step 4), and the
   polygons are drawn largest first, so smaller polygons overwrite larger ones (this is how an
   ``ignore`` hole inside a target is expressed); equal areas are ordered by the very call
   the official code makes (:func:`official_draw_order`);
4. each polygon is drawn with ``cv2.polylines`` (closed, thickness 1) and then ``cv2.fillPoly``,
   value 255 when ``"ignore"`` occurs in the label (any case), else 1.

Out-of-range points: cv2 clips while drawing, as in the official code, so a polygon that pokes
slightly outside the image keeps its in-image part. A point further than
:func:`out_of_range_tolerance` outside the image means the JSON does not belong to this image
(wrong file, resized image) and raises :class:`DatasetError`.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from lisa_ros.data.errors import DatasetError

__all__ = [
    "TARGET_VALUE", "IGNORE_VALUE", "TARGET_LABEL", "IGNORE_LABEL",
    "is_flag_label", "is_ignore_label", "out_of_range_tolerance", "shape_points",
    "official_draw_order",
    "rasterize_shapes", "mask_to_polygons", "masks_to_shapes",
]

TARGET_VALUE = 1      # official mask value of a target pixel
IGNORE_VALUE = 255    # official mask value of an ignored pixel (excluded from the metrics)
TARGET_LABEL = "target"
IGNORE_LABEL = "ignore"

# Polygon simplification of our writer (pixels): Douglas-Peucker tolerance. At 0.5 the
# rasterised polygons match the source mask with a mean IoU of about 0.994 at 320x240, with
# ~45 points per target (0.7: 0.987, 1.0: 0.974); tests/data check >= 0.97.
DEFAULT_EPSILON_PX = 0.5
# Connected pieces smaller than this (contour area, px^2) are dropped when writing: they are
# anti-aliasing crumbs, not object parts.
DEFAULT_MIN_AREA_PX = 4.0
# Holes of a target smaller than this many pixels are not worth an ``ignore`` polygon.
DEFAULT_HOLE_MIN_PX = 4


def _cv2():
    import cv2  # heavy-ish; imported where used
    return cv2


def is_flag_label(label: str) -> bool:
    """True for the deprecated ``"flag"`` shapes the official loader skips."""
    return label.lower() == "flag"


def is_ignore_label(label: str) -> bool:
    """True when the shape marks pixels to exclude from training targets and metrics."""
    return "ignore" in label.lower()


def out_of_range_tolerance(height: int, width: int) -> float:
    """How far (pixels) a point may lie outside the image before the shape is rejected:
    2 px or 2 % of the longer side, whichever is larger (labelme lets a click land on or just
    past the border; anything further means the JSON does not match the image)."""
    return max(2.0, 0.02 * max(height, width))


def shape_points(shape: dict, height: int, width: int, where: str = "") -> np.ndarray:
    """Validate one shape's points and cast them like the official loader.

    :param shape: a labelme shape dict.
    :param height, width: image size in pixels.
    :param where: file name (or similar) to put in error messages.
    :returns: (N, 2) int32 array of (x, y), truncated toward zero.
    :raises DatasetError: missing/empty/non-numeric/non-finite points, or a point further than
        :func:`out_of_range_tolerance` outside the image.
    """
    if not isinstance(shape, dict) or "points" not in shape:
        raise DatasetError(f"{where}: shape without 'points': {shape!r:.80}")
    try:
        pts = np.asarray(shape["points"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: shape points are not numeric [x, y] pairs") from exc
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise DatasetError(f"{where}: shape points must be a non-empty list of [x, y] pairs, "
                           f"got array of shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise DatasetError(f"{where}: shape points contain NaN or infinity")
    tol = out_of_range_tolerance(height, width)
    lo = -tol
    if (pts[:, 0].min() < lo or pts[:, 1].min() < lo
            or pts[:, 0].max() > width - 1 + tol or pts[:, 1].max() > height - 1 + tol):
        raise DatasetError(
            f"{where}: polygon out of range for a {width}x{height} image "
            f"(x in [{pts[:, 0].min():.1f}, {pts[:, 0].max():.1f}], "
            f"y in [{pts[:, 1].min():.1f}, {pts[:, 1].max():.1f}], tolerance {tol:.1f} px)")
    return pts.astype(np.int32)  # C cast: truncation toward zero, like np.array(..., int32)


def _draw(canvas: np.ndarray, pts: np.ndarray, value: int) -> None:
    cv2 = _cv2()
    cv2.polylines(canvas, [pts], True, int(value), 1)
    cv2.fillPoly(canvas, [pts], int(value))


def official_draw_order(areas: Sequence[int]) -> np.ndarray:
    """Indices in the order the official loader draws polygons of the given pixel areas:
    ``np.argsort(areas)[::-1]`` on a uint64 array (largest first; ties as numpy's default,
    unstable, sort leaves them)."""
    return np.argsort(np.asarray(areas, dtype=np.uint64))[::-1]


def rasterize_shapes(shapes: Iterable[dict], height: int, width: int,
                     where: str = "") -> np.ndarray:
    """Official ReasonSeg mask of a list of shapes (see the module docstring for the rules).

    :returns: (height, width) uint8 with values in {0, 1, 255}.
    :raises DatasetError: a malformed shape (see :func:`shape_points`) or a non-string label.
    """
    entries = []  # (points, value) in file order, flags removed
    for shape in shapes:
        label = shape.get("label") if isinstance(shape, dict) else None
        if not isinstance(label, str):
            raise DatasetError(f"{where}: shape without a string 'label': {shape!r:.80}")
        if is_flag_label(label):
            continue
        value = IGNORE_VALUE if is_ignore_label(label) else TARGET_VALUE
        entries.append((shape_points(shape, height, width, where), value))

    mask = np.zeros((height, width), np.uint8)
    if not entries:
        return mask
    scratch = np.zeros((height, width), np.uint8)
    areas = []
    for pts, _ in entries:
        scratch[:] = 0
        _draw(scratch, pts, 1)
        areas.append(int(np.count_nonzero(scratch)))
    # The official call, dtype included (uint8 mask .sum() gives uint64): numpy's default
    # argsort is not stable, so equal areas come out in whatever order it gives, and copying
    # the call is the only way to draw ties exactly as the official loader does.
    order = official_draw_order(areas)
    for i in order:
        pts, value = entries[i]
        _draw(mask, pts, value)
    return mask


def mask_to_polygons(mask: np.ndarray, epsilon: float = DEFAULT_EPSILON_PX,
                     min_area: float = DEFAULT_MIN_AREA_PX) -> list[np.ndarray]:
    """Outer boundaries of a binary mask as simplified polygons.

    :param mask: (H, W) bool or integer array; non-zero is foreground.
    :param epsilon: Douglas-Peucker tolerance in pixels (``cv2.approxPolyDP``); 0 keeps every
        boundary pixel.
    :param min_area: pieces whose contour area is below this (px^2) are dropped.
    :returns: list of (N, 2) int32 arrays of (x, y) pixel coordinates, N >= 3, one per
        connected piece, largest first. Holes are not represented here (see
        :func:`masks_to_shapes`).
    """
    cv2 = _cv2()
    m = np.ascontiguousarray(mask != 0, dtype=np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = []
    for c in contours:
        area = cv2.contourArea(c)
        if area < min_area:
            continue
        approx = cv2.approxPolyDP(c, epsilon, True) if epsilon > 0 else c
        if len(approx) < 3:
            approx = c
        if len(approx) < 3:
            continue  # a one- or two-pixel line: not a polygon
        polys.append((area, approx.reshape(-1, 2).astype(np.int32)))
    polys.sort(key=lambda p: -p[0])
    return [p for _, p in polys]


def _holes(mask: np.ndarray, min_px: int) -> np.ndarray:
    """Pixels enclosed by ``mask`` but not in it (exact, from the unsimplified outline),
    keeping only enclosed pieces of at least ``min_px`` pixels."""
    cv2 = _cv2()
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, contours, -1, 1, thickness=-1)
    holes = ((filled != 0) & ~mask).astype(np.uint8)
    if not holes.any():
        return holes.astype(bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_px
    return keep[labels]


def _shape(label: str, poly: np.ndarray, group_id: int | None) -> dict:
    return {"label": label, "points": poly.tolist(), "group_id": group_id,
            "shape_type": "polygon", "flags": {}}


def masks_to_shapes(target_masks: Sequence[np.ndarray],
                    ignore_masks: Sequence[np.ndarray | None] | None = None,
                    epsilon: float = DEFAULT_EPSILON_PX,
                    min_area: float = DEFAULT_MIN_AREA_PX,
                    hole_min_px: int = DEFAULT_HOLE_MIN_PX) -> list[dict]:
    """Labelme shapes for per-[SEG] target masks, group ``k`` for the k-th mask.

    Each target becomes ``target`` polygons (its outer boundaries, group ``k``). Its holes
    (e.g. the background seen through a mug handle or a scissors ring) become ``ignore``
    polygons of group ``k``: the official format has no other way to write a hole (smaller
    polygons overwrite larger ones, with 1 or 255, never 0), and such pixels are genuinely
    ambiguous. ``ignore_masks[k]`` (optional, e.g. the target's cast shadow) adds further
    ``ignore`` polygons of group ``k``.

    :param target_masks: K masks (H, W), bool or integer (non-zero = target).
    :param ignore_masks: None or K entries, each None or an (H, W) mask.
    :returns: shapes in the order target polygons, hole polygons, extra ignore polygons, per
        group. Points are ints.
    """
    shapes: list[dict] = []
    for k, tmask in enumerate(target_masks):
        tmask = np.asarray(tmask) != 0
        outer = mask_to_polygons(tmask, epsilon, min_area)
        shapes.extend(_shape(TARGET_LABEL, p, k) for p in outer)
        if outer:
            holes = _holes(tmask, hole_min_px)
            shapes.extend(_shape(IGNORE_LABEL, p, k)
                          for p in mask_to_polygons(holes, min(epsilon, 0.5), 0.0))
        if ignore_masks is not None and ignore_masks[k] is not None:
            imask = (np.asarray(ignore_masks[k]) != 0) & ~tmask
            shapes.extend(_shape(IGNORE_LABEL, p, k)
                          for p in mask_to_polygons(imask, epsilon, float(hole_min_px)))
    return shapes
