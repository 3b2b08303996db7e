"""The node's subscriptions: camera frames and instructions.

Created at lifecycle activate (with the QoS the parameters give), destroyed at deactivate. The
image callback only stores a reference to the message in the frame store (constant time; the
frame is converted when a request uses it); the instruction callback hands the text to the
node's intake.

Topics (relative names):

* ``image`` (sensor_msgs/Image) or, with ``compressed``, ``image/compressed``
  (sensor_msgs/CompressedImage): sensor-data QoS by default (``image_qos.*``);
* ``instruction`` (std_msgs/String): reliable, 10 deep; each instruction is answered once;
* with ``depth.enabled``: ``depth`` (sensor_msgs/Image registered to the colour camera) and
  ``depth/camera_info`` (sensor_msgs/CameraInfo), sensor-data QoS by default (``depth_qos.*``),
  kept in the :class:`~lisa_ros.node.depth_frames.DepthStore` for pairing by stamp.
"""

from __future__ import annotations

import time
from typing import Callable

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from .depth_frames import DepthStore
from .diagnostics import NodeStats
from .frames import FrameStore

__all__ = ["NodeInputs", "INSTRUCTION_QOS", "image_qos"]

INSTRUCTION_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def image_qos(params: dict, prefix: str = "image_qos") -> QoSProfile:
    """A camera subscription's QoS from the ``<prefix>.*`` parameters (keep last)."""
    reliability = (ReliabilityPolicy.BEST_EFFORT if params[f"{prefix}.reliability"] == "best_effort"
                   else ReliabilityPolicy.RELIABLE)
    return QoSProfile(depth=params[f"{prefix}.depth"], reliability=reliability, history=HistoryPolicy.KEEP_LAST)


class NodeInputs:
    """The subscriptions of an active node.

    Args:
        node: the node that owns the subscriptions.
        frames: where camera frames are stored.
        depths: where depth images and camera infos are stored.
        stats: counters (image callback time).
        on_instruction: ``(text) -> None``, the node's intake of one instruction.
        callback_group: a mutually exclusive group (inputs never run concurrently).
    """

    def __init__(self, node, frames: FrameStore, depths: DepthStore, stats: NodeStats,
                 on_instruction: Callable[[str], None], callback_group):
        self._node = node
        self._frames = frames
        self._depths = depths
        self._stats = stats
        self._on_instruction = on_instruction
        self._group = callback_group
        self._subs: list = []

    def create(self, params: dict) -> str:
        """Subscribe as the parameters say; returns a one-line description for the log."""
        qos = image_qos(params)
        if params["compressed"]:
            topic, msg_type = "image/compressed", CompressedImage
        else:
            topic, msg_type = "image", Image
        node = self._node
        self._subs.append(node.create_subscription(msg_type, topic, self._on_image, qos, callback_group=self._group))
        self._subs.append(node.create_subscription(String, "instruction", self._on_text, INSTRUCTION_QOS,
                                                   callback_group=self._group))
        described = (f"{topic} ({params['image_qos.reliability']}, depth {params['image_qos.depth']}), "
                     f"pairing {params['pairing']}")
        if params["depth.enabled"]:
            qos = image_qos(params, "depth_qos")
            self._subs.append(node.create_subscription(Image, "depth", self._depths.push_depth, qos,
                                                       callback_group=self._group))
            self._subs.append(node.create_subscription(CameraInfo, "depth/camera_info", self._depths.push_info,
                                                       qos, callback_group=self._group))
            described += f"; depth + depth/camera_info ({params['depth_qos.reliability']})"
        return described

    def destroy(self) -> None:
        """Remove every subscription (idempotent; best effort while the context goes away)."""
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                self._node.destroy_subscription(sub)
            except Exception:  # noqa: BLE001 - context already shut down
                pass

    def _on_image(self, msg) -> None:
        """Store the frame (constant time; converted when a request uses it)."""
        start = time.perf_counter()
        self._frames.push(msg)
        self._stats.callback_s.append(time.perf_counter() - start)

    def _on_text(self, msg: String) -> None:
        self._on_instruction(msg.data)
