"""A kilted process and a Jazzy process exchange lisa_ros's message, service and action over DDS.

What this records (measured with the pinned wheels: kilted rclpy 9.1.2 over Fast DDS 3.2.3, Jazzy
rclpy 7.1.6 over Fast DDS 2.14.5; docs/ros-distros.md "Across distros"):

* both distros compute the same REP-2011 type hashes (RIHS01) for SegmentationResult, Segment and
  ReasonSegment and for the messages they contain, and discovery reports the remote endpoint's
  hash, equal to the local one;
* the publisher/subscription (a camera-sized mask), the service and the action (goal, four
  feedback stages named by the string constants, result) all work across the two distros, with
  the repository's Fast DDS profile (shared memory + UDPv4) that every test uses;
* the two never use each other's shared memory (Fast DDS 2 and 3 name their segments
  differently), so the data crosses over UDPv4 on loopback.

This test runs in both suites of `make test`: in the kilted suite this process is kilted and the
peer (tests/distro/distro_peer.py) runs on Jazzy; in the Jazzy suite the other way round. It
needs both venvs; when the other one has not been built it is skipped (``make venv`` /
``make venv-jazzy``).
"""
from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros]

REPO_ROOT = Path(__file__).resolve().parents[2]
PEER = Path(__file__).with_name("distro_peer.py")
VENVS = {"kilted": REPO_ROOT / ".venv", "jazzy": REPO_ROOT / ".venv-jazzy"}
RCLPY_MAJOR = {"kilted": 9, "jazzy": 7}  # rclpy 9.x is kilted, 7.x Jazzy
# The variable each distro's Fast DDS reads its XML profile from (3.x / 2.x; tests/conftest.py).
PROFILE_VARIABLE = {"kilted": "FASTDDS_DEFAULT_PROFILES_FILE", "jazzy": "FASTRTPS_DEFAULT_PROFILES_FILE"}
FASTDDS_PROFILE = REPO_ROOT / "config" / "fastdds_shm.xml"
# Name prefix of the shared-memory files in /dev/shm: Fast DDS 3 (kilted) / Fast DDS 2 (Jazzy).
SHM_PREFIX = {"kilted": "fastdds", "jazzy": "fastrtps"}
TIMEOUT_S = 60.0


def _this_distro() -> str:
    major = int(metadata.version("ros-rclpy").split(".")[0])
    for distro, rclpy_major in RCLPY_MAJOR.items():
        if major == rclpy_major:
            return distro
    pytest.fail(f"rclpy {metadata.version('ros-rclpy')} is neither kilted nor Jazzy")


def _peer_env(domain_id: int, other: str) -> dict[str, str]:
    """This environment for the other venv's interpreter: same domain, discovery range and Fast
    DDS profile (under the name the other distro reads), but without this venv's library path.
    The ROS wheels' start-up hook adds its own venv's libraries to LD_LIBRARY_PATH in no fixed
    order, so a path of this venv left there could load the wrong distro's libraries."""
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLE.values()}
    env[PROFILE_VARIABLE[other]] = str(FASTDDS_PROFILE)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    ours = Path(sys.prefix).resolve()
    kept = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep)
            if p and not Path(p).resolve().is_relative_to(ours)]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(kept)
    env["VIRTUAL_ENV"] = str(VENVS[other])
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Peer:
    """The peer process; reads its JSON lines with a timeout."""

    def __init__(self, python: Path, env: dict[str, str]):
        self.proc = subprocess.Popen([str(python), str(PEER)], cwd=REPO_ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)

    def read_json(self, timeout: float = TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._selector.select(timeout=0.2):
                line = self.proc.stdout.readline()
                if not line:
                    break
                if line.startswith("{"):
                    return json.loads(line)
            elif self.proc.poll() is not None:
                break
        raise AssertionError(f"no line from the peer (rc {self.proc.poll()}): {self.stop()[-4000:]}")

    def ask_seen(self) -> dict[str, list[str]]:
        self.proc.stdin.write("seen\n")
        self.proc.stdin.flush()
        return self.read_json()["seen"]

    def stop(self) -> str:
        """End the peer; returns its stderr."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.stderr.read()


def _local_hash(type_name: str) -> str:
    """The RIHS01 hash that this venv's rosidl recorded for ``lisa_ros/<type_name>``
    (``msg/SegmentationResult``, ``action/ReasonSegment_FeedbackMessage``, ...), read from the
    interface's type description, ``share/lisa_ros/<kind>/<Interface>.json``."""
    kind, name = type_name.split("/")
    interface = name.split("_")[0]
    described = json.loads((Path(sys.prefix) / "share" / "lisa_ros" / kind / f"{interface}.json").read_text())
    wanted = f"lisa_ros/{type_name}"
    return next(h["hash_string"] for h in described["type_hashes"] if h["type_name"] == wanted)


def _wait(predicate, what: str, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout:g} s")


@pytest.fixture
def peer_and_client(fresh_domain_id):
    """(this distro, the other one, the peer's ready line, the peer, a node of this process
    spun by an executor thread), all in a domain of their own."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    this = _this_distro()
    other = "jazzy" if this == "kilted" else "kilted"
    python = VENVS[other] / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{VENVS[other].name} is not built (make venv / make venv-jazzy)")
    peer = Peer(python, _peer_env(fresh_domain_id, other))
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=fresh_domain_id)
    node = rclpy.create_node("lisa_distro_client", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        ready = peer.read_json()
        yield this, other, ready, peer, node
    finally:
        stderr = peer.stop()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        assert peer.proc.returncode == 0, stderr[-4000:]


def test_message_service_and_action_cross_distros(peer_and_client):
    from action_msgs.msg import GoalStatus
    from rclpy.action import ActionClient
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from distro_peer import ACTION, FEEDBACK_TOPIC, SERVICE, STAGES, TOPIC, published_result
    from lisa_ros.action import ReasonSegment
    from lisa_ros.msg import SegmentationResult
    from lisa_ros.srv import Segment

    this, other, ready, peer, node = peer_and_client
    # The peer really is the other distro.
    assert int(ready["rclpy"].split(".")[0]) == RCLPY_MAJOR[other], ready
    assert ready["rmw"] == "rmw_fastrtps_cpp"

    # -- topic: discovery matches the endpoints, and reports the same type hash on both sides --
    received = []
    reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
    node.create_subscription(SegmentationResult, TOPIC, received.append, reliable)
    result_hash = _local_hash("msg/SegmentationResult")
    publishers = _wait(lambda: node.get_publishers_info_by_topic(f"/{TOPIC}"), "no publisher discovered")
    assert [str(info.topic_type_hash) for info in publishers] == [result_hash]
    assert _wait(lambda: peer.ask_seen()[f"/{TOPIC}"], "peer never saw the subscription") == [result_hash]
    _wait(lambda: received, "no SegmentationResult received")
    assert received[0] == published_result()

    # -- service --------------------------------------------------------------------------------
    client = node.create_client(Segment, SERVICE)
    assert client.wait_for_service(timeout_sec=TIMEOUT_S), "service not discovered"
    request = Segment.Request(instruction=f"from {this}", image=Image(width=4, height=3))
    request.image.header.frame_id = "cam"
    future = client.call_async(request)
    response = _wait(lambda: future.result() if future.done() else None, "no service response")
    assert (response.result.instruction, response.result.answer) == (f"from {this}", "4x3")
    assert response.result.status == SegmentationResult.NO_TARGET
    assert response.result.header.frame_id == "cam"

    # -- action: goal, feedback (the string constants), result ----------------------------------
    action = ActionClient(node, ReasonSegment, ACTION)
    assert action.wait_for_server(timeout_sec=TIMEOUT_S), "action server not discovered"
    # Feedback sent before the peer's writer has matched our reader would be lost (volatile).
    feedback_hashes = _wait(lambda: peer.ask_seen()[FEEDBACK_TOPIC], "peer never saw the feedback reader")
    assert feedback_hashes == [_local_hash("action/ReasonSegment_FeedbackMessage")]
    feedback = []
    goal_future = action.send_goal_async(ReasonSegment.Goal(instruction=f"goal from {this}"),
                                         feedback_callback=lambda msg: feedback.append(msg.feedback.stage))
    goal_handle = _wait(lambda: goal_future.result() if goal_future.done() else None, "goal not answered")
    assert goal_handle.accepted
    result_future = goal_handle.get_result_async()
    outcome = _wait(lambda: result_future.result() if result_future.done() else None, "no action result")
    assert outcome.status == GoalStatus.STATUS_SUCCEEDED
    assert outcome.result.result.instruction == f"goal from {this}"
    # Feedback is best effort in general, but on one machine with a reliable default profile
    # every stage arrives, in order.
    assert tuple(feedback) == STAGES

    # Shared memory is not shared across the two Fast DDS majors: this process never mapped a
    # segment of the peer's kind, so everything above crossed over UDPv4 on loopback.
    mapped = set(re.findall(r"/dev/shm/(fast[a-z]+)_", Path("/proc/self/maps").read_text()))
    assert SHM_PREFIX[this] in mapped and SHM_PREFIX[other] not in mapped, mapped
