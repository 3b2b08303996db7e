"""Helpers for the node tests: the node in its own process, and an rclpy client in the test.

* :class:`NodeProcess`: ``python -m lisa_ros.node.lisa_node`` from the repository (so the
  sources under test run), output in a log file, with SIGINT/RSS/wait helpers.
* :class:`RosClient`: a test-side rclpy context (own domain id) with an executor thread,
  publishers for ``image`` / ``image/compressed`` / ``instruction``, collectors for ``result``,
  ``mask``, ``answer``, ``overlay`` and ``/diagnostics``, and clients for the ``segment``
  service, the ``reason_segment`` action, the lifecycle services and parameters.
"""
from __future__ import annotations

import array
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
# Bound for "it ends / it answers" checks: liveness only (a loaded 2-core CI machine can be
# many times slower than usual); how fast things are is measured by bench/node_overhead.py.
LIVENESS_S = 30.0


def image_msg(rgb: np.ndarray, stamp: tuple[int, int] = (0, 0), frame_id: str = "camera",
              encoding: str = "rgb8"):
    """sensor_msgs/Image of an ``HxWx3`` RGB (or HxW mono) array in ``encoding``."""
    import cv2
    from sensor_msgs.msg import Image

    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding == "rgba8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    elif encoding == "bgra8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
    elif encoding == "mono8":
        pixels = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    else:
        pixels = rgb
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=width * channels,
                data=array.array("B", pixels.tobytes()))
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    return msg


def depth_msg(depth: np.ndarray, stamp: tuple[int, int] = (0, 0), frame_id: str = "camera",
              encoding: str | None = None):
    """sensor_msgs/Image of a depth array: ``uint16`` -> 16UC1 (millimetres), ``float32`` ->
    32FC1 (metres), unless ``encoding`` says otherwise (for bad-input tests)."""
    from sensor_msgs.msg import Image

    depth = np.ascontiguousarray(depth)
    if encoding is None:
        encoding = "16UC1" if depth.dtype == np.uint16 else "32FC1"
    height, width = depth.shape[:2]
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                step=width * depth.dtype.itemsize, data=array.array("B", depth.tobytes()))
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    return msg


def camera_info_msg(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                    stamp: tuple[int, int] = (0, 0), frame_id: str = "camera"):
    """sensor_msgs/CameraInfo of a pinhole camera without distortion."""
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    return msg


def camera_scene(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A camera-sized version of the tiny model's training scene (two coloured blocks)."""
    import cv2

    from tiny_checkpoints import scene_image

    return cv2.resize(scene_image(seed=seed), (width, height), interpolation=cv2.INTER_NEAREST)


class NodeProcess:
    """``lisa_node`` in a child process."""

    def __init__(self, env: dict, params: dict, log_path: Path, args: tuple[str, ...] = ()):
        cmd = [sys.executable, "-m", "lisa_ros.node.lisa_node", *args, "--ros-args"]
        for name, value in params.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            cmd += ["-p", f"{name}:={value}"]
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"lisa_node exited ({self.proc.returncode}) before {text!r}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the node log within {timeout} s:\n{self.log()}")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    def sigint_and_wait(self, timeout: float = 5.0) -> tuple[int | None, float]:
        """Send SIGINT; (exit code or None if still running after ``timeout``, seconds taken)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - start

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class Collector:
    """Thread-safe list of received messages with waiting."""

    def __init__(self):
        self.items: list = []
        self._cond = threading.Condition()

    def __call__(self, msg) -> None:
        with self._cond:
            self.items.append((time.monotonic(), msg))
            self._cond.notify_all()

    def msgs(self) -> list:
        with self._cond:
            return [m for _, m in self.items]

    def wait_count(self, count: int, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return [m for _, m in self.items]

    def clear(self) -> None:
        with self._cond:
            self.items.clear()


class RosClient:
    """The test's side of the wire (own rclpy context, executor thread)."""

    def __init__(self, domain_id: int, name: str = "lisa_test_client", namespace: str = ""):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from lifecycle_msgs.srv import ChangeState, GetState
        from rcl_interfaces.srv import SetParameters
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from lisa_ros.action import ReasonSegment
        from lisa_ros.msg import SegmentationResult
        from lisa_ros.srv import Segment

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.context)
        self.namespace = namespace.strip("/")
        node = self.node
        prefix = "lisa"
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        self.image_pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
        self.compressed_pub = node.create_publisher(CompressedImage, "image/compressed", qos_profile_sensor_data)
        self.instruction_pub = node.create_publisher(String, "instruction", reliable)
        self.results, self.masks, self.answers = Collector(), Collector(), Collector()
        self.overlays, self.diagnostics = Collector(), Collector()
        node.create_subscription(SegmentationResult, "result", self.results, reliable)
        node.create_subscription(Image, "mask", self.masks, reliable)
        node.create_subscription(String, "answer", self.answers, reliable)
        node.create_subscription(Image, "overlay", self.overlays, reliable)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics, reliable)
        self.depth_pub = node.create_publisher(Image, "depth", qos_profile_sensor_data)
        self.camera_info_pub = node.create_publisher(CameraInfo, "depth/camera_info", qos_profile_sensor_data)
        self.segment = node.create_client(Segment, "segment")
        self.stop_tracking = node.create_client(Trigger, "stop_tracking")
        self.action = ActionClient(node, ReasonSegment, "reason_segment")
        self.change_state = node.create_client(ChangeState, f"{prefix}/change_state")
        self.get_state = node.create_client(GetState, f"{prefix}/get_state")
        self.set_params = node.create_client(SetParameters, f"{prefix}/set_parameters")
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown
            pass

    # -- waiting helpers ---------------------------------------------------------------------

    def wait_connected(self, timeout: float = 30.0, compressed: bool = False) -> None:
        """Until the node's subscriptions and result publisher are matched with ours."""
        deadline = time.monotonic() + timeout
        image_pub = self.compressed_pub if compressed else self.image_pub
        while time.monotonic() < deadline:
            if (image_pub.get_subscription_count() > 0 and self.instruction_pub.get_subscription_count() > 0
                    and self.node.count_publishers("result") > 0):
                time.sleep(0.3)  # let the reverse direction finish matching too
                return
            time.sleep(0.05)
        raise AssertionError("the node's topics did not match within the timeout")

    def call(self, client, request, timeout: float = 60.0):
        assert client.wait_for_service(timeout_sec=timeout), f"service {client.srv_name} not available"
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.done(), f"no response from {client.srv_name} within {timeout} s"
        return future.result()

    def wait_future(self, future, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.done(), f"future not done within {timeout} s"
        return future.result()

    # -- conveniences ------------------------------------------------------------------------

    def instruct(self, text: str) -> None:
        from std_msgs.msg import String

        self.instruction_pub.publish(String(data=text))

    def send_frame(self, msg, repeat: int = 3, gap: float = 0.03) -> None:
        """Publish one frame a few times (best effort) so the node surely holds it."""
        for _ in range(repeat):
            self.image_pub.publish(msg)
            time.sleep(gap)

    def segment_call(self, instruction: str, image=None, timeout: float = 60.0, depth=None, camera_info=None):
        from sensor_msgs.msg import CameraInfo, Image

        from lisa_ros.srv import Segment

        request = Segment.Request(instruction=instruction, image=image if image is not None else Image(),
                                  depth=depth if depth is not None else Image(),
                                  camera_info=camera_info if camera_info is not None else CameraInfo())
        return self.call(self.segment, request, timeout).result

    def subscribe_3d(self) -> dict:
        """Collectors for the 3D outputs (``objects/points``, ``label_image``, ``objects/markers``);
        the node builds them only while someone subscribes."""
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, PointCloud2
        from visualization_msgs.msg import MarkerArray

        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        collectors = {"cloud": Collector(), "label_image": Collector(), "markers": Collector()}
        for topic, kind, name in (("objects/points", PointCloud2, "cloud"), ("label_image", Image, "label_image"),
                                  ("objects/markers", MarkerArray, "markers")):
            self.node.create_subscription(kind, topic, collectors[name], reliable)
        return collectors

    def set_parameters(self, **values) -> list:
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        params = [Parameter(name.replace("__", "."), value=value).to_parameter_msg()
                  for name, value in values.items()]
        return self.call(self.set_params, SetParameters.Request(parameters=params)).results

    def transition(self, transition_id: int) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(self.change_state, request, timeout=120.0).success

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return self.call(self.get_state, GetState.Request()).current_state.label

    def latest_diagnostics(self, timeout: float = 5.0) -> dict:
        """Key/values of the next status of the ``lisa`` node in this client's namespace
        (``lisa: model``, or ``<namespace>/lisa: model``: other lisa nodes also publish on
        ``/diagnostics``)."""
        name = f"{self.namespace}/lisa: model" if self.namespace else "lisa: model"
        start = len(self.diagnostics.msgs())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.diagnostics.wait_count(start + 1, max(0.0, deadline - time.monotonic()))
            for array_msg in msgs[start:]:
                for status in array_msg.status:
                    if status.name == name:
                        values = {kv.key: kv.value for kv in status.values}
                        values["_level"] = status.level
                        values["_message"] = status.message
                        return values
            start = len(msgs)
        raise AssertionError(f"no {name!r} diagnostics received")

    def wait_idle(self, quiet: float = 0.8, timeout: float = 30.0) -> None:
        """Until no result arrived for ``quiet`` seconds (earlier tests' results are flushed)."""
        deadline = time.monotonic() + timeout
        last = len(self.results.msgs())
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            count = len(self.results.msgs())
            if count != last:
                last, last_change = count, time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                return

    def clear(self) -> None:
        for collector in (self.results, self.masks, self.answers, self.overlays):
            collector.clear()

    def close(self) -> None:
        import rclpy

        self.action.destroy()
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def node_params(model_dir: Path, **extra) -> dict:
    """Parameters for a test node on the tiny checkpoint (CPU, fp32)."""
    params = {"model": str(model_dir), "device": "cpu", "precision": "fp32", "diagnostics_period": 0.5}
    params.update(extra)
    return params


def env_with_domain(domain_id: int) -> dict:
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["PYTHONUNBUFFERED"] = "1"
    return env
