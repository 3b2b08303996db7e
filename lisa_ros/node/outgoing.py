"""What one answer publishes, built from a core output: the result message (2D and 3D fields)
and the optional extras (pictures for rviz, the objects' cloud, label image, markers and
detections), each only when wanted. Pure functions of their arguments (no node state).
"""

from __future__ import annotations

from std_msgs.msg import Header

from lisa_ros.msg import SegmentationResult

from . import conversions as conv
from . import conversions_3d as conv3d
from .requests import Outgoing, Request, Wanted

__all__ = ["result_message", "extras_of"]


def result_message(output, header: Header, request: Request) -> SegmentationResult:
    """The ``SegmentationResult`` of one model output: 2D and 3D fields."""
    result = conv.output_to_result(output, header, request.request_id, request.instruction)
    conv3d.fill_3d_fields(result, output)
    return result


def extras_of(output, rgb, header: Header, wanted: Wanted) -> Outgoing:
    """The optional outputs of one result that are ``wanted``, all with the colour ``header``:
    union mask and overlay pictures, the objects' cloud, the label image, rviz markers, and
    vision_msgs detections (only where that package is importable)."""
    mask, picture = conv.result_extras(output, rgb, header, wanted.overlay, wanted.mask)
    out = Outgoing(result=None, mask=mask, overlay=picture)
    if wanted.cloud:
        out.cloud = conv3d.cloud_of(output, header)
    if wanted.label_image:
        out.label_image = conv3d.label_image_msg([m.mask for m in output.masks], rgb.shape[:2], header)
    if wanted.markers:
        out.markers = conv3d.markers_of(output, header)
    vision_msg = conv3d.vision_msgs_module() if wanted.detections else None
    if vision_msg is not None:
        out.detections = conv3d.detections_of(output, header, vision_msg)
    return out
