"""Objects in metres: each mask's 3D points, robust centroid and extents from an aligned depth.

Frame and units: the camera optical frame (x right, y down, z forward), metres; see
:mod:`lisa_ros.core.depth` for the pixel convention. Masks are the core's ``bool [H, W]`` at
the colour image's resolution; the depth image must show the same field of view (registered
to the colour camera, e.g. a RealSense ``aligned_depth_to_color``), at that or another
resolution of the same aspect ratio.

The rule, per mask (:func:`objects_3d`):

1. **Resample** the mask to the depth resolution by nearest neighbour (depth pixel ``(u, v)``
   reads colour pixel ``(floor((u + 0.5) W / W_d), floor((v + 0.5) H / H_d))``) and scale the
   intrinsics to the depth image (:meth:`Intrinsics.scaled_to`). Another aspect ratio is refused.
2. **Erode** the mask by ``erode_px`` *depth* pixels: drop the pixels within that Euclidean
   distance (OpenCV's 5x5 approximation) of a pixel outside the mask; the image border does
   not count as outside. An object's outline is where a depth camera mixes foreground and
   background ("flying pixels") and where a mask is least sure. The radius shrinks (down to
   0) until the eroded mask keeps at least ``erode_keep_fraction`` of the mask's pixels and
   ``min_points`` valid ones: a thin part (a knife's blade) would otherwise vanish and drag
   the centroid onto the rest.
3. **Clip**: keep pixels with depth in ``[min_depth, max_depth]`` metres (NaN never passes).
4. **Gate** (median/MAD): with ``m`` the median depth and ``s = max(1.4826 * MAD, mad_floor)``
   (the MAD scaled to a Gaussian's sigma), keep ``|z - m| <= mad_gate * s``.
5. **Nearest dense cluster** along z: histogram the gated depths in bins of ``cluster_bin``
   metres; a bin is *dense* when it holds at least ``cluster_density`` times the fullest bin's
   count; clusters are runs of dense bins, a run ending where more than ``cluster_gap_bins``
   sparse bins follow. Keep the nearest cluster that holds at least ``cluster_min_fraction`` of
   the gated points (the largest when none does): a mask that spills onto the table behind an
   object or catches isolated in-between readings keeps the object's surface.
6. **Result**: back-project the kept pixels; the centroid is their mean; the size is, per axis
   of the optical frame, the spread between the ``extent_percentiles``, widened by the erosion
   (``2 * erode * z_centroid / f`` in x and y: the eroded rim was part of the object). Fewer than
   ``min_points`` kept points: status TOO_FEW_POINTS with the reason, centroid and size zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

import numpy as np

from .depth import Intrinsics, check_same_aspect, depth_to_metres
from .errors import DepthError
from .validation import DEFAULT_MAX_IMAGE_PIXELS

__all__ = [
    "Object3DSettings", "Object3DStatus", "Object3D", "objects_3d", "label_image", "stacked_points",
    "with_3d",
]

_MAD_TO_SIGMA = 1.4826  # MAD of a Gaussian times this is its standard deviation


class Object3DStatus(IntEnum):
    """Whether a mask got 3D, and if not, why (the 2D mask is valid either way)."""

    OK = 0
    NO_DEPTH = 1  # no depth image came with this result (or it was too old to pair)
    INVALID_DEPTH = 2  # depth or intrinsics unusable: encoding, dtype, 0x0, K, aspect ratio, no valid pixel
    TOO_FEW_POINTS = 3  # this mask has fewer than min_points valid depth points


@dataclass(frozen=True)
class Object3DSettings:
    """Parameters of the rule in the module docstring (lengths in metres).

    Attributes:
        erode_px: largest mask erosion radius in depth-image pixels (0 = none).
        erode_keep_fraction: the erosion radius shrinks until this share of the mask remains.
        min_depth, max_depth: valid depth range; readings outside are dropped.
        min_points: fewest kept points for a 3D result.
        mad_gate: keep depths within this many robust sigmas of the median.
        mad_floor: smallest robust sigma (a flat, noise-free surface has MAD 0).
        cluster_bin: histogram bin width along z.
        cluster_density: a bin is dense at this fraction of the fullest bin's count.
        cluster_gap_bins: more sparse bins than this in a row separate two clusters.
        cluster_min_fraction: the nearest cluster holding this share of the gated points wins.
        extent_percentiles: (low, high) percentiles spanning the size on each axis.
    """

    erode_px: int = 2
    erode_keep_fraction: float = 0.8
    min_depth: float = 0.1
    max_depth: float = 10.0
    min_points: int = 30
    mad_gate: float = 3.0
    mad_floor: float = 0.005
    cluster_bin: float = 0.01
    cluster_density: float = 0.05
    cluster_gap_bins: int = 1
    cluster_min_fraction: float = 0.2
    extent_percentiles: tuple[float, float] = (0.5, 99.5)

    def __post_init__(self) -> None:
        lo, hi = self.extent_percentiles
        if self.erode_px < 0 or self.min_points < 1 or not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"invalid settings: erode_px >= 0, min_points >= 1, 0 < min_depth < max_depth: {self}")
        if self.mad_gate <= 0 or self.mad_floor < 0 or self.cluster_bin <= 0 or not 0 <= lo < hi <= 100:
            raise ValueError(f"invalid settings: gate, bin > 0 and 0 <= percentile low < high <= 100: {self}")
        if not 0 <= self.erode_keep_fraction <= 1:
            raise ValueError(f"invalid settings: erode_keep_fraction in [0, 1]: {self}")
        if not 0 < self.cluster_density <= 1 or not 0 < self.cluster_min_fraction <= 1 or self.cluster_gap_bins < 0:
            raise ValueError(f"invalid settings: cluster density and fraction in (0, 1], gap >= 0: {self}")


def _no_points() -> np.ndarray:
    return np.zeros((0, 3), np.float32)


def _no_pixels() -> np.ndarray:
    return np.zeros((0, 2), np.int32)


@dataclass(frozen=True)
class Object3D:
    """One mask's 3D result (optical frame, metres).

    Attributes:
        status: OK, or why there is no 3D (:class:`Object3DStatus`).
        reason: why, in words ("" when OK).
        centroid: (x, y, z) mean of the kept points; zeros unless OK.
        size: (dx, dy, dz) extents of an axis-aligned box in the optical frame; zeros unless OK.
        valid_points: number of kept points (when not OK: the number found, below the minimum).
        points: ``float32 [N, 3]`` the kept points (empty unless OK).
        pixels: ``int32 [N, 2]`` their (u, v) in the depth image, row for row with ``points``
            (index ``v * W_depth + u`` into an organised cloud of the depth image).
        erode_px: the erosion radius actually used (depth pixels).
    """

    status: Object3DStatus
    reason: str = ""
    centroid: tuple[float, float, float] = (0.0, 0.0, 0.0)
    size: tuple[float, float, float] = (0.0, 0.0, 0.0)
    valid_points: int = 0
    points: np.ndarray = field(default_factory=_no_points, repr=False)
    pixels: np.ndarray = field(default_factory=_no_pixels, repr=False)
    erode_px: int = 0

    @property
    def ok(self) -> bool:
        return self.status == Object3DStatus.OK

    @classmethod
    def missing(cls, status: Object3DStatus, reason: str, valid_points: int = 0) -> Object3D:
        """A result without 3D (status other than OK) and its reason."""
        return cls(Object3DStatus(status), reason, valid_points=int(valid_points))


def _nearest_dense_cluster(z: np.ndarray, settings: Object3DSettings) -> np.ndarray:
    """``bool [N]``: the points of step 5 of the module docstring."""
    lo = float(z.min())
    bins = ((z - lo) * (1.0 / settings.cluster_bin)).astype(np.int32)
    counts = np.bincount(bins)
    dense = np.flatnonzero(counts >= settings.cluster_density * counts.max())
    breaks = np.flatnonzero(np.diff(dense) > settings.cluster_gap_bins + 1)
    starts, ends = dense[np.r_[0, breaks + 1]], dense[np.r_[breaks, len(dense) - 1]]
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    sizes = cumulative[ends + 1] - cumulative[starts]
    big = np.flatnonzero(sizes >= settings.cluster_min_fraction * len(z))
    k = int(big[0]) if len(big) else int(np.argmax(sizes))
    return (bins >= starts[k]) & (bins <= ends[k])


def _robust_inliers(z: np.ndarray, settings: Object3DSettings) -> np.ndarray:
    """``bool [N]``: steps 4 and 5 of the module docstring on valid depths ``z``."""
    median = float(np.median(z))
    deviation = np.abs(z - median)
    sigma = max(_MAD_TO_SIGMA * float(np.median(deviation)), settings.mad_floor)
    gated = deviation <= settings.mad_gate * sigma
    keep = np.zeros(len(z), bool)
    keep[np.flatnonzero(gated)[_nearest_dense_cluster(z[gated], settings)]] = True
    return keep


class _DepthView:
    """The depth image, its intrinsics and the colour -> depth pixel map, shared by all masks."""

    def __init__(self, depth_m: np.ndarray, intrinsics: Intrinsics, mask_shape: tuple[int, int]) -> None:
        if depth_m.ndim != 2 or 0 in depth_m.shape:
            raise DepthError(f"depth must be a non-empty [H, W] image, got shape {depth_m.shape}")
        height, width = depth_m.shape
        mask_h, mask_w = mask_shape
        check_same_aspect((mask_w, mask_h), (width, height), "masks (colour image) and depth image")
        self.depth = depth_m
        self.k = intrinsics.scaled_to(width, height)
        self.same_size = (mask_h, mask_w) == (height, width)
        # source colour row / column of each depth row / column (nearest, pixel centres)
        self.src_rows = np.minimum(((np.arange(height) + 0.5) * (mask_h / height)).astype(np.intp), mask_h - 1)
        self.src_cols = np.minimum(((np.arange(width) + 0.5) * (mask_w / width)).astype(np.intp), mask_w - 1)
        self._any_valid: bool | None = None

    def any_valid(self, settings: Object3DSettings) -> bool:
        if self._any_valid is None:
            with np.errstate(invalid="ignore"):
                self._any_valid = bool(((self.depth >= settings.min_depth) & (self.depth <= settings.max_depth)).any())
        return self._any_valid

    def mask_crop(self, mask: np.ndarray, pad: int) -> tuple[np.ndarray, int, int] | None:
        """The mask at depth resolution inside its bounding box grown by ``pad`` (clipped to the
        image): ``(bool [h, w], row0, col0)``, or None for an empty mask."""
        rows = np.flatnonzero(mask.any(axis=1))
        if len(rows) == 0:
            return None
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
        cols = np.flatnonzero(mask[r0:r1].any(axis=0))
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        if not self.same_size:  # the depth pixels whose source pixel lies in the box
            r0, r1 = np.searchsorted(self.src_rows, [r0, r1])
            c0, c1 = np.searchsorted(self.src_cols, [c0, c1])
            if r1 <= r0 or c1 <= c0:
                return None
        height, width = self.depth.shape
        r0, c0 = max(int(r0) - pad, 0), max(int(c0) - pad, 0)
        r1, c1 = min(int(r1) + pad, height), min(int(c1) + pad, width)
        if self.same_size:
            return mask[r0:r1, c0:c1], r0, c0
        return mask[np.ix_(self.src_rows[r0:r1], self.src_cols[c0:c1])], r0, c0


def _core(crop: np.ndarray, inside: tuple[np.ndarray, np.ndarray], usable: np.ndarray,
          settings: Object3DSettings) -> tuple[np.ndarray, int]:
    """Step 2: which of the mask pixels ``inside`` (rows, cols of ``crop``) survive the erosion,
    and its radius. ``usable``: those with depth in range."""
    if settings.erode_px <= 0:
        return usable, 0
    import cv2

    crop8 = np.ascontiguousarray(crop, dtype=np.uint8)
    # distance to the nearest pixel outside the mask (the image border is not outside); the
    # 5x5 approximation of L2 thresholds like the exact one at these radii, 4x faster
    inner = cv2.distanceTransform(crop8, cv2.DIST_L2, cv2.DIST_MASK_5)[inside]
    for radius in range(settings.erode_px, 0, -1):
        inner_part = inner > radius
        kept = usable & inner_part
        if (np.count_nonzero(kept) >= settings.min_points
                and np.count_nonzero(inner_part) >= settings.erode_keep_fraction * len(inner)):
            return kept, radius
    return usable, 0


def _one_object(view: _DepthView, mask: np.ndarray, settings: Object3DSettings) -> Object3D:
    too_few = Object3DStatus.TOO_FEW_POINTS
    found = view.mask_crop(mask, settings.erode_px + 1)
    if found is None:
        return Object3D.missing(too_few, "the mask is empty")
    crop, r0, c0 = found
    inside = np.nonzero(crop)
    rows, cols = inside[0] + r0, inside[1] + c0
    z = view.depth[rows, cols]
    keep, radius = _core(crop, inside, (z >= settings.min_depth) & (z <= settings.max_depth), settings)
    rows, cols, z = rows[keep], cols[keep], z[keep]
    if len(z) == 0:
        if not view.any_valid(settings):
            return Object3D.missing(
                Object3DStatus.INVALID_DEPTH,
                f"the depth image holds no reading in [{settings.min_depth}, {settings.max_depth}] m"
                " (all zero, NaN or out of range)",
            )
        return Object3D.missing(too_few, f"no depth reading in [{settings.min_depth}, {settings.max_depth}] m"
                                         " under the mask")
    if len(z) >= settings.min_points:
        keep = _robust_inliers(z, settings)
        rows, cols, z = rows[keep], cols[keep], z[keep]
    if len(z) < settings.min_points:
        return Object3D.missing(
            too_few, f"{len(z)} valid depth points under the mask, fewer than min_points={settings.min_points}",
            valid_points=len(z))
    k = view.k
    x = (cols.astype(np.float32) - np.float32(k.cx)) * z * np.float32(1.0 / k.fx)
    y = (rows.astype(np.float32) - np.float32(k.cy)) * z * np.float32(1.0 / k.fy)
    centroid = tuple(float(a.mean(dtype=np.float64)) for a in (x, y, z))
    size = np.array([_spread(a, settings.extent_percentiles) for a in (x, y, z)])
    grow = 2.0 * radius * centroid[2]  # the eroded rim, back in metres
    size[0] += grow / k.fx
    size[1] += grow / k.fy
    return Object3D(
        Object3DStatus.OK, "", centroid, tuple(float(v) for v in size), len(z), np.stack([x, y, z], axis=1),
        np.stack([cols, rows], axis=1).astype(np.int32), radius,
    )


def _spread(values: np.ndarray, percentiles: tuple[float, float]) -> float:
    """Distance between two nearest-rank percentiles of a 1-D array (one partition, no sort)."""
    last = len(values) - 1
    lo, hi = (int(round(p / 100.0 * last)) for p in percentiles)
    part = np.partition(values, [lo, hi])
    return float(part[hi]) - float(part[lo])


def objects_3d(masks, depth_m: np.ndarray, intrinsics: Intrinsics,
               settings: Object3DSettings | None = None) -> list[Object3D]:
    """3D of each mask (the rule in the module docstring).

    :param masks: sequence of ``bool [H, W]`` at the colour image's resolution (all one shape).
    :param depth_m: ``float32 [H_d, W_d]`` metres, NaN = no reading (:func:`depth_to_metres`),
        the same field of view as the colour image.
    :param intrinsics: of the depth image, or of any resolution of the same aspect (scaled).
    :returns: one :class:`Object3D` per mask, in order.
    :raises DepthError: aspect ratio mismatch, masks of different shapes, a depth not 2-D.
    """
    settings = settings or Object3DSettings()
    masks = list(masks)
    if not masks:
        return []
    shape = masks[0].shape
    if any(m.shape != shape or m.ndim != 2 for m in masks):
        raise DepthError(f"masks must all be [H, W] of one shape, got {[m.shape for m in masks]}")
    view = _DepthView(np.asarray(depth_m), intrinsics, shape)
    return [_one_object(view, np.asarray(m, bool), settings) for m in masks]


def label_image(masks, shape: tuple[int, int]) -> np.ndarray:
    """Instance map: pixel = mask index + 1, 0 = background (Contact-GraspNet's ``segmap``).

    Where masks overlap, the later mask (higher index, later in the answer) wins.

    :param masks: sequence of ``bool [H, W]``; ``shape`` is ``(H, W)`` (needed when empty).
    :returns: ``uint8 [H, W]`` for up to 255 masks, else ``uint16``.
    """
    masks = list(masks)
    if len(masks) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(masks)} masks do not fit a uint16 label image")
    labels = np.zeros(shape, np.uint8 if len(masks) <= np.iinfo(np.uint8).max else np.uint16)
    for index, mask in enumerate(masks):
        if mask.shape != tuple(shape):
            raise ValueError(f"mask {index} has shape {mask.shape}, expected {tuple(shape)}")
        labels[mask] = index + 1
    return labels


def stacked_points(objects) -> tuple[np.ndarray, np.ndarray]:
    """All objects' points in one array, for one PointCloud2.

    :returns: ``points float32 [N, 3]`` (optical frame, metres) and ``labels uint32 [N]``
        (object index + 1, so 0 never names an object); objects without 3D add nothing.
    """
    objects = list(objects)
    points = [o.points for o in objects if o.ok]
    labels = [np.full(len(o.points), i + 1, np.uint32) for i, o in enumerate(objects) if o.ok]
    if not points:
        return _no_points(), np.zeros(0, np.uint32)
    return np.concatenate(points), np.concatenate(labels)


def with_3d(output, depth, encoding: str, intrinsics, settings: Object3DSettings | None = None,
            missing_reason: str = "no depth image", max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS):
    """A copy of a :class:`~lisa_ros.core.results.SegmentationOutput` whose masks carry
    ``object3d``; the 2D results are unchanged whatever happens to the depth.

    :param depth: the raw depth image as its ``encoding`` stores it (:func:`depth_to_metres`),
        or None: every mask gets NO_DEPTH with ``missing_reason``.
    :param intrinsics: an :class:`Intrinsics` (of the depth image or of any resolution of its
        aspect ratio), or a CameraInfo ``K`` (9 numbers) of the depth image itself; None is
        INVALID_DEPTH ("no camera intrinsics").
    :param max_pixels: larger depth images are INVALID_DEPTH (as the colour image's limit).
    :returns: the new output. Unusable depth or intrinsics give every mask INVALID_DEPTH and
        the :class:`DepthError` text as the reason; nothing is raised for them.
    """
    if not output.masks:
        return output
    if depth is None:
        results = [Object3D.missing(Object3DStatus.NO_DEPTH, missing_reason) for _ in output.masks]
    else:
        try:
            depth_m = depth_to_metres(depth, encoding, max_pixels)
            if intrinsics is None:
                raise DepthError("no camera intrinsics for the depth image")
            if not isinstance(intrinsics, Intrinsics):
                intrinsics = Intrinsics.from_k(intrinsics, depth_m.shape[1], depth_m.shape[0])
            results = objects_3d([m.mask for m in output.masks], depth_m, intrinsics, settings)
        except DepthError as exc:
            results = [Object3D.missing(Object3DStatus.INVALID_DEPTH, str(exc)) for _ in output.masks]
    return replace(output, masks=[replace(m, object3d=o) for m, o in zip(output.masks, results)])
