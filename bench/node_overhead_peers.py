#!/usr/bin/env python3
"""The processes ``bench/node_overhead.py`` measures against, and the pieces both sides share.

    python bench/node_overhead_peers.py node|relay|sink

Each role runs until SIGINT/SIGTERM or until its parent exits, printing ``serving`` once ready:

* ``node``: the production :class:`lisa_ros.node.lisa_node.LisaNode` with the zero-cost
  :class:`StandInSegmenter` (3 masks);
* ``relay``: a raw rclpy node that republishes prebuilt messages of the node's output volume;
* ``sink``: a subscriber of the node's outputs, so that in-process publishing has a remote reader.

Images are 640x480 rgb8 (``W``, ``H``); masks are ``bool [H, W]``.
"""

from __future__ import annotations

import array
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run the checkout's lisa_ros

W, H = 640, 480


# -- shared pieces ----------------------------------------------------------------------------------

def blob_masks(count: int) -> list[np.ndarray]:
    """``count`` elliptical ``bool [H, W]`` masks of about 3-8 % of the image each."""
    yy, xx = np.mgrid[0:H, 0:W]
    masks = []
    for index in range(count):
        cx, cy = 90 + 110 * index, 140 + 40 * (index % 3)
        rx, ry = 45 + 8 * index, 60 + 5 * index
        masks.append(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0)
    return masks


def seg_output(count: int):
    from lisa_ros.core.results import MaskResult, SegmentationOutput, Status

    results = []
    for index, mask in enumerate(blob_masks(count)):
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        results.append(MaskResult(mask=mask, score=0.9, box=box, phrase=f"object {index}"))
    answer = " and ".join(f"object {i} [SEG]" for i in range(count)) + "."
    return SegmentationOutput(Status.OK, answer, results, (H, W))


class StandInSegmenter:
    """Zero-cost model stage: ``LisaSegmenter.segment``'s signature, a real output."""

    backend_names = {"encoder": "stand-in", "decoder": "stand-in"}
    backend_warnings: list[str] = []
    device = "cpu"

    def __init__(self, masks: int = 3):
        self.output = seg_output(masks)

    def segment(self, image, instruction, *, frame_key=None, max_new_tokens=None, on_stage=None, **_):
        for stage in ("encoding_image", "generating", "decoding_masks"):
            if on_stage is not None:
                on_stage(stage)
        return self.output

    def release(self):
        pass


def rgb_frame(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, size=(H, W, 3), dtype=np.uint8)


def image_msg(pixels: bytes, stamp_ns: int):
    from sensor_msgs.msg import Image

    msg = Image(height=H, width=W, encoding="rgb8", step=W * 3, data=array.array("B", pixels))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = "bench_cam"
    return msg


def _wait_sigint(executor):
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:  # also end when the bench dies
        stop.wait(0.2)


# -- child processes ---------------------------------------------------------------------------------

def serve_node() -> None:
    """The production node with the stand-in model (3 masks)."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from lisa_ros.node.lisa_node import EXECUTOR_THREADS, LisaNode

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = LisaNode(segmenter_factory=lambda params: StandInSegmenter(3),
                    parameter_overrides=[Parameter("diagnostics_period", value=0.5),
                                         Parameter("max_frame_age", value=0.0)])
    executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
    executor.add_node(node)
    print("serving", flush=True)
    _wait_sigint(executor)
    node.close()
    executor.shutdown(timeout_sec=1.0)
    node.destroy_node()
    rclpy.try_shutdown()
    os._exit(0)


def serve_relay() -> None:
    """Raw relay: latest image kept; each instruction republishes prebuilt messages of the
    node's output volume (result with 3 masks, mask, answer, overlay) under the image header."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from lisa_ros.msg import SegmentationResult
    from lisa_ros.node import conversions as conv
    from std_msgs.msg import Header

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("raw_relay")
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    images = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {"result": node.create_publisher(SegmentationResult, "result", reliable),
            "mask": node.create_publisher(Image, "mask", images),
            "answer": node.create_publisher(String, "answer", reliable),
            "overlay": node.create_publisher(Image, "overlay", images)}
    output = seg_output(3)
    header = Header()
    result = conv.output_to_result(output, header, "relay", "")
    mask, overlay = conv.result_extras(output, rgb_frame(), header, True)
    answer = String(data=output.answer_text)
    latest = [None]

    def on_image(msg):
        latest[0] = msg

    def on_instruction(msg):
        image = latest[0]
        if image is None:
            return
        for item in [result, mask, overlay, *result.masks]:
            item.header = image.header
        result.instruction = msg.data
        pubs["result"].publish(result)
        pubs["mask"].publish(mask)
        pubs["answer"].publish(answer)
        pubs["overlay"].publish(overlay)

    node.create_subscription(Image, "image", on_image, qos_profile_sensor_data)
    node.create_subscription(String, "instruction", on_instruction, reliable)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print("serving", flush=True)
    _wait_sigint(executor)
    executor.shutdown(timeout_sec=1.0)
    node.destroy_node()
    rclpy.try_shutdown()
    os._exit(0)


def serve_sink() -> None:
    """Subscriber of the node's outputs (so in-process publishing has a remote reader)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from lisa_ros.msg import SegmentationResult

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("sink")
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    images = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    for kind, topic, qos in ((SegmentationResult, "result", reliable), (Image, "mask", images),
                             (String, "answer", reliable), (Image, "overlay", images)):
        node.create_subscription(kind, topic, lambda msg: None, qos)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print("serving", flush=True)
    _wait_sigint(executor)
    os._exit(0)


ROLES = {"node": serve_node, "relay": serve_relay, "sink": serve_sink}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ROLES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(ROLES)}")
    ROLES[sys.argv[1]]()
