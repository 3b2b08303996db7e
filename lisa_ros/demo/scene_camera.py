"""Synthetic camera plus a scripted instruction sequence, for demos of the running node.

``python -m lisa_ros.demo.scene_camera [--count 10] [--seed 0] [--out demo_out] [--loop]``
(also started by ``perception.launch.py demo:=true`` and by ``lisa-demo``;
``--camera-only SECONDS`` only publishes the scenes). It does not start the ``lisa`` node; it
talks to one that runs:

* publishes ``image`` (sensor_msgs/Image rgb8, 640x480, 10 Hz, sensor-data QoS, header stamp =
  now, frame_id ``synthetic_camera``): the current scene, rendered by
  :func:`lisa_ros.data.synth.render_scene` (each scene comes with its instruction and
  ground-truth masks);
* for each step of the script: shows the step's scene, waits until frames of it have gone out,
  publishes its instruction on ``instruction``, waits for the matching ``result`` (and its
  ``overlay``), and reports answer, status, IoU against the ground truth (official rule,
  :mod:`lisa_ros.eval.metrics`; union of the predicted masks against the union of the targets,
  shadow "ignore" pixels excluded) and latency. Overlays are written to ``--out``.

The script mixes the generator's instruction families (explicit, functional, world knowledge,
spatial, comparative, multi-target, absent, explanatory). Topics are relative: remap with
``--ros-args -r image:=... -r instruction:=...`` or a namespace.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String

from lisa_ros.msg import SegmentationResult

from lisa_ros.node import conversions as conv

__all__ = ["SCRIPT_FAMILIES", "DemoStep", "StepOutcome", "DemoNode", "build_script", "run_script",
           "format_row", "main"]

SIZE = (640, 480)  # (W, H) of the synthetic camera
SCRIPT_FAMILIES = ("explicit", "functional", "world_knowledge", "spatial", "comparative",
                   "multi_target", "absent", "explanatory", "explicit", "multi_target")
STATUS = ("OK", "NO_TARGET", "INVALID_INPUT", "DROPPED", "ERROR")
FRAME_ID = "synthetic_camera"


@dataclass
class DemoStep:
    """One scripted instruction with its scene and ground truth."""

    index: int
    family: str
    instruction: str
    image: np.ndarray          # (H, W, 3) uint8 RGB
    target: np.ndarray         # (H, W) uint8: 1 target, 255 ignore, 0 background
    expected_answer: str


@dataclass
class StepOutcome:
    step: DemoStep
    result: SegmentationResult | None
    iou: float | None
    scene_matched: bool
    overlay: np.ndarray | None
    seconds: float

    @property
    def status(self) -> str:
        return "TIMEOUT" if self.result is None else STATUS[self.result.status]


def build_script(count: int = 10, seed: int = 0, families=SCRIPT_FAMILIES) -> list[DemoStep]:
    """``count`` scenes with one instruction each, cycling through ``families``."""
    from lisa_ros.data.synth import render_scene

    steps = []
    for index in range(count):
        family = families[index % len(families)]
        sample = render_scene(seed, index, size=SIZE, family=family)
        target = np.zeros(sample.image.shape[:2], np.uint8)
        for mask in sample.ignore_masks:
            if mask is not None:
                target[mask] = 255
        for mask in sample.target_masks:
            target[mask] = 1
        steps.append(DemoStep(index, family, sample.texts[0], sample.image, target, sample.answer))
    return steps


def result_iou(result: SegmentationResult, target: np.ndarray) -> float | None:
    """Official per-mask IoU of the union of the result's masks against the target union
    (None unless the result is OK or NO_TARGET)."""
    from lisa_ros.eval.metrics import mask_iou

    if result.status not in (SegmentationResult.OK, SegmentationResult.NO_TARGET):
        return None
    predicted = np.zeros(target.shape, bool)
    for mask in result.masks:
        pixels = np.frombuffer(mask.data, np.uint8).reshape(mask.height, mask.step)[:, : mask.width]
        if pixels.shape == target.shape:
            predicted |= pixels > 0
    return float(mask_iou(predicted, target))


class DemoNode(Node):
    """Synthetic camera (``image``) and instruction client (``instruction`` -> ``result``)."""

    def __init__(self, rate_hz: float = 10.0, name: str = "lisa_demo_scene"):
        super().__init__(name)
        reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        self.image_pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.instruction_pub = self.create_publisher(String, "instruction", reliable)
        self.create_subscription(SegmentationResult, "result", self._on_result, reliable)
        self.create_subscription(Image, "overlay", self._on_overlay,
                                 QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
        self._lock = threading.Condition()
        self._scene: tuple[int, Image] | None = None
        self._stamps: OrderedDict[tuple[int, int], int] = OrderedDict()  # stamp -> scene index (bounded)
        self._sent_of_scene: dict[int, int] = {}
        self._results: list[SegmentationResult] = []
        self._overlays: OrderedDict[tuple[int, int], Image] = OrderedDict()
        self.create_timer(1.0 / rate_hz, self._publish_frame)

    # -- camera ------------------------------------------------------------------------------

    def show(self, index: int, rgb: np.ndarray) -> None:
        """Make ``rgb`` the current scene (published from the next tick on)."""
        msg = conv.rgb_to_image(rgb, Header(frame_id=FRAME_ID))
        with self._lock:
            self._scene = (index, msg)

    def _publish_frame(self) -> None:
        with self._lock:
            if self._scene is None:
                return
            index, msg = self._scene
            msg.header.stamp = self.get_clock().now().to_msg()
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            self._stamps[key] = index
            while len(self._stamps) > 1000:
                self._stamps.popitem(last=False)
            self._sent_of_scene[index] = self._sent_of_scene.get(index, 0) + 1
            self._lock.notify_all()
        self.image_pub.publish(msg)

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

    def _on_overlay(self, msg: Image) -> None:
        with self._lock:
            self._overlays[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg
            while len(self._overlays) > 20:
                self._overlays.popitem(last=False)

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

    def overlay_for(self, stamp, timeout: float = 1.0) -> np.ndarray | None:
        deadline = time.monotonic() + timeout
        key = (stamp.sec, stamp.nanosec)
        while time.monotonic() < deadline:
            with self._lock:
                msg = self._overlays.get(key)
            if msg is not None:
                return np.array(conv.image_to_rgb(msg))
            time.sleep(0.02)
        return None


def _local_overlay(step: DemoStep, result: SegmentationResult) -> np.ndarray:
    from lisa_ros.core.overlay import draw_overlay

    masks = [np.frombuffer(m.data, np.uint8).reshape(m.height, m.step)[:, : m.width] > 0 for m in result.masks]
    boxes = [(b.x_offset, b.y_offset, b.x_offset + b.width, b.y_offset + b.height) for b in result.boxes]
    return draw_overlay(step.image, masks, boxes, list(result.phrases))


def run_step(node: DemoNode, step: DemoStep, timeout: float, settle_frames: int = 3) -> StepOutcome:
    """Show the step's scene, ask its instruction, collect the outcome."""
    node.show(step.index, step.image)
    node.wait_frames(step.index, settle_frames)
    time.sleep(0.05)  # the last frame reaches the node
    start = time.monotonic()
    result = node.ask(step.instruction, timeout)
    seconds = time.monotonic() - start
    if result is None:
        return StepOutcome(step, None, None, False, None, seconds)
    matched = node.scene_of(result.header.stamp) == step.index
    overlay = None
    if result.status in (SegmentationResult.OK, SegmentationResult.NO_TARGET):
        overlay = node.overlay_for(result.header.stamp)
        if overlay is None:
            overlay = _local_overlay(step, result)
    iou = result_iou(result, step.target) if matched else None
    return StepOutcome(step, result, iou, matched, overlay, seconds)


def format_row(outcome: StepOutcome, total: int) -> str:
    result = outcome.result
    answer = "" if result is None else (result.answer or result.error)
    if len(answer) > 160:
        answer = answer[:157] + "..."
    iou = "-" if outcome.iou is None else f"{outcome.iou:.2f}"
    latency = "-" if result is None else f"{result.latency_ms:.0f} ms"
    scene = "" if outcome.scene_matched or result is None else " (result on another scene's frame!)"
    return (f"[{outcome.step.index + 1:2d}/{total}] {outcome.step.family:<15} {outcome.status:<13} IoU {iou:<5} "
            f"{latency:>9}\n      Q: {outcome.step.instruction}\n      A: {answer}{scene}")


def save_overlay(outcome: StepOutcome, out_dir: Path) -> Path | None:
    import cv2

    if outcome.overlay is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{outcome.step.index:02d}_{outcome.step.family}.png"
    cv2.imwrite(str(path), cv2.cvtColor(outcome.overlay, cv2.COLOR_RGB2BGR))
    return path


def run_script(node: DemoNode, steps: list[DemoStep], timeout: float = 60.0, out_dir: Path | None = None,
               echo=print) -> list[StepOutcome]:
    outcomes = []
    for step in steps:
        outcome = run_step(node, step, timeout)
        outcomes.append(outcome)
        echo(format_row(outcome, len(steps)))
        if out_dir is not None:
            save_overlay(outcome, out_dir)
    return outcomes


def summary(outcomes: list[StepOutcome]) -> str:
    answered = [o for o in outcomes if o.result is not None]
    ious = [o.iou for o in outcomes if o.iou is not None]
    latencies = sorted(o.result.latency_ms for o in answered)
    by_status = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    parts = [f"{len(answered)}/{len(outcomes)} answered", ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))]
    if ious:
        parts.append(f"mean IoU {np.mean(ious):.3f}")
    if latencies:
        parts.append(f"median latency {latencies[len(latencies) // 2]:.0f} ms")
    return "; ".join(parts)


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
    parser.add_argument("--out", default="", help="folder for the overlays (default: none)")
    parser.add_argument("--loop", action="store_true", help="repeat the script until Ctrl-C")
    parser.add_argument("--camera-only", type=float, metavar="SECONDS", default=0.0,
                        help="only publish the scenes, switching every SECONDS (send your own instructions)")
    return parser.parse_args(argv)


def camera_only(node: DemoNode, steps: list[DemoStep], period: float) -> None:
    """Cycle through the scenes until Ctrl-C, printing each scene's own instruction."""
    index = 0
    while rclpy.ok(context=node.context):
        step = steps[index % len(steps)]
        node.show(step.index, step.image)
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
        node = DemoNode(args.rate)
        executor, _ = spin_in_background(node)
        node.show(steps[0].index, steps[0].image)
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
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
