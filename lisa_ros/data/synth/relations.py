"""When is one object clearly left of another, clearly the largest, clearly the closest?

The thresholds are deliberately wide, so a person looking at the image would agree there is
one right answer: a relation that holds only marginally for some object makes the whole
query ambiguous, and the family tries another scene. Positions and areas come from the
canonical-resolution :class:`~lisa_ros.data.synth.layout.ObjectStats` (visible centroids,
visible and full areas, ground line), so the decision does not depend on the output size.
"""
from __future__ import annotations

import math

import numpy as np

from lisa_ros.data.synth.categories import get_category
from lisa_ros.data.synth.language import unique_desc
from lisa_ros.data.synth.layout import Layout

__all__ = ["AREA_MARGIN", "FULL_AREA_MARGIN", "POSITION_MARGIN", "DISTANCE_MARGIN",
           "SPATIAL_MARGIN", "SIDEWAYS_LIMIT", "spatial_relation", "unique_hit",
           "comparative_options"]

AREA_MARGIN = 1.4        # "largest"/"smallest": winner's visible area ratio to the runner-up
FULL_AREA_MARGIN = 1.2   # ... and the same direction for the whole outline
POSITION_MARGIN = 0.08   # "leftmost" etc.: gap to the runner-up, fraction of width / height
DISTANCE_MARGIN = 1.4    # "closest to": runner-up distance / winner distance
SPATIAL_MARGIN = 0.07    # "left of" etc.: clear offset, fraction of width / height
SIDEWAYS_LIMIT = 0.3     # "behind"/"in front of": at most this far sideways (fraction of W)


def _side(d: float, margin: float) -> int | None:
    """1: clearly negative (d < -margin); 0: clearly not (d > -0.4 margin); None: unclear."""
    if d < -margin:
        return 1
    if d > -0.4 * margin:
        return 0
    return None


def spatial_relation(layout: Layout, ref: int, j: int, rel: str) -> int | None:
    """Whether object ``j`` is ``rel`` (left/right/above/below) of ``ref``: 1, 0, None."""
    a, b = layout.stats[ref], layout.stats[j]
    mx, my = SPATIAL_MARGIN * layout.width, SPATIAL_MARGIN * layout.height
    if rel in ("left", "right"):
        d = b.cx - a.cx
        return _side(d if rel == "left" else -d, mx)
    sign = 1.0 if rel == "above" else -1.0
    ground = _side(sign * (b.ground_y - a.ground_y), my)
    centre = _side(sign * (b.cy - a.cy), 0.5 * my)
    if ground == 0:
        return 0
    if ground is None or centre != 1:
        return None
    if abs(b.cx - a.cx) > SIDEWAYS_LIMIT * layout.width:
        return None  # far to the side: "behind" would be a stretch, and so would "not"
    return 1


def unique_hit(layout: Layout, ref: int, rel: str, pool: list[int]) -> int | None:
    """The one object of ``pool`` that is clearly ``rel`` of ``ref`` and clearly visible, or
    None when there is no such object, several, or any unclear case."""
    hits, unclear = [], False
    for j in pool:
        r = spatial_relation(layout, ref, j, rel)
        unclear |= r is None
        if r == 1:
            hits.append(j)
    if unclear or len(hits) != 1 or not layout.is_clear_target(hits[0]):
        return None
    return hits[0]


def _extreme(values: list[float], largest: bool, ratio: float | None,
             gap: float | None) -> int | None:
    """Index of the clear maximum (or minimum) of ``values``: by ``ratio`` or by ``gap``."""
    if len(values) < 2:
        return None
    order = np.argsort(values, kind="stable")
    best, second = (order[-1], order[-2]) if largest else (order[0], order[1])
    vb, vs = values[best], values[second]
    if ratio is not None:
        ok = vb >= ratio * vs if largest else vs >= ratio * vb
    else:
        ok = abs(vb - vs) >= gap
    return int(best) if ok else None


def comparative_options(layout: Layout, rng) -> list[tuple[str, int, str | None, int | None]]:
    """(criterion, winner, category noun or None, reference or None) of every clear case."""
    st = layout.stats
    groups: list[tuple[list[int], str | None]] = [(list(range(len(layout))), None)]
    for cat in sorted({o.category for o in layout.objects}):
        same = [i for i, o in enumerate(layout.objects) if o.category == cat]
        if len(same) >= 2 and not get_category(cat).plural:
            groups.append((same, cat))
    out = []
    gx, gy = POSITION_MARGIN * layout.width, POSITION_MARGIN * layout.height
    for pool, noun in groups:
        if len(pool) < 2:
            continue
        vis = [float(st[i].visible_area) for i in pool]
        full = [float(st[i].full_area) for i in pool]
        for crit, largest in (("largest", True), ("smallest", False)):
            w = _extreme(vis, largest, AREA_MARGIN, None)
            if w is not None and w == _extreme(full, largest, FULL_AREA_MARGIN, None):
                out.append((crit, pool[w], noun, None))
        xs = [st[i].cx for i in pool]
        for crit, largest in (("leftmost", False), ("rightmost", True)):
            w = _extreme(xs, largest, None, gx)
            if w is not None:
                out.append((crit, pool[w], noun, None))
        grounds = [st[i].ground_y for i in pool]
        cys = [st[i].cy for i in pool]
        for crit, largest in (("front", True), ("back", False)):
            w = _extreme(grounds, largest, None, gy)
            if w is not None and w == _extreme(cys, largest, None, 0.0):
                out.append((crit, pool[w], noun, None))
        for ref in range(len(layout)):
            cand = [i for i in pool if i != ref]
            if len(cand) < 2 or unique_desc(layout, ref, rng, 0.0) is None:
                continue
            dist = [math.hypot(st[i].cx - st[ref].cx, st[i].cy - st[ref].cy) for i in cand]
            for crit, largest in (("closest", False), ("farthest", True)):
                w = _extreme(dist, largest, DISTANCE_MARGIN, None)
                if w is not None and abs(dist[w] - sorted(dist)[1 if not largest else -2]) \
                        >= SPATIAL_MARGIN * layout.width:
                    out.append((crit, cand[w], noun, ref))
    return [o for o in out if layout.is_clear_target(o[1])]
