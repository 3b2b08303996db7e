"""Depth images and pinhole intrinsics: units, validity and resolution, checked once.

Conventions used by every 3D result of the core:

- **Frame**: the camera optical frame of REP 103: x right, y down, z forward (out of the
  lens), metres. A depth pixel holds z (distance along the optical axis), not the range along
  the ray, as REP 118 depth images do.
- **Pixels**: integer coordinates ``(u, v)`` are pixel *centres* (OpenCV and ROS CameraInfo
  convention), so an image of width ``W`` spans ``[-0.5, W - 0.5]`` in u. Back-projection of
  pixel ``(u, v)`` with depth ``z``: ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``.
- **Units** (REP 118): ``32FC1`` is metres with NaN (and here also inf and values <= 0) for
  "no reading"; ``16UC1`` and ``mono16`` are millimetres with 0 for "no reading". Everything
  downstream sees float32 metres with NaN for invalid (:func:`depth_to_metres`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import DepthError
from .validation import DEFAULT_MAX_IMAGE_PIXELS

__all__ = [
    "ASPECT_TOLERANCE", "DEPTH_ENCODINGS", "Intrinsics", "depth_to_metres", "check_same_aspect",
]

# Two resolutions show the same field of view when their per-axis scale factors agree to 1 %:
# enough for sizes rounded after binning (1280x720 -> 427x240), far below any real aspect change
# (4:3 against 16:9 is 33 %).
ASPECT_TOLERANCE = 0.01
# Encoding -> metres per stored unit.
DEPTH_ENCODINGS = {"32FC1": 1.0, "16UC1": 0.001, "mono16": 0.001}


def check_same_aspect(source: tuple[int, int], target: tuple[int, int], what: str) -> tuple[float, float]:
    """Per-axis scale factors ``(W'/W, H'/H)`` from ``source`` (W, H) to ``target`` (W', H').

    :raises DepthError: a size is zero, or the factors differ by more than
        :data:`ASPECT_TOLERANCE` (another aspect ratio: not the same field of view).
    """
    (w, h), (w2, h2) = source, target
    if min(w, h, w2, h2) <= 0:
        raise DepthError(f"{what}: zero size ({w}x{h} -> {w2}x{h2})")
    sx, sy = w2 / w, h2 / h
    if abs(sx / sy - 1.0) > ASPECT_TOLERANCE:
        raise DepthError(
            f"{what}: {w}x{h} and {w2}x{h2} have different aspect ratios ({w / h:.4f} vs {w2 / h2:.4f});"
            " depth must show the colour image's field of view (register it to the colour camera)"
        )
    return sx, sy


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels (no distortion: a
    rectified or registered image).

    Attributes:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels (pixel-centre convention, see module docstring).
        width, height: size of the image these numbers describe.

    :raises DepthError: on construction, when a value is not finite, a focal length is not
        positive (a K of zeros: an uncalibrated camera_info) or the size is not positive.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) for v in values):
            raise DepthError(f"intrinsics must be finite numbers, got fx, fy, cx, cy = {values}")
        if self.fx == 0 and self.fy == 0 and self.cx == 0 and self.cy == 0:
            raise DepthError("intrinsics are all zero (camera_info K not filled in: an uncalibrated camera?)")
        if self.fx <= 0 or self.fy <= 0:
            raise DepthError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if int(self.width) != self.width or int(self.height) != self.height or self.width <= 0 or self.height <= 0:
            raise DepthError(f"intrinsics image size must be positive integers, got {self.width}x{self.height}")
        for name in ("fx", "fy", "cx", "cy"):  # plain Python numbers, whatever came in (numpy scalars, ints)
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @classmethod
    def from_k(cls, k, width: int, height: int) -> Intrinsics:
        """From a ROS CameraInfo ``K``: 9 numbers, row-major ``[fx 0 cx; 0 fy cy; 0 0 1]``.

        :raises DepthError: not 9 finite numbers, all zeros, skewed, or a last row other than
            ``0 0 1``.
        """
        try:
            k = np.asarray(k, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DepthError(f"K must be 9 numbers, got {k!r}") from None
        if k.size != 9:
            raise DepthError(f"K must be 9 numbers (3x3 row-major), got {k.size}")
        if not np.isfinite(k).all():
            raise DepthError(f"K holds non-finite values: {k.tolist()}")
        if not k.any():
            raise DepthError("K is all zeros (camera_info not filled in: an uncalibrated camera?)")
        if k[1] != 0 or k[3] != 0 or tuple(k[6:]) != (0.0, 0.0, 1.0):
            raise DepthError(f"K must be [fx 0 cx; 0 fy cy; 0 0 1] (no skew), got {k.tolist()}")
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]), int(width), int(height))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.width), int(self.height)

    def k_matrix(self) -> np.ndarray:
        """``float64 [3, 3]`` camera matrix (CameraInfo K, reshaped)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The same camera (same field of view) at another resolution.

        Edges map to edges: with ``s = W'/W``, pixel centre ``u`` becomes ``(u + 0.5) s - 0.5``,
        so ``fx' = fx s`` and ``cx' = (cx + 0.5) s - 0.5``; likewise in y with ``H'/H``.

        :raises DepthError: another aspect ratio (see :func:`check_same_aspect`).
        """
        if (width, height) == self.size:
            return self
        sx, sy = check_same_aspect(self.size, (width, height), "intrinsics and depth image")
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                          int(width), int(height))

    def as_dict(self) -> dict:
        """JSON-ready ``{"fx", "fy", "cx", "cy", "width", "height"}``."""
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                "width": int(self.width), "height": int(self.height)}


def depth_to_metres(depth, encoding: str, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """A depth image as ``float32 [H, W]`` metres, NaN where there is no reading.

    :param depth: ``[H, W]`` (or ``[H, W, 1]``) array as the encoding stores it: floating point
        for ``32FC1``, ``uint16`` for ``16UC1`` / ``mono16``. The dtype must match the encoding
        (a millimetre image labelled as metres is the classic 1000x error, so it is refused).
    :param encoding: ``"32FC1"`` (metres; NaN, inf and values <= 0 are invalid), ``"16UC1"`` or
        ``"mono16"`` (millimetres; 0 is invalid).
    :param max_pixels: refuse larger images (bounds what a message can make us allocate).
    :returns: a new ``float32 [H, W]`` array.
    :raises DepthError: unknown encoding, dtype not matching it, not 2-D, zero size, too large.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise DepthError(
            f"unsupported depth encoding {encoding!r}; supported: 32FC1 (metres), 16UC1 and mono16 (millimetres)"
        )
    if not isinstance(depth, np.ndarray):
        raise DepthError(f"depth must be a numpy array, not {type(depth).__name__}")
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.ndim != 2:
        raise DepthError(f"depth must be a single-channel [H, W] image, got shape {depth.shape}")
    height, width = depth.shape
    if height == 0 or width == 0:
        raise DepthError(f"depth image has zero size ({width}x{height})")
    if height * width > max_pixels:
        raise DepthError(f"depth image of {width}x{height} exceeds the limit of {max_pixels} pixels")
    if encoding == "32FC1":
        if not np.issubdtype(depth.dtype, np.floating):
            raise DepthError(f"32FC1 depth (metres) must be a float array, got {depth.dtype}")
        metres = depth.astype(np.float32, copy=True)
        with np.errstate(invalid="ignore"):
            metres[~(np.isfinite(metres) & (metres > 0))] = np.nan
        return metres
    if depth.dtype.kind != "u" or depth.dtype.itemsize != 2:  # either byte order (is_bigendian images)
        raise DepthError(f"{encoding} depth (millimetres) must be a uint16 array, got {depth.dtype}")
    metres = depth.astype(np.float32) * np.float32(DEPTH_ENCODINGS[encoding])
    metres[depth == 0] = np.nan
    return metres
