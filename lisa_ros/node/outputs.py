"""The node's publishers and how one finished request goes out on them.

Created at lifecycle configure, activated with the node, destroyed at cleanup. All publishers
are lifecycle publishers: nothing goes out while the node is inactive, which is why the node
answers every pending request before it deactivates them (see ``LisaNode.on_deactivate``).

Topics (relative names; QoS reliable, results kept 10 deep, pictures 2 deep):

* ``result`` (lisa_ros/SegmentationResult): one per request, in arrival order;
* ``answer`` (std_msgs/String): the clean answer text of a result that has one;
* ``mask`` (sensor_msgs/Image mono8): union of a result's masks, only while subscribed;
* ``overlay`` (sensor_msgs/Image rgb8): masks and boxes drawn on the frame, only while
  subscribed and ``publish_overlay`` is true;
* ``objects/points`` (sensor_msgs/PointCloud2: x, y, z float32 metres + label uint32 = mask
  index + 1), ``label_image`` (sensor_msgs/Image mono8: mask index + 1, 0 background, colour
  resolution), ``objects/markers`` (visualization_msgs/MarkerArray: a box and a label per
  object), and ``detections_3d`` (vision_msgs/Detection3DArray, only where vision_msgs is
  importable): each only while subscribed; all with the colour image's header.
"""

from __future__ import annotations

import time
from typing import Callable

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from lisa_ros.msg import SegmentationResult

from .conversions_3d import vision_msgs_module
from .requests import Outgoing, Request, Wanted

__all__ = ["NodeOutputs", "RESULT_QOS", "PICTURE_QOS"]

RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
PICTURE_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class NodeOutputs:
    """The lifecycle publishers of one configured node.

    Args:
        node: the lifecycle node that owns the publishers.
        settings: runtime parameters (reads ``publish_overlay``).
        on_error: where publication failures are reported (the node's logger).
        closing: ``() -> bool``, true while the node shuts down (failures are then expected).
        on_unpublished: ``(request) -> None`` for a result that cannot go out because the
            publishers are inactive (a service or action caller still gets it in its response).
    """

    def __init__(self, node, settings, on_error: Callable[[str], None], closing: Callable[[], bool],
                 on_unpublished: Callable[[Request], None] | None = None):
        self._node = node
        self._settings = settings
        self._on_error = on_error
        self._closing = closing
        self._on_unpublished = on_unpublished
        self._pubs = {
            "result": node.create_lifecycle_publisher(SegmentationResult, "result", RESULT_QOS),
            "mask": node.create_lifecycle_publisher(Image, "mask", PICTURE_QOS),
            "answer": node.create_lifecycle_publisher(String, "answer", RESULT_QOS),
            "overlay": node.create_lifecycle_publisher(Image, "overlay", PICTURE_QOS),
            "cloud": node.create_lifecycle_publisher(PointCloud2, "objects/points", PICTURE_QOS),
            "label_image": node.create_lifecycle_publisher(Image, "label_image", PICTURE_QOS),
            "markers": node.create_lifecycle_publisher(MarkerArray, "objects/markers", PICTURE_QOS),
        }
        vision_msg = vision_msgs_module()
        if vision_msg is not None:  # robots have vision_msgs; the PyPI ROS wheels do not
            self._pubs["detections"] = node.create_lifecycle_publisher(vision_msg.Detection3DArray,
                                                                       "detections_3d", RESULT_QOS)

    def publish(self, request: Request, out: Outgoing) -> None:
        """Put one outcome on the wire: results in arrival order (called by the pipeline's
        sequencer), pictures (``out.result`` None) from the worker right after their result.
        ``latency_ms`` is stamped here, at publication."""
        pubs = self._pubs
        result_pub = pubs.get("result")
        if result_pub is None or not result_pub.is_activated:
            if out.result is not None and self._on_unpublished is not None:
                self._on_unpublished(request)
            return
        try:
            if out.result is not None:
                out.result.latency_ms = float((time.monotonic() - request.received) * 1000.0)
                result_pub.publish(out.result)
            if out.mask is not None:
                pubs["mask"].publish(out.mask)
            if out.answer is not None:
                pubs["answer"].publish(String(data=out.answer))
            if out.overlay is not None and self._settings.publish_overlay:
                pubs["overlay"].publish(out.overlay)
            for name in ("cloud", "label_image", "markers", "detections"):
                message = getattr(out, name)
                if message is not None and name in pubs:
                    pubs[name].publish(message)
        except Exception as exc:  # noqa: BLE001 - e.g. the context went away during shutdown
            if not self._closing():
                self._on_error(f"could not publish result {request.request_id}: {exc}")

    def wanted(self) -> Wanted:
        """The optional outputs someone subscribes to (the overlay also only when enabled)."""
        pubs = self._pubs
        try:
            listened = {name: pub.get_subscription_count() > 0 for name, pub in pubs.items()}
        except Exception:  # noqa: BLE001 - publishers torn down meanwhile
            return Wanted(mask=False, overlay=False)
        return Wanted(mask=listened["mask"], overlay=bool(self._settings.publish_overlay) and listened["overlay"],
                      cloud=listened["cloud"], label_image=listened["label_image"], markers=listened["markers"],
                      detections=listened.get("detections", False))

    def destroy(self) -> None:
        pubs, self._pubs = self._pubs, {}
        for pub in pubs.values():
            self._node.destroy_lifecycle_publisher(pub)
