"""Vector description of drawn objects: parts (polygons or strokes) and their placement.

Objects are built in *local units*: origin at the object's centre, x to the right, y down,
the object's nominal size is 1. :func:`place` maps parts to *canonical scene coordinates*:
pixels of a scene whose height is :data:`CANON_HEIGHT` (the width follows the image aspect),
so one layout renders identically at any resolution (``lisa_ros.data.synth.raster`` scales
canonical coordinates by ``height / CANON_HEIGHT``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["CANON_HEIGHT", "Part", "ellipse", "arc", "rect", "rounded_rect", "place",
           "placed_bbox", "parts_bbox"]

CANON_HEIGHT = 240  # canonical scene height in pixels; 320x240 renders 1:1


@dataclass
class Part:
    """One piece of an object, drawn in order (later parts over earlier ones).

    Attributes:
        poly: (N, 2) float64 points (x, y): a closed polygon, or a polyline when ``width > 0``.
        rgb: (3,) float32 base colour 0..255.
        shade: ``"flat"`` (gentle gradient), ``"cyl"`` (cylinder across ``axis``),
            ``"sphere"`` (ball lit from the scene's light direction).
        axis: cylinder axis direction in radians (image coordinates, y down).
        center: shading centre (x, y).
        radius: cylinder half-width or sphere radius (same units as ``poly``).
        gloss: strength of the specular highlight (0..1).
        width: stroke width; 0 means a filled polygon.
        closed: for strokes, whether the polyline is closed.
        outline: darken a 1-pixel outline by this fraction (0 = no outline).
        texture: None or ``"pores"`` (fine dimples, e.g. orange peel).
        in_mask: whether the part belongs to the object's silhouette (all do today; a
            future decal that may overhang would not).
    """

    poly: np.ndarray
    rgb: np.ndarray
    shade: str = "flat"
    axis: float = 0.0
    center: tuple[float, float] = (0.0, 0.0)
    radius: float = 1.0
    gloss: float = 0.2
    width: float = 0.0
    closed: bool = True
    outline: float = 0.0
    texture: str | None = None
    in_mask: bool = True


def ellipse(cx: float, cy: float, rx: float, ry: float, a0: float = 0.0, a1: float = 360.0,
            n: int = 40, rot: float = 0.0) -> np.ndarray:
    """Points on an ellipse (or its arc from ``a0`` to ``a1`` degrees, 0 = +x, 90 = +y/down),
    optionally rotated by ``rot`` degrees about its centre. Returns (n, 2) float64."""
    t = np.radians(np.linspace(a0, a1, n, endpoint=(a1 - a0) % 360 != 0))
    x, y = rx * np.cos(t), ry * np.sin(t)
    if rot:
        c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
        x, y = c * x - s * y, s * x + c * y
    return np.stack([cx + x, cy + y], axis=1)


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float,
        n: int = 24) -> np.ndarray:
    """An open elliptical arc from ``a0`` to ``a1`` degrees inclusive. Returns (n, 2)."""
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Axis-aligned rectangle corners, clockwise from top-left. Returns (4, 2)."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float,
                 n: int = 5) -> np.ndarray:
    """Rectangle with quarter-circle corners of radius ``r``. Returns (4n, 2)."""
    r = min(r, (x1 - x0) / 2, (y1 - y0) / 2)
    corners = [(x1 - r, y0 + r, -90, 0), (x1 - r, y1 - r, 0, 90),
               (x0 + r, y1 - r, 90, 180), (x0 + r, y0 + r, 180, 270)]
    return np.concatenate([arc(cx, cy, r, r, a, b, n) for cx, cy, a, b in corners])


def _mapper(size: float, angle_deg: float, cx: float, cy: float, mirror: bool, squash: float):
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    mx = -1.0 if mirror else 1.0

    def xy(p: np.ndarray) -> np.ndarray:
        x, y = p[..., 0] * mx * size, p[..., 1] * size
        return np.stack([c * x - s * y + cx, (s * x + c * y) * squash + cy], axis=-1)
    return xy, c, s


def place(parts: list[Part], size: float, angle_deg: float, cx: float, cy: float,
          mirror: bool = False, squash: float = 1.0) -> list[Part]:
    """Map local-unit parts to scene coordinates.

    Order of operations: mirror (x -> -x), scale by ``size``, rotate by ``angle_deg``
    (clockwise on screen, since y points down), squash y by ``squash`` (a flat object seen
    from an oblique camera looks shorter in depth), translate to (cx, cy).
    Shading centres, axes and radii follow the same map (radii scale with ``size``; the squash
    only bends the axis direction, the small radius error is invisible).
    """
    xy, c, s = _mapper(size, angle_deg, cx, cy, mirror, squash)
    out = []
    for part in parts:
        ax = math.pi - part.axis if mirror else part.axis
        dx, dy = math.cos(ax), math.sin(ax)
        rx, ry = c * dx - s * dy, (s * dx + c * dy) * squash
        out.append(replace(
            part,
            poly=xy(part.poly),
            center=tuple(xy(np.asarray(part.center, np.float64))),
            axis=math.atan2(ry, rx),
            radius=part.radius * size,
            width=part.width * size,
        ))
    return out


def placed_bbox(parts: list[Part], size: float, angle_deg: float, mirror: bool = False,
                squash: float = 1.0) -> tuple[float, float, float, float]:
    """:func:`parts_bbox` of ``place(parts, size, angle_deg, 0, 0, mirror, squash)``, without
    building the parts (the layout tries many poses per object)."""
    xy, _, _ = _mapper(size, angle_deg, 0.0, 0.0, mirror, squash)
    pts = xy(np.concatenate([p.poly for p in parts]))
    pads = np.concatenate([np.full(len(p.poly), p.width * size / 2) for p in parts])
    return (float((pts[:, 0] - pads).min()), float((pts[:, 1] - pads).min()),
            float((pts[:, 0] + pads).max()), float((pts[:, 1] + pads).max()))


def parts_bbox(parts: list[Part]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) covering every part, strokes' half-widths included."""
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for p in parts:
        pad = p.width / 2
        x0 = min(x0, p.poly[:, 0].min() - pad)
        y0 = min(y0, p.poly[:, 1].min() - pad)
        x1 = max(x1, p.poly[:, 0].max() + pad)
        y1 = max(y1, p.poly[:, 1].max() + pad)
    return x0, y0, x1, y1
