"""Pure conversions for the 3D outputs: depth and camera_info messages in, point clouds, label
images, markers and detections out.

No node state here (unit-tested without DDS, tests/node/test_node_conversions_3d.py).

Conventions:

* depth images are REP 118: ``32FC1`` metres (NaN = no reading) or ``16UC1`` / ``mono16``
  millimetres (0 = no reading), registered to the colour image (same field of view);
* 3D is in the camera optical frame of the colour image's ``header.frame_id`` (REP 103/105:
  x right, y down, z forward), metres; every output carries the colour image's header;
* object labels are the mask index + 1 (0 = background / no object).
"""

from __future__ import annotations

import array
from typing import Sequence

import numpy as np
from geometry_msgs.msg import Point, Vector3
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from lisa_ros.core.objects3d import Object3D, Object3DStatus, label_image, stacked_points
from lisa_ros.core.overlay import PALETTE
from lisa_ros.core.results import SegmentationOutput

from .conversions import ImageConversionError, is_empty_image

__all__ = [
    "DEPTH_SAMPLE_TYPES", "depth_msg_to_array", "camera_info_intrinsics", "fill_3d_fields",
    "points_to_cloud", "cloud_of", "label_image_msg", "markers_of", "detections_of", "vision_msgs_module",
    "MARKER_NAMESPACE",
]

# encoding -> numpy sample type (little-endian; ``is_bigendian`` flips it)
DEPTH_SAMPLE_TYPES = {"32FC1": "<f4", "16UC1": "<u2", "mono16": "<u2"}
MARKER_NAMESPACE = "lisa_objects"
_MIN_MARKER_SIZE = 0.002  # metres: rviz draws nothing for a zero-thickness box
_TEXT_HEIGHT = 0.03       # metres, rviz text marker height


def depth_msg_to_array(msg: Image, max_pixels: int | None = None) -> tuple[np.ndarray, str]:
    """``[H, W]`` array of a depth ``sensor_msgs/Image`` as its encoding stores it, and the
    encoding (for :func:`lisa_ros.core.depth.depth_to_metres`).

    A view of ``msg.data`` when rows are unpadded and little-endian (keep the message alive),
    else a copy. Metadata is checked first, so a malformed message raises with the reason.

    :raises ImageConversionError: empty or zero-size image, unsupported encoding, more than
        ``max_pixels`` pixels, ``step`` too small, ``len(data) != step * height``.
    """
    if is_empty_image(msg) or msg.width == 0 or msg.height == 0:
        raise ImageConversionError(f"depth image has zero size ({msg.width}x{msg.height})")
    sample = DEPTH_SAMPLE_TYPES.get(msg.encoding)
    if sample is None:
        raise ImageConversionError(
            f"unsupported depth encoding {msg.encoding!r} (supported: 32FC1 metres, 16UC1 or mono16 millimetres)"
        )
    dtype = np.dtype(sample)
    if msg.is_bigendian:
        dtype = dtype.newbyteorder(">")
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(
            f"depth image of {width}x{height} = {width * height} pixels exceeds max_image_pixels ({max_pixels})"
        )
    if step < width * dtype.itemsize:
        raise ImageConversionError(f"depth image step {step} is smaller than width x {dtype.itemsize} bytes")
    if len(msg.data) != step * height:
        raise ImageConversionError(
            f"depth image data has {len(msg.data)} bytes, expected step x height = {step * height}"
        )
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, : width * dtype.itemsize]
    return np.ascontiguousarray(rows).view(dtype).reshape(height, width), msg.encoding


def camera_info_intrinsics(info: CameraInfo | None, depth_shape: tuple[int, int]):
    """``(K as 9 floats, width, height)`` of a CameraInfo for a depth image of ``depth_shape``
    (H, W); a CameraInfo without a size (0 x 0) describes the depth image itself. None when no
    camera_info was given. Validation (K all zero, aspect) is the core's
    (:class:`lisa_ros.core.depth.Intrinsics`)."""
    if info is None:
        return None
    width, height = int(info.width), int(info.height)
    if width == 0 or height == 0:
        height, width = depth_shape
    return [float(v) for v in info.k], width, height


def _objects(output: SegmentationOutput) -> list[Object3D]:
    """Each mask's 3D; a mask without ``object3d`` is NO_DEPTH "no depth image"."""
    return [m.object3d or Object3D.missing(Object3DStatus.NO_DEPTH, "no depth image") for m in output.masks]


def fill_3d_fields(result, output: SegmentationOutput) -> None:
    """Set the 3D arrays of a ``SegmentationResult`` from ``output``'s masks, one entry per mask."""
    objects = _objects(output)
    result.centroids = [Point(x=o.centroid[0], y=o.centroid[1], z=o.centroid[2]) for o in objects]
    result.sizes = [Vector3(x=o.size[0], y=o.size[1], z=o.size[2]) for o in objects]
    result.valid_points = [int(o.valid_points) for o in objects]
    result.status_3d = [int(o.status) for o in objects]
    result.reasons_3d = [o.reason for o in objects]


def points_to_cloud(points: np.ndarray, labels: np.ndarray, header: Header) -> PointCloud2:
    """An unorganised ``PointCloud2`` (height 1) with fields ``x, y, z`` (float32, metres) and
    ``label`` (uint32, object index + 1), 16 bytes per point, little-endian (PCL's PointXYZL)."""
    count = int(len(points))
    cloud = np.zeros(count, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<u4")])
    if count:
        cloud["x"], cloud["y"], cloud["z"] = points[:, 0], points[:, 1], points[:, 2]
        cloud["label"] = labels
    data = array.array("B")
    data.frombytes(cloud.tobytes())
    fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
              for i, name in enumerate("xyz")]
    fields.append(PointField(name="label", offset=12, datatype=PointField.UINT32, count=1))
    return PointCloud2(header=header, height=1, width=count, fields=fields, is_bigendian=False,
                       point_step=16, row_step=16 * count, data=data, is_dense=True)


def label_image_msg(masks: Sequence[np.ndarray], shape: tuple[int, int], header: Header) -> Image:
    """The instance map aligned with the colour image (pixel = mask index + 1, 0 = background;
    a later mask wins where masks overlap): ``mono8``, or ``mono16`` beyond 255 masks."""
    labels = label_image(masks, shape)
    encoding = "mono8" if labels.dtype == np.uint8 else "mono16"
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(labels.astype(labels.dtype.newbyteorder("<"))).tobytes())
    return Image(header=header, height=int(shape[0]), width=int(shape[1]), encoding=encoding, is_bigendian=0,
                 step=int(shape[1]) * labels.dtype.itemsize, data=data)


def _colour(index: int, alpha: float) -> ColorRGBA:
    r, g, b = PALETTE[index % len(PALETTE)]
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)


def markers_of(output: SegmentationOutput, header: Header) -> MarkerArray:
    """rviz markers: a DELETEALL (clears the previous result's), then per object with 3D a box
    (centroid, axis-aligned size in the optical frame, the overlay's colour) and a text label
    ("<index>: <phrase>") above it. Marker ids: 2 * index (box), 2 * index + 1 (text)."""
    markers = [Marker(header=header, ns=MARKER_NAMESPACE, action=Marker.DELETEALL)]
    for index, mask in enumerate(output.masks):
        obj = mask.object3d
        if obj is None or not obj.ok:
            continue
        box = Marker(header=header, ns=MARKER_NAMESPACE, id=2 * index, type=Marker.CUBE, action=Marker.ADD)
        box.pose.position = Point(x=obj.centroid[0], y=obj.centroid[1], z=obj.centroid[2])
        box.pose.orientation.w = 1.0
        box.scale = Vector3(x=max(obj.size[0], _MIN_MARKER_SIZE), y=max(obj.size[1], _MIN_MARKER_SIZE),
                            z=max(obj.size[2], _MIN_MARKER_SIZE))
        box.color = _colour(index, 0.45)
        text = Marker(header=header, ns=MARKER_NAMESPACE, id=2 * index + 1, type=Marker.TEXT_VIEW_FACING,
                      action=Marker.ADD, text=f"{index}: {mask.phrase}" if mask.phrase else str(index))
        # above the box: "up" in the optical frame is -y
        text.pose.position = Point(x=obj.centroid[0], y=obj.centroid[1] - obj.size[1] / 2 - _TEXT_HEIGHT,
                                   z=obj.centroid[2])
        text.pose.orientation.w = 1.0
        text.scale.z = _TEXT_HEIGHT
        text.color = _colour(index, 1.0)
        markers += [box, text]
    return MarkerArray(markers=markers)


def vision_msgs_module():
    """``vision_msgs.msg`` when the package is importable (robots have it), else None."""
    try:
        from vision_msgs import msg
    except ImportError:
        return None
    return msg


def detections_of(output: SegmentationOutput, header: Header, vision_msg) -> object:
    """A ``vision_msgs/Detection3DArray`` of the objects with 3D (``vision_msg``: the
    ``vision_msgs.msg`` module). Per object: ``id`` = mask index, one hypothesis with
    ``class_id`` = the phrase and ``score`` = the mask's score, ``bbox.center`` = centroid
    (identity orientation: axis-aligned in the optical frame), ``bbox.size`` = extents; the
    hypothesis pose is the centroid too (covariance unknown: zeros)."""
    detections = []
    for index, mask in enumerate(output.masks):
        obj = mask.object3d
        if obj is None or not obj.ok:
            continue
        detection = vision_msg.Detection3D(header=header, id=str(index))
        hypothesis = vision_msg.ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = mask.phrase
        hypothesis.hypothesis.score = float(mask.score)
        centre = Point(x=obj.centroid[0], y=obj.centroid[1], z=obj.centroid[2])
        hypothesis.pose.pose.position = centre
        hypothesis.pose.pose.orientation.w = 1.0
        detection.results = [hypothesis]
        detection.bbox.center.position = centre
        detection.bbox.center.orientation.w = 1.0
        detection.bbox.size = Vector3(x=obj.size[0], y=obj.size[1], z=obj.size[2])
        detections.append(detection)
    return vision_msg.Detection3DArray(header=header, detections=detections)


def cloud_of(output: SegmentationOutput, header: Header) -> PointCloud2:
    """All objects' points in one cloud (labels = index + 1; objects without 3D add nothing)."""
    return points_to_cloud(*stacked_points(_objects(output)), header)
