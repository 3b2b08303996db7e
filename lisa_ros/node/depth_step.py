"""The worker's 3D step: give each mask of an answer its object in metres, from the depth image
that goes with the answer's colour frame.

Which depth: the request's own (service/action ``depth`` + ``camera_info``), else the depth
image received on the ``depth`` topic whose stamp is nearest the colour frame's, within
``depth.pairing_tolerance`` (:class:`~lisa_ros.node.depth_frames.DepthStore`). The computation
is the core's (:func:`lisa_ros.core.objects3d.with_3d`); whatever is wrong with the depth (none,
too far in time, a malformed message, an unknown encoding, K all zero, another aspect ratio, no
reading) becomes each mask's 3D status and reason, never an error of the answer: its 2D masks
are published as they are.
"""

from __future__ import annotations

from lisa_ros.core.objects3d import Object3D, Object3DSettings, Object3DStatus
from lisa_ros.core.results import SegmentationOutput

from . import conversions_3d as conv3d
from .conversions import ImageConversionError
from .depth_frames import DepthPairing, DepthStore

__all__ = ["add_3d", "object_settings"]


def object_settings(settings) -> Object3DSettings:
    """The core's 3D settings from the node's ``depth.*`` parameters (others: the core's defaults)."""
    return Object3DSettings(erode_px=settings.depth_erode_px, min_depth=settings.depth_min_depth,
                            max_depth=settings.depth_max_depth, min_points=settings.depth_min_points)


def _with_missing(output: SegmentationOutput, status: Object3DStatus, reason: str) -> SegmentationOutput:
    from dataclasses import replace

    return replace(output, masks=[replace(m, object3d=Object3D.missing(status, reason)) for m in output.masks])


def add_3d(output: SegmentationOutput, header, request, depths: DepthStore | None, settings) -> SegmentationOutput:
    """``output`` with ``object3d`` on every mask (an output without masks is returned as it is).

    Args:
        header: the colour frame's header (its stamp pairs the depth).
        request: the request (its ``depth`` / ``camera_info``, when given, win over the topics).
        depths: the node's depth buffer (None: no depth topics).
        settings: the node's runtime parameters.
    """
    if not output.masks:
        return output
    if not settings.depth_enabled:
        return _with_missing(output, Object3DStatus.NO_DEPTH, "3D is off (parameter depth.enabled)")
    if request.depth is not None:
        pairing = DepthPairing(request.depth, request.camera_info)
    elif depths is not None:
        pairing = depths.pair(header, settings.depth_pairing_tolerance)
    else:
        pairing = DepthPairing(reason="no depth image")
    if pairing.depth is None:
        return _with_missing(output, Object3DStatus.NO_DEPTH, pairing.reason)
    try:
        depth, encoding = conv3d.depth_msg_to_array(pairing.depth, settings.max_image_pixels)
    except ImageConversionError as exc:
        return _with_missing(output, Object3DStatus.INVALID_DEPTH, str(exc))
    intrinsics = conv3d.camera_info_intrinsics(pairing.camera_info, depth.shape)
    if intrinsics is not None:
        from lisa_ros.core.depth import Intrinsics
        from lisa_ros.core.errors import DepthError

        try:
            intrinsics = Intrinsics.from_k(*intrinsics)
        except DepthError as exc:
            return _with_missing(output, Object3DStatus.INVALID_DEPTH, f"camera_info: {exc}")
    return output.with_3d(depth, encoding, intrinsics, object_settings(settings),
                          missing_reason="", max_pixels=settings.max_image_pixels)
