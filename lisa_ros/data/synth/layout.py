"""Scene layout: which objects, where, in what depth order, and what of each stays visible.

Everything here is in canonical scene pixels (height :data:`CANON_HEIGHT`, see
:mod:`lisa_ros.data.synth.geometry`) and evaluated on hard silhouettes at that resolution,
so the instruction logic that reads :class:`ObjectStats` decides the same way whatever the
final image size.

Depth: the scene is a table seen obliquely, so an object standing lower in the image is
nearer the camera and is drawn later (it occludes what is behind it). Upright objects are
ordered by the bottom of their outline, flat ones (and plates) by their centre, so a mug
standing on a book is drawn after the book.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from lisa_ros.data.synth.categories import CATEGORIES, CATEGORY_NAMES, get_category
from lisa_ros.data.synth.geometry import CANON_HEIGHT, Part, place, placed_bbox
from lisa_ros.data.synth.palette import COLOURS, jitter
from lisa_ros.data.synth.raster import silhouette

__all__ = ["MIN_VISIBLE_FRACTION", "MIN_VISIBLE_AREA", "TARGET_VISIBLE_FRACTION",
           "TARGET_MIN_AREA", "FAR_SIZE", "SIZE_GAIN", "LayoutRequest", "LayoutObject",
           "ObjectStats", "Layout", "sample_layout", "canonical_size", "ground_rows"]

MIN_VISIBLE_FRACTION = 0.45   # every object keeps at least this much of itself visible
MIN_VISIBLE_AREA = 90         # ... and at least this many canonical pixels
TARGET_VISIBLE_FRACTION = 0.6  # an object an instruction points at must be clearly visible
TARGET_MIN_AREA = 150
MAX_OBJECTS = 6
OBJECT_SCALE = 1.3            # all category sizes times this (objects big enough to read)
_EDGE_MARGIN = 3.0            # canonical px kept free at the image border
_PLACE_TRIES = 30
_FLAT_DEPTH = ("plate",)      # upright-pose categories that are ordered like flat ones
_MAX_SAME = 2                 # objects of one category per scene (required ones excepted)
# Drawn size of an object standing at canonical row g: FAR_SIZE + SIZE_GAIN * (g - y_lo) /
# (y_hi - y_lo) of its nominal size (ground_rows gives y_lo, y_hi). Linear in g, as a pinhole
# camera's 1 / depth is over a level table: synth.depth_render derives the camera from it.
FAR_SIZE = 0.72
SIZE_GAIN = 0.38


def canonical_size(size: tuple[int, int]) -> tuple[int, int]:
    """Canonical (W, H) for an output size (W, H): height 240, same aspect ratio."""
    w, h = size
    return max(1, int(round(w * CANON_HEIGHT / h))), CANON_HEIGHT


def ground_rows(horizon: float, height: int = CANON_HEIGHT) -> tuple[float, float]:
    """(y_lo, y_hi): the canonical rows between which objects stand (their outline's bottom),
    for a wall edge at ``horizon`` (0 = no wall)."""
    return max(horizon + 0.1 * height, 0.3 * height), height - _EDGE_MARGIN


@dataclass
class LayoutRequest:
    """What an instruction family needs from a scene.

    Attributes:
        n_objects: total object count (1..6), required ones included.
        required: (category, colour or None) pairs that must appear, once each.
        forbidden: categories that must not appear apart from ``required``.
        duplicate_prob: chance that a free object repeats a category already in the scene
            (same-category distractors make colour and position matter).
    """

    n_objects: int
    required: list[tuple[str, str | None]] = field(default_factory=list)
    forbidden: frozenset[str] = frozenset()
    duplicate_prob: float = 0.25


@dataclass
class LayoutObject:
    """One placed object (canonical coordinates)."""

    category: str
    colour: str
    parts: list[Part]
    bbox: tuple[float, float, float, float]   # (x0, y0, x1, y1) of the full outline
    depth: float                              # sort key: larger = nearer the camera
    lift: float                               # how far its shadow is cast (canonical px)


@dataclass
class ObjectStats:
    """Measured on the canonical silhouettes.

    Attributes:
        full_area, visible_area: pixels of the whole outline / of the unoccluded part.
        visible_fraction: ``visible_area / full_area``.
        cx, cy: centroid of the visible part (x right, y down).
        ground_y: bottom of the full outline (where the object meets the table).
        bbox: (x0, y0, x1, y1) of the visible part, inclusive pixel indices.
    """

    full_area: int
    visible_area: int
    visible_fraction: float
    cx: float
    cy: float
    ground_y: float
    bbox: tuple[int, int, int, int]


@dataclass
class Layout:
    """A complete object arrangement, back to front.

    ``full_masks`` and ``visible_masks`` are (n, H, W) bool at canonical size ``(width,
    height)``; ``horizon`` is the canonical y where the wall meets the table (0 = no wall).
    """

    width: int
    height: int
    horizon: float
    objects: list[LayoutObject]
    full_masks: np.ndarray
    visible_masks: np.ndarray
    stats: list[ObjectStats]

    def __len__(self) -> int:
        return len(self.objects)

    def is_clear_target(self, i: int) -> bool:
        """Whether object ``i`` is visible enough to be what an instruction points at."""
        s = self.stats[i]
        return s.visible_fraction >= TARGET_VISIBLE_FRACTION and s.visible_area >= TARGET_MIN_AREA

    def count(self, category: str, colour: str | None = None) -> int:
        return sum(o.category == category and (colour is None or o.colour == colour)
                   for o in self.objects)


def _choose_objects(rng: np.random.Generator, req: LayoutRequest) -> list[tuple[str, str]]:
    chosen = [(cat, colour or str(rng.choice(get_category(cat).colours)))
              for cat, colour in req.required]
    free = [c for c in CATEGORY_NAMES if c not in req.forbidden]
    while len(chosen) < req.n_objects and free:
        # at most two of a kind: a pair is what makes colour or position matter
        counts = {c: sum(1 for k, _ in chosen if k == c) for c in free}
        present = [c for c, _ in chosen if c in free and counts[c] < _MAX_SAME]
        if present and rng.random() < req.duplicate_prob:
            cat = str(rng.choice(present))
        else:
            unused = [c for c in free if counts[c] == 0] or \
                [c for c in free if counts[c] < _MAX_SAME] or free
            cat = str(rng.choice(unused))
        chosen.append((cat, str(rng.choice(CATEGORIES[cat].colours))))
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order]


def _depth_key(category: str, bbox: tuple[float, float, float, float]) -> float:
    if get_category(category).pose == "flat" or category in _FLAT_DEPTH:
        return (bbox[1] + bbox[3]) / 2
    return bbox[3]


def _visible(full: list[np.ndarray], depths: list[float]) -> tuple[list[int], np.ndarray]:
    """Back-to-front order and visible masks (in that order)."""
    order = sorted(range(len(full)), key=lambda i: depths[i])
    masks = np.stack([full[i] for i in order])
    vis = masks.copy()
    covered = np.zeros(masks.shape[1:], bool)
    for k in range(len(order) - 1, -1, -1):
        vis[k] &= ~covered
        covered |= masks[k]
    return order, vis


def _encloses_others(vis: np.ndarray) -> bool:
    """True when some object's visible region has a hole that another object fills (an
    object wholly inside another's outline): such a target would need an ignore hole over a
    second object, which official readers would merge badly."""
    for k in range(len(vis)):
        m = vis[k].astype(np.uint8)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        filled = np.zeros_like(m)
        cv2.drawContours(filled, contours, -1, 1, thickness=-1)
        hole = (filled != 0) & ~vis[k]
        if hole.any():
            others = np.delete(vis, k, axis=0).any(axis=0)
            if np.count_nonzero(hole & others) > 8:
                return True
    return False


def _overlaps(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _still_visible(full: list[np.ndarray], depths: list[float]) -> bool:
    """Every object keeps its minimum visible share, and none sits inside another."""
    order, vis = _visible(full, depths)
    areas = vis.reshape(len(order), -1).sum(axis=1)
    fulls = np.array([full[i].sum() for i in order])
    if np.any(areas < MIN_VISIBLE_AREA) or np.any(areas < MIN_VISIBLE_FRACTION * fulls):
        return False
    return not _encloses_others(vis)


def _stats(full: np.ndarray, vis: np.ndarray, bbox) -> ObjectStats:
    m8 = vis.view(np.uint8)
    mom = cv2.moments(m8, binaryImage=True)
    va, fa = int(mom["m00"]), int(np.count_nonzero(full))
    if va:
        x, y, w, h = cv2.boundingRect(m8)
        box = (x, y, x + w - 1, y + h - 1)
        cx, cy = mom["m10"] / va, mom["m01"] / va
    else:
        box, cx, cy = (0, 0, 0, 0), math.nan, math.nan
    return ObjectStats(fa, va, va / max(fa, 1), float(cx), float(cy), float(bbox[3]), box)


def _pose(rng: np.random.Generator, category: str) -> tuple[float, bool, float]:
    """(angle in degrees, mirror, depth squash) for a category."""
    if get_category(category).pose == "flat":
        return float(rng.uniform(0, 360)), bool(rng.random() < 0.5), float(rng.uniform(0.6, 0.85))
    tilt = float(np.clip(rng.normal(0.0, 3.0), -7.0, 7.0)) if category != "plate" else 0.0
    return tilt, bool(rng.random() < 0.5), 1.0


def sample_layout(rng: np.random.Generator, req: LayoutRequest,
                  width: int, height: int = CANON_HEIGHT) -> Layout | None:
    """Place the requested objects at random, keeping each one visibly present.

    Objects are placed one at a time at random positions (objects further back are drawn
    smaller); a position is kept when every object placed so far still shows at least
    :data:`MIN_VISIBLE_FRACTION` of itself and no object ends up wholly inside another's
    outline. Overlaps within those limits are welcome: they make the occlusion cases.

    :param width, height: canonical canvas size.
    :returns: the layout, or None when some object found no valid position (the caller
        draws a new request).
    """
    horizon = float(rng.uniform(0.12, 0.3) * height) if rng.random() < 0.35 else 0.0
    chosen = _choose_objects(rng, req)
    crowd = float(np.clip(1.0 - 0.05 * (len(chosen) - 3), 0.82, 1.05))
    y_lo, y_hi = ground_rows(horizon, height)
    placed: list[LayoutObject] = []
    full: list[np.ndarray] = []
    for category, colour in chosen:
        cat = get_category(category)
        local = cat.build(rng, jitter(COLOURS[colour], rng))
        size0 = cat.size * OBJECT_SCALE * float(rng.uniform(0.85, 1.15)) * crowd
        ok = False
        for _ in range(_PLACE_TRIES):
            ground = float(rng.uniform(y_lo, y_hi))
            size = size0 * (FAR_SIZE + SIZE_GAIN * (ground - y_lo) / max(y_hi - y_lo, 1.0))
            angle, mirror, squash = _pose(rng, category)
            x0, y0, x1, y1 = placed_bbox(local, size, angle, mirror, squash)
            dy = ground - y1
            if y0 + dy < max(_EDGE_MARGIN, horizon * 0.6):
                continue
            lo, hi = _EDGE_MARGIN - x0, width - _EDGE_MARGIN - x1
            if hi < lo:
                continue
            dx = float(rng.uniform(lo, hi))
            parts = place(local, size, angle, dx, dy, mirror, squash)
            bbox = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
            mask = silhouette(parts, 1.0, (height, width))
            depth = _depth_key(category, bbox)
            if any(_overlaps(bbox, o.bbox) for o in placed) and \
                    not _still_visible(full + [mask], [o.depth for o in placed] + [depth]):
                continue
            lift = (y1 - y0) * (0.12 if cat.pose == "upright" else 0.03)
            placed.append(LayoutObject(category, colour, parts, bbox, depth, lift))
            full.append(mask)
            ok = True
            break
        if not ok:
            return None
    order, vis = _visible(full, [o.depth for o in placed])
    objects = [placed[i] for i in order]
    fulls = np.stack([full[i] for i in order])
    stats = [_stats(fulls[k], vis[k], objects[k].bbox) for k in range(len(objects))]
    return Layout(width, height, horizon, objects, fulls, vis, stats)
