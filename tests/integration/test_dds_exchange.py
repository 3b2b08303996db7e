"""A SegmentationResult with a 640x480 mono8 mask crosses a real DDS link between two processes.

Publisher: a child interpreter; subscriber: this test. Both run in a domain of their own
(``subprocess_env``), with localhost discovery and the repository's shared-memory Fast DDS
profile (set for the whole run by tests/conftest.py). Reliable QoS; content checked byte for byte.
"""
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

WIDTH, HEIGHT = 640, 480
TOPIC = "lisa_test/result"
SHM_DIR = Path("/dev/shm")
PROFILE_SEGMENT_BYTES = 8 * 1024 * 1024  # segment_size in config/fastdds_shm.xml


def _shm_segments() -> dict[str, int]:
    """Fast DDS shared-memory segments on this machine: name -> size in bytes (``fastdds_*`` from
    Fast DDS 3, kilted; ``fastrtps_*`` from Fast DDS 2, Jazzy)."""
    sizes = {}
    for path in [*SHM_DIR.glob("fastdds_*"), *SHM_DIR.glob("fastrtps_*")]:
        try:
            sizes[path.name] = path.stat().st_size
        except FileNotFoundError:  # another process's participant went away
            pass
    return sizes

# Shared by both sides: the exact message content to send and expect.
MAKE_MESSAGE = f'''
import numpy as np
from lisa_ros.msg import SegmentationResult
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

def make_message():
    rng = np.random.default_rng(1234)
    mask = (rng.random(({HEIGHT}, {WIDTH})) < 0.3).astype(np.uint8) * 255
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 1700000000, 123456789
    image = Image(header=header, height={HEIGHT}, width={WIDTH}, encoding="mono8",
                  is_bigendian=0, step={WIDTH}, data=mask.tobytes())
    ys, xs = np.nonzero(mask)
    box = RegionOfInterest(x_offset=int(xs.min()), y_offset=int(ys.min()),
                           width=int(xs.max() - xs.min() + 1), height=int(ys.max() - ys.min() + 1))
    return SegmentationResult(
        header=header, request_id="req-42", instruction="what can hold hot coffee?",
        answer="The mug on the left [SEG].", status=SegmentationResult.OK, error="",
        masks=[image], scores=[0.875], boxes=[box], phrases=["The mug on the left"],
        latency_ms=321.5), mask
'''

PUBLISHER = MAKE_MESSAGE + f'''
import sys, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy

rclpy.init()
node = rclpy.create_node("lisa_test_publisher")
qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                 reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
pub = node.create_publisher(SegmentationResult, "{TOPIC}", qos)
deadline = time.monotonic() + 30
while pub.get_subscription_count() < 1:
    if time.monotonic() > deadline:
        print("no subscriber matched", flush=True)
        sys.exit(3)
    time.sleep(0.01)
msg, _ = make_message()
pub.publish(msg)
print("published", flush=True)
sys.stdin.readline()  # stay alive (reliable resends) until the test has the message
node.destroy_node()
rclpy.shutdown()
'''


def test_segmentation_result_crosses_processes(subprocess_env):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    from lisa_ros.msg import SegmentationResult

    namespace = {}
    exec(MAKE_MESSAGE, namespace)
    expected, expected_mask = namespace["make_message"]()

    segments_before = set(_shm_segments()) if SHM_DIR.is_dir() else set()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(subprocess_env["ROS_DOMAIN_ID"]))
    publisher = None
    try:
        node = rclpy.create_node("lisa_test_subscriber", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        received = []
        qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
        node.create_subscription(SegmentationResult, TOPIC, received.append, qos)

        publisher = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER], env=subprocess_env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        assert received, f"nothing received; publisher rc={publisher.poll()}"
        if SHM_DIR.is_dir():  # the profile's 8 MiB segment exists, so the profile is in effect
            new = {n: size for n, size in _shm_segments().items() if n not in segments_before}
            assert any(size >= PROFILE_SEGMENT_BYTES for size in new.values()), new
        out, err = publisher.communicate("done\n", timeout=30)
        assert publisher.returncode == 0, (out, err)
        assert "published" in out
        # Fast DDS reports a bad profile file on stderr and silently falls back to defaults.
        assert "XMLPARSER" not in out + err and "XMLPROFILES" not in out + err, (out, err)
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        rclpy.shutdown(context=context)

    msg = received[0]
    assert len(received) == 1
    assert msg == expected
    got = msg.masks[0]
    assert (got.width, got.height, got.step, got.encoding) == (WIDTH, HEIGHT, WIDTH, "mono8")
    got_mask = np.frombuffer(bytes(got.data), np.uint8).reshape(HEIGHT, WIDTH)
    assert np.array_equal(got_mask, expected_mask)
    assert bytes(got.data) == expected_mask.tobytes()
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1700000000, 123456789)
    assert got.header == msg.header
    assert msg.status == SegmentationResult.OK and list(msg.phrases) == ["The mug on the left"]
