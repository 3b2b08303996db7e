"""Aligned depth, camera intrinsics and 3D ground truth for a rendered synthetic scene.

The 2D scenes already follow a pinhole camera over a level table: an object standing at
canonical row ``g`` is drawn ``FAR_SIZE + SIZE_GAIN * (g - y_lo) / (y_hi - y_lo)`` times its
nominal size (:mod:`~lisa_ros.data.synth.layout`), linear in ``g`` as ``1 / depth`` of a level
plane is linear in the image row. Where that size reaches zero is the horizon, and the
camera follows from it:

- focal length ``f = FOCAL_PER_HEIGHT * H`` pixels (fx = fy; 960 at 640x480, a 37 x 28 degree
  field of view), principal point at the image centre, no roll. A narrow lens, because the
  drawings show objects from the side and large: a wider one would need a steeper pitch
  (54 degrees at 63 degrees of field) and would make the objects larger in metres;
- pitch ``atan((cy - v_horizon) / f)`` below horizontal (31 to 37 degrees);
- height above the table such that the table at the image's bottom edge lies at
  ``near_z`` metres of depth, drawn per scene in :data:`NEAR_Z_RANGE`, so objects stand 0.5 to
  1.5 m away across scenes (objects are larger in metres in scenes drawn farther away: the 2D
  layout fixes their size in pixels).

Depth is z in the camera optical frame (x right, y down, z forward), metres, per pixel centre.
The table is the plane; above the wall edge of scenes with a wall, a vertical wall stands at
the table's back edge. Each object's visible pixels (the scene's own ``object_masks``) take
the depth of a simple solid standing where the object stands: an upright object is a
vertical cylinder whose front touches the table at the bottom centre of its outline, as
wide as the outline; a flat one (and a plate) is a slab of :data:`FLAT_HEIGHT` on the table.

Randomness (the scene's distance and the defects) comes from a stream of its own, derived
from the scene's seed and index: the RGB image, masks and text are untouched, and turning
defects on or off does not change the geometry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lisa_ros.core.depth import Intrinsics
from lisa_ros.data.synth.categories import get_category
from lisa_ros.data.synth.depth_defects import DepthDefects, apply_defects
from lisa_ros.data.synth.geometry import CANON_HEIGHT
from lisa_ros.data.synth.layout import FAR_SIZE, SIZE_GAIN, ground_rows
from lisa_ros.data.synth.scene import SEED_DOMAIN, SynthSample

__all__ = ["FOCAL_PER_HEIGHT", "NEAR_Z_RANGE", "FLAT_HEIGHT", "SceneCamera", "ObjectTruth3D",
           "SceneDepth", "scene_camera", "render_depth"]

FOCAL_PER_HEIGHT = 2.0
NEAR_Z_RANGE = (0.5, 0.98)   # metres: depth of the table at the bottom edge, per scene
FLAT_HEIGHT = {"book": 0.03, "plate": 0.015, "knife": 0.015, "scissors": 0.01}  # metres
_FLAT_DEFAULT_HEIGHT = 0.025
_FLAT_CATEGORIES = ("plate",)  # upright-pose categories that lie flat (as the layout orders them)
_DEPTH_STREAM = 0xDE9714      # keeps the depth draws apart from the scene's own streams


@dataclass(frozen=True)
class SceneCamera:
    """The camera of one scene: intrinsics, pitch below horizontal (radians) and height above
    the table (metres). World frame: origin on the table below the camera, x right, y forward
    (level), z up."""

    intrinsics: Intrinsics
    pitch: float
    height: float

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel centre ``(xn [1, W], yn [H, 1])``: the optical-frame ray ``(xn, yn, 1)``."""
        k = self.intrinsics
        xn = ((np.arange(k.width) - k.cx) / k.fx)[None, :]
        yn = ((np.arange(k.height) - k.cy) / k.fy)[:, None]
        return xn, yn

    def plane_depth(self, yn: np.ndarray, above: float = 0.0) -> np.ndarray:
        """Depth where rays of normalised row ``yn`` meet the level plane ``above`` metres
        over the table (inf where they never do)."""
        c, s = math.cos(self.pitch), math.sin(self.pitch)
        down = c * yn + s  # how fast the ray descends per metre of depth
        with np.errstate(divide="ignore"):
            return np.where(down > 0, (self.height - above) / down, np.inf)

    def to_world(self, xn: np.ndarray, yn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World direction (per metre of optical depth) of the ray ``(xn, yn, 1)``."""
        c, s = math.cos(self.pitch), math.sin(self.pitch)
        return xn, c - s * yn, -(c * yn + s)


@dataclass
class ObjectTruth3D:
    """Ground truth of one object, in the camera optical frame, metres.

    Attributes:
        index: position in ``sample.objects``; group_id: its ``[SEG]`` index or None.
        category: the object's category; solid: ``"cylinder"`` or ``"slab"``.
        centroid: mean of the visible surface points (noise-free depth under the visible mask).
        size: extents (max - min per axis) of those points.
        visible_pixels: how many there are.
        base: where the object meets the table (front of the cylinder, or the slab's centre at
            table height).
    """

    index: int
    group_id: int | None
    category: str
    solid: str
    centroid: tuple[float, float, float]
    size: tuple[float, float, float]
    visible_pixels: int
    base: tuple[float, float, float]

    def as_dict(self) -> dict:
        return {"index": self.index, "group_id": self.group_id, "category": self.category,
                "solid": self.solid, "visible_pixels": self.visible_pixels,
                "centroid": [round(v, 6) for v in self.centroid],
                "size": [round(v, 6) for v in self.size], "base": [round(v, 6) for v in self.base]}


@dataclass
class SceneDepth:
    """Depth of one scene.

    Attributes:
        depth_mm: ``uint16 [H, W]`` millimetres, 0 = no reading (the 16UC1 a camera sends),
            with the defects when asked for.
        intrinsics: of that image.
        truth: one :class:`ObjectTruth3D` per object of the sample, same order.
        depth_m: ``float32 [H, W]`` noise-free depth in metres (the geometry itself).
        camera: pitch and height.
        defects: the defects applied, or None.
    """

    depth_mm: np.ndarray
    intrinsics: Intrinsics
    truth: list[ObjectTruth3D]
    depth_m: np.ndarray = field(repr=False)
    camera: SceneCamera
    defects: DepthDefects | None = None

    def targets(self) -> list[ObjectTruth3D]:
        """Ground truth of the answer's targets, in ``[SEG]`` order."""
        by_group = {t.group_id: t for t in self.truth if t.group_id is not None}
        return [by_group[g] for g in sorted(by_group)]


def _depth_rng(sample: SynthSample) -> tuple[np.random.Generator, np.random.Generator]:
    """(geometry, defects) generators of the scene's own depth stream."""
    origin = 1 if sample.seed is None else 0  # scenes drawn from a caller's generator
    seq = np.random.SeedSequence([SEED_DOMAIN, _DEPTH_STREAM, origin, sample.seed or 0, sample.index])
    geometry, defects = seq.spawn(2)
    return np.random.default_rng(geometry), np.random.default_rng(defects)


def _to_pixels(canonical: float, scale: float) -> float:
    """Canonical coordinate -> output pixel (pixel areas line up, as the rasteriser maps)."""
    return (canonical + 0.5) * scale - 0.5


def scene_camera(horizon: float, size: tuple[int, int], near_z: float) -> SceneCamera:
    """The camera of a layout whose wall edge is at canonical row ``horizon``.

    :param size: (W, H) of the image.
    :param near_z: depth (metres) of the table at the bottom edge of the image.
    """
    w, h = size
    scale = h / CANON_HEIGHT
    y_lo, y_hi = ground_rows(horizon)
    v_horizon = _to_pixels(y_lo - FAR_SIZE / SIZE_GAIN * max(y_hi - y_lo, 1.0), scale)
    f = FOCAL_PER_HEIGHT * h
    k = Intrinsics(f, f, (w - 1) / 2.0, (h - 1) / 2.0, w, h)
    pitch = math.atan2(k.cy - v_horizon, f)
    bottom = (h - 0.5 - k.cy) / f  # the image's bottom edge: the same ray at every resolution
    return SceneCamera(k, pitch, near_z * (math.cos(pitch) * bottom + math.sin(pitch)))


def _background(camera: SceneCamera, horizon_px: float | None) -> np.ndarray:
    """``float64 [H, W]`` depth of the table, and of the wall above its edge."""
    xn, yn = camera.rays()
    table = np.broadcast_to(camera.plane_depth(yn), (camera.intrinsics.height, camera.intrinsics.width))
    if horizon_px is None:
        return table.copy()
    k = camera.intrinsics
    edge = (horizon_px - k.cy) / k.fy  # normalised row of the table's back edge
    _, forward_at_edge, _ = camera.to_world(0.0, edge)
    wall_distance = float(camera.plane_depth(np.array(edge))) * forward_at_edge  # level, from the camera
    _, forward, _ = camera.to_world(xn, yn)  # level distance covered per metre of depth, per row
    above_edge = np.arange(k.height)[:, None] < horizon_px
    return np.where(above_edge, np.broadcast_to(wall_distance / forward, table.shape), table)


def _cylinder_depth(camera: SceneCamera, base_px: tuple[float, float], half_width_px: float,
                    us: np.ndarray, vs: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Depth of pixels ``(us, vs)`` on a vertical cylinder whose front touches the table
    under pixel ``base_px``, of the radius that spans ``half_width_px`` there; and that base
    point (optical frame). Rays that miss the cylinder take their closest approach to it; no
    point lies below the table."""
    k = camera.intrinsics
    bx, by = (base_px[0] - k.cx) / k.fx, (base_px[1] - k.cy) / k.fy
    z_base = float(camera.plane_depth(np.array(by)))
    radius = half_width_px * z_base / k.fx
    wx, wy, _ = camera.to_world(np.array(bx), np.array(by))
    front = np.array([float(wx), float(wy)]) * z_base  # level position of the base point
    axis = front + radius * front / np.linalg.norm(front)
    xn, yn = (us - k.cx) / k.fx, (vs - k.cy) / k.fy
    dx, dy, _ = camera.to_world(xn, yn)
    a = dx * dx + dy * dy
    b = -2.0 * (dx * axis[0] + dy * axis[1])
    c = float(axis @ axis) - radius * radius
    t = (-b - np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))) / (2 * a)
    return np.minimum(t, camera.plane_depth(yn)), (bx * z_base, by * z_base, z_base)


def _object_solid(camera: SceneCamera, obj, scale: float, us: np.ndarray, vs: np.ndarray):
    """(depth of the pixels, solid name, base point) of one layout object."""
    x0, y0, x1, y1 = obj.bbox
    k = camera.intrinsics
    if get_category(obj.category).pose == "flat" or obj.category in _FLAT_CATEGORIES:
        above = FLAT_HEIGHT.get(obj.category, _FLAT_DEFAULT_HEIGHT)
        cu, cv = _to_pixels((x0 + x1) / 2, scale), _to_pixels((y0 + y1) / 2, scale)
        zc = float(camera.plane_depth(np.array((cv - k.cy) / k.fy)))
        base = ((cu - k.cx) / k.fx * zc, (cv - k.cy) / k.fy * zc, zc)
        return camera.plane_depth((vs - k.cy) / k.fy, above), "slab", base
    base_px = (_to_pixels((x0 + x1) / 2, scale), _to_pixels(y1, scale))
    depth, base = _cylinder_depth(camera, base_px, (x1 - x0) / 2 * scale, us, vs)
    return depth, "cylinder", base


def _truth(index, group_id, category, solid, base, us, vs, z, k: Intrinsics) -> ObjectTruth3D:
    pts = np.stack([(us - k.cx) / k.fx * z, (vs - k.cy) / k.fy * z, z], axis=1) if len(z) else np.zeros((1, 3))
    return ObjectTruth3D(index, group_id, category, solid, tuple(float(v) for v in pts.mean(axis=0)),
                         tuple(float(v) for v in np.ptp(pts, axis=0)), int(len(z)),
                         tuple(float(v) for v in base))


def render_depth(sample: SynthSample, defects: bool | DepthDefects = False) -> SceneDepth:
    """Depth, intrinsics and 3D ground truth of a scene from :func:`render_scene` (in memory:
    it needs ``sample.layout``).

    :param defects: False (exact geometry, rounded to millimetres), True (the default
        :class:`DepthDefects`) or your own.
    :raises ValueError: the sample has no layout (one read back from disk).
    """
    if sample.layout is None:
        raise ValueError(f"{sample.name}: no layout in memory; render it with render_scene")
    layout = sample.layout
    w, h = sample.size
    scale = h / CANON_HEIGHT
    geometry_rng, defects_rng = _depth_rng(sample)
    camera = scene_camera(layout.horizon, (w, h), float(geometry_rng.uniform(*NEAR_Z_RANGE)))
    k = camera.intrinsics
    depth = _background(camera, _to_pixels(layout.horizon, scale) if layout.horizon > 0 else None)
    truth = []
    for index, (obj, scene_obj) in enumerate(zip(layout.objects, sample.objects)):
        vs, us = np.nonzero(sample.object_masks[index])
        z, solid, base = _object_solid(camera, obj, scale, us.astype(np.float64), vs.astype(np.float64))
        depth[vs, us] = z
        truth.append(_truth(index, scene_obj.group_id, obj.category, solid, base, us, vs, z, k))
    exact = depth.astype(np.float32)
    chosen = DepthDefects() if defects is True else (defects or None)
    observed = apply_defects(exact, chosen, defects_rng) if chosen is not None else exact
    depth_mm = np.where(np.isfinite(observed) & (observed > 0), np.round(observed * 1000.0), 0)
    return SceneDepth(np.clip(depth_mm, 0, np.iinfo(np.uint16).max).astype(np.uint16), k, truth, exact,
                      camera, chosen)
