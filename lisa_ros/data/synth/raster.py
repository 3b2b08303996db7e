"""Rasterise placed parts: hard silhouettes for layout checks, shaded anti-aliased drawing for
the final image.

Coordinates: parts are in canonical scene pixels (:data:`~lisa_ros.data.synth.geometry.CANON_HEIGHT`
rows); an image ``scale`` times larger maps canonical ``x`` to ``(x + 0.5) * scale - 0.5`` so
pixel *areas* (not centres) line up at every resolution. Drawing uses 4 fractional bits
(``shift=4``) so sub-pixel geometry survives at low resolution.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lisa_ros.data.synth.geometry import Part

__all__ = ["to_pixels", "silhouette", "draw_object", "Light"]

_SHIFT = 4
_ONE = 1 << _SHIFT
_AMBIENT = 0.45
_DIFFUSE = 0.65


class Light:
    """Scene light: direction the light comes *from*, in the image plane (unit-ish ``dx, dy``,
    y down) plus an out-of-screen component, normalised to a 3-vector."""

    def __init__(self, dx: float, dy: float, dz: float = 0.8) -> None:
        v = np.array([dx, dy, dz], np.float64)
        self.x, self.y, self.z = (v / np.linalg.norm(v)).tolist()


def to_pixels(points: np.ndarray, scale: float) -> np.ndarray:
    """Canonical (N, 2) float points -> fixed-point int32 pixel points for ``shift=4``."""
    return np.round(((points + 0.5) * scale - 0.5) * _ONE).astype(np.int32)


def _stroke_px(part: Part, scale: float) -> int:
    return max(1, int(round(part.width * scale)))


def _draw_part(canvas: np.ndarray, part: Part, pts: np.ndarray, scale: float, value: int,
               line_type: int) -> None:
    if part.width > 0:
        cv2.polylines(canvas, [pts], part.closed, value, _stroke_px(part, scale), line_type,
                      _SHIFT)
    else:
        cv2.fillPoly(canvas, [pts], value, line_type, _SHIFT)


def silhouette(parts: list[Part], scale: float, shape: tuple[int, int]) -> np.ndarray:
    """Hard (non anti-aliased) union of an object's parts.

    :param shape: (H, W) of the output.
    :returns: (H, W) bool.
    """
    canvas = np.zeros(shape, np.uint8)
    for part in parts:
        if part.in_mask:
            _draw_part(canvas, part, to_pixels(part.poly, scale), scale, 1, cv2.LINE_8)
    return canvas.astype(bool)


def _part_box(part: Part, scale: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    pad = part.width * scale / 2 + 2
    xy = (part.poly + 0.5) * scale - 0.5
    x0 = max(0, int(math.floor(xy[:, 0].min() - pad)))
    y0 = max(0, int(math.floor(xy[:, 1].min() - pad)))
    x1 = min(shape[1], int(math.ceil(xy[:, 0].max() + pad)) + 1)
    y1 = min(shape[0], int(math.ceil(xy[:, 1].max() + pad)) + 1)
    return x0, y0, x1, y1


def _intensity(part: Part, xs: np.ndarray, ys: np.ndarray, scale: float,
               light: Light) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel brightness factor and specular term over a crop (both float32 broadcastable
    to (h, w)). ``xs`` is (1, w), ``ys`` is (h, 1), both in image pixels."""
    cx, cy = ((np.asarray(part.center) + 0.5) * scale - 0.5).tolist()
    r = max(part.radius * scale, 1.0)
    if part.shade == "cyl":
        nx, ny = -math.sin(part.axis), math.cos(part.axis)   # across the cylinder axis
        u = np.clip(((xs - cx) * nx + (ys - cy) * ny) / r, -1.0, 1.0)
        side = nx * light.x + ny * light.y
        lam = u * side + np.sqrt(1.0 - u * u) * light.z
        spec = part.gloss * np.exp(-((u - 0.55 * side) / 0.13) ** 2)
        inten = _AMBIENT + _DIFFUSE * np.maximum(lam, 0.0)
    elif part.shade == "sphere":
        u, v = (xs - cx) / r, (ys - cy) / r
        d2 = np.minimum(u * u + v * v, 1.0)
        lam = u * light.x + v * light.y + np.sqrt(1.0 - d2) * light.z
        inten = _AMBIENT + _DIFFUSE * np.maximum(lam, 0.0)
        spec = part.gloss * np.exp(-((u - 0.45 * light.x) ** 2 + (v - 0.45 * light.y) ** 2)
                                   / 0.025)
        if part.texture == "pores":
            inten = inten * (0.96 + 0.04 * np.sin(u * 41.0 + 1.3) * np.sin(v * 37.0 + 0.4))
    else:  # flat: a gentle gradient toward the light
        ext = max(r, 8.0 * scale)
        inten = 1.0 + 0.07 * ((xs - cx) * light.x + (ys - cy) * light.y) / ext
        inten = np.clip(inten, 0.85, 1.12)
        spec = np.zeros((1, 1), np.float32)
    return inten.astype(np.float32), spec.astype(np.float32)


def draw_object(image: np.ndarray, parts: list[Part], scale: float, light: Light) -> np.ndarray:
    """Draw one object's parts, in order, onto ``image`` with shading and anti-aliased edges.

    :param image: (H, W, 3) float32 RGB 0..255, modified in place.
    :returns: (H, W) uint8 coverage of the object's silhouette (0..255, max over parts);
        ``>= 128`` is the object's mask at this resolution.
    """
    shape = image.shape[:2]
    coverage = np.zeros(shape, np.uint8)
    for part in parts:
        x0, y0, x1, y1 = _part_box(part, scale, shape)
        if x1 <= x0 or y1 <= y0:
            continue
        pts = to_pixels(part.poly, scale) - np.array([x0 * _ONE, y0 * _ONE], np.int32)
        cov = np.zeros((y1 - y0, x1 - x0), np.uint8)
        _draw_part(cov, part, pts, scale, 255, cv2.LINE_AA)
        if part.in_mask:
            np.maximum(coverage[y0:y1, x0:x1], cov, out=coverage[y0:y1, x0:x1])
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        inten, spec = _intensity(part, xs, ys, scale, light)
        # Per-channel planes + cv2.merge: numpy broadcasting over a trailing axis of 3 is
        # several times slower, and this loop is most of a frame's drawing time.
        spec255 = np.float32(255.0) * np.broadcast_to(spec, inten.shape)
        colour = cv2.merge([np.minimum(np.float32(c) * inten + spec255, np.float32(255.0))
                            for c in part.rgb])
        alpha = cov.astype(np.float32) * np.float32(1.0 / 255.0)
        crop = image[y0:y1, x0:x1]
        crop += cv2.merge([alpha, alpha, alpha]) * (colour - crop)
        if part.outline > 0 and part.width == 0:
            line = np.zeros_like(cov)
            cv2.polylines(line, [pts], True, 255, max(1, int(round(scale))), cv2.LINE_AA,
                          _SHIFT)
            a = line.astype(np.float32) * np.float32(part.outline / 255.0)
            crop -= cv2.merge([a, a, a]) * crop
    return coverage
