"""Synthetic camera plus a scripted instruction sequence, for demos of the running node.

``python -m lisa_ros.demo.scene_camera [--count 10] [--seed 0] [--out demo_out] [--loop]``
(also started by ``perception.launch.py demo:=true`` and by ``lisa-demo``;
``--camera-only SECONDS`` only publishes the scenes). It does not start the ``lisa`` node; it
talks to one that runs:

* publishes ``image`` (sensor_msgs/Image rgb8, 640x480, 10 Hz, sensor-data QoS, header stamp =
  now, frame_id ``synthetic_camera``) and, with the same stamp and frame, ``depth``
  (sensor_msgs/Image 16UC1 millimetres, registered to the image, with realistic defects) and
  ``depth/camera_info``: the current scene of the script (:mod:`lisa_ros.demo.script`);
* for each step of the script: shows the step's scene, waits until frames of it have gone out,
  publishes its instruction on ``instruction``, waits for the matching ``result`` (and its
  ``overlay`` and ``objects/points``), and reports answer, status, IoU against the ground truth
  (official rule, :mod:`lisa_ros.eval.metrics`; union of the predicted masks against the union
  of the targets, shadow "ignore" pixels excluded), each mask's 3D centroid and its distance to
  the nearest target's ground truth, and latency. Overlays and the objects' point clouds (PLY)
  are written to ``--out``.

The script mixes the generator's instruction families (explicit, functional, world knowledge,
spatial, comparative, multi-target, absent, explanatory). Topics are relative: remap with
``--ros-args -r image:=... -r instruction:=...`` or a namespace; ``--no-depth`` publishes colour only.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String

from lisa_ros.msg import SegmentationResult
from lisa_ros.node import conversions as conv

from .script import (DemoStep, StepOutcome, build_script, format_row, result_iou, save_cloud, save_overlay,
                     summary)

__all__ = ["DemoNode", "run_script", "spin_in_background", "shut_down", "wait_connected", "main"]

FRAME_ID = "synthetic_camera"


class DemoNode(Node):
    """Synthetic RGB-D camera (``image``, ``depth``, ``depth/camera_info``) and instruction client
    (``instruction`` -> ``result``, with ``overlay`` and ``objects/points``)."""

    def __init__(self, rate_hz: float = 10.0, name: str = "lisa_demo_scene", with_depth: bool = True):
        super().__init__(name)
        reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        pictures = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.depth_pubs = None
        if with_depth:
            self.depth_pubs = (self.create_publisher(Image, "depth", qos_profile_sensor_data),
                               self.create_publisher(CameraInfo, "depth/camera_info", qos_profile_sensor_data))
        self.instruction_pub = self.create_publisher(String, "instruction", reliable)
        self.create_subscription(SegmentationResult, "result", self._on_result, reliable)
        self.create_subscription(Image, "overlay", lambda msg: self._keep(self._overlays, msg), pictures)
        self.create_subscription(PointCloud2, "objects/points", lambda msg: self._keep(self._clouds, msg), pictures)
        self._lock = threading.Condition()
        self._scene: tuple[int, list] | None = None
        self._stamps: OrderedDict[tuple[int, int], int] = OrderedDict()  # stamp -> scene index (bounded)
        self._sent_of_scene: dict[int, int] = {}
        self._results: list[SegmentationResult] = []
        self._overlays: OrderedDict[tuple[int, int], Image] = OrderedDict()
        self._clouds: OrderedDict[tuple[int, int], PointCloud2] = OrderedDict()
        self.create_timer(1.0 / rate_hz, self._publish_frame)

    # -- camera ------------------------------------------------------------------------------

    def show(self, step: DemoStep) -> None:
        """Make ``step``'s scene the current one (published from the next tick on)."""
        header = Header(frame_id=FRAME_ID)
        messages = [conv.rgb_to_image(step.image, header)]
        if self.depth_pubs is not None:
            height, width = step.depth_mm.shape
            depth = Image(header=header, height=height, width=width, encoding="16UC1", is_bigendian=0,
                          step=2 * width, data=step.depth_mm.astype("<u2").tobytes())
            fx, fy, cx, cy = step.intrinsics
            info = CameraInfo(header=header, width=width, height=height, distortion_model="plumb_bob",
                              k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0])
            messages += [depth, info]
        with self._lock:
            self._scene = (step.index, messages)

    def _publish_frame(self) -> None:
        with self._lock:
            if self._scene is None:
                return
            index, messages = self._scene
            stamp = self.get_clock().now().to_msg()
            for msg in messages:  # one stamp: the node pairs depth with colour by it
                msg.header.stamp = stamp
            key = (stamp.sec, stamp.nanosec)
            self._stamps[key] = index
            while len(self._stamps) > 1000:
                self._stamps.popitem(last=False)
            self._sent_of_scene[index] = self._sent_of_scene.get(index, 0) + 1
            self._lock.notify_all()
        if self.depth_pubs is not None:  # depth first: it is there when the frame is used
            self.depth_pubs[0].publish(messages[1])
            self.depth_pubs[1].publish(messages[2])
        self.image_pub.publish(messages[0])

    def wait_frames(self, index: int, count: int, timeout: float = 5.0) -> bool:
        """Until ``count`` frames of scene ``index`` have been published."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._sent_of_scene.get(index, 0) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def scene_of(self, stamp) -> int | None:
        with self._lock:
            return self._stamps.get((stamp.sec, stamp.nanosec))

    # -- instructions --------------------------------------------------------------------------

    def _on_result(self, msg: SegmentationResult) -> None:
        with self._lock:
            self._results.append(msg)
            self._lock.notify_all()

    def _keep(self, store: OrderedDict, msg) -> None:
        """Keep ``msg`` by its stamp (the newest 20)."""
        with self._lock:
            store[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg
            while len(store) > 20:
                store.popitem(last=False)

    def connected(self) -> bool:
        return (self.image_pub.get_subscription_count() > 0 and self.instruction_pub.get_subscription_count() > 0
                and self.count_publishers("result") > 0)

    def ask(self, text: str, timeout: float) -> SegmentationResult | None:
        """Publish ``text`` and wait for the next result for it."""
        with self._lock:
            start = len(self._results)
        self.instruction_pub.publish(String(data=text))
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for result in self._results[start:]:
                    if result.instruction == text:
                        return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)

    def _for_stamp(self, store: OrderedDict, stamp, timeout: float):
        deadline = time.monotonic() + timeout
        key = (stamp.sec, stamp.nanosec)
        while time.monotonic() < deadline:
            with self._lock:
                msg = store.get(key)
            if msg is not None:
                return msg
            time.sleep(0.02)
        return None

    def overlay_for(self, stamp, timeout: float = 1.0) -> np.ndarray | None:
        msg = self._for_stamp(self._overlays, stamp, timeout)
        return None if msg is None else np.array(conv.image_to_rgb(msg))

    def cloud_for(self, stamp, timeout: float = 1.0) -> PointCloud2 | None:
        return self._for_stamp(self._clouds, stamp, timeout)


def _local_overlay(step: DemoStep, result: SegmentationResult) -> np.ndarray:
    from lisa_ros.core.overlay import draw_overlay

    masks = [np.frombuffer(m.data, np.uint8).reshape(m.height, m.step)[:, : m.width] > 0 for m in result.masks]
    boxes = [(b.x_offset, b.y_offset, b.x_offset + b.width, b.y_offset + b.height) for b in result.boxes]
    return draw_overlay(step.image, masks, boxes, list(result.phrases))


def run_step(node: DemoNode, step: DemoStep, timeout: float, settle_frames: int = 3) -> StepOutcome:
    """Show the step's scene, ask its instruction, collect the outcome."""
    node.show(step)
    node.wait_frames(step.index, settle_frames)
    time.sleep(0.05)  # the last frame reaches the node
    start = time.monotonic()
    result = node.ask(step.instruction, timeout)
    seconds = time.monotonic() - start
    if result is None:
        return StepOutcome(step, None, None, False, None, seconds)
    matched = node.scene_of(result.header.stamp) == step.index
    overlay = cloud = None
    if result.status in (SegmentationResult.OK, SegmentationResult.NO_TARGET):
        overlay = node.overlay_for(result.header.stamp)
        if overlay is None:
            overlay = _local_overlay(step, result)
    if len(result.masks):
        cloud = node.cloud_for(result.header.stamp)
    iou = result_iou(result, step.target) if matched else None
    return StepOutcome(step, result, iou, matched, overlay, seconds, cloud)


def run_script(node: DemoNode, steps: list[DemoStep], timeout: float = 60.0, out_dir: Path | None = None,
               echo=print) -> list[StepOutcome]:
    outcomes = []
    for step in steps:
        outcome = run_step(node, step, timeout)
        outcomes.append(outcome)
        echo(format_row(outcome, len(steps)))
        if out_dir is not None:
            save_overlay(outcome, out_dir)
            save_cloud(step, outcome.cloud, out_dir)
    return outcomes


def spin_in_background(node: Node) -> tuple[MultiThreadedExecutor, threading.Thread]:
    executor = MultiThreadedExecutor(num_threads=2, context=node.context)
    executor.add_node(node)

    def spin():
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass

    thread = threading.Thread(target=spin, name="demo-executor", daemon=True)
    thread.start()
    return executor, thread


def shut_down(node: Node | None, executor: MultiThreadedExecutor | None) -> None:
    """Stop :func:`spin_in_background`'s executor, destroy the node, end rclpy (each if there)."""
    if executor is not None:
        executor.shutdown(timeout_sec=1.0)
    if node is not None:
        node.destroy_node()
    rclpy.try_shutdown()


def wait_connected(node: DemoNode, timeout: float, alive=lambda: True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if node.connected():
            time.sleep(0.5)  # the other direction matches too
            return True
        time.sleep(0.1)
    return False


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m lisa_ros.demo.scene_camera", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10, help="instructions in the script (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene seed (default 0)")
    parser.add_argument("--rate", type=float, default=10.0, help="camera rate in Hz (default 10)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each result")
    parser.add_argument("--out", default="", help="folder for the overlays and point clouds (default: none)")
    parser.add_argument("--no-depth", action="store_true", help="publish colour images only (no 3D)")
    parser.add_argument("--loop", action="store_true", help="repeat the script until Ctrl-C")
    parser.add_argument("--camera-only", type=float, metavar="SECONDS", default=0.0,
                        help="only publish the scenes, switching every SECONDS (send your own instructions)")
    return parser.parse_args(argv)


def camera_only(node: DemoNode, steps: list[DemoStep], period: float) -> None:
    """Cycle through the scenes until Ctrl-C, printing each scene's own instruction."""
    index = 0
    while rclpy.ok(context=node.context):
        step = steps[index % len(steps)]
        node.show(step)
        print(f"scene {step.index} ({step.family}); try: {step.instruction}", flush=True)
        time.sleep(period)
        index += 1


def main(argv=None) -> int:
    from rclpy.utilities import remove_ros_args

    argv = sys.argv if argv is None else argv
    args = parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = None
    executor = None
    try:
        steps = build_script(args.count, args.seed)
        node = DemoNode(args.rate, with_depth=not args.no_depth)
        executor, _ = spin_in_background(node)
        node.show(steps[0])
        if args.camera_only > 0:
            camera_only(node, steps, args.camera_only)
            return 0
        print("waiting for the lisa node (instruction/result topics)...", flush=True)
        while not wait_connected(node, 5.0):
            print("  still waiting for the lisa node...", flush=True)
        while True:
            outcomes = run_script(node, steps, args.timeout, Path(args.out) if args.out else None)
            print(summary(outcomes), flush=True)
            if not args.loop:
                return 0 if all(o.result is not None for o in outcomes) else 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        shut_down(node, executor)


if __name__ == "__main__":
    sys.exit(main())
