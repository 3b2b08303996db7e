"""The other distro's side of tests/distro/test_cross_distro.py, run as a script by the other venv's
interpreter (``<venv>/bin/python tests/distro/distro_peer.py``, cwd: the repository root).

It serves lisa_ros's three interfaces under the ``lisa_distro`` names:

* publishes a fixed ``SegmentationResult`` on ``lisa_distro/result`` (reliable, depth 1) every
  0.2 s once a subscription is matched;
* answers the ``lisa_distro/segment`` service (``Segment``) with a result that echoes the
  request's instruction and image size;
* executes ``lisa_distro/reason_segment`` goals (``ReasonSegment``): one feedback message per
  stage constant, then SUCCEEDED with a result that echoes the goal's instruction.

It prints one JSON line ``{"ready": ..., "rclpy": <version>, "rmw": <identifier>}`` once all
three exist, then, whenever asked by a line on stdin, one JSON line with the type hashes of the
remote subscriptions it sees on its result topic and on the action's feedback topic
(``{"seen": {topic: [hash, ...]}}``); it exits on "quit"
or at end of input. Nothing here is distro-specific: the same code runs on kilted and Jazzy.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from importlib import metadata

import numpy as np
import rclpy
from rclpy.action import ActionServer
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, RegionOfInterest

from lisa_ros.action import ReasonSegment
from lisa_ros.msg import SegmentationResult
from lisa_ros.srv import Segment

TOPIC, SERVICE, ACTION = "lisa_distro/result", "lisa_distro/segment", "lisa_distro/reason_segment"
FEEDBACK_TOPIC = f"/{ACTION}/_action/feedback"  # the action's feedback messages (rcl_action's name)
STAGES = (ReasonSegment.Feedback.STAGE_QUEUED, ReasonSegment.Feedback.STAGE_ENCODING_IMAGE,
          ReasonSegment.Feedback.STAGE_GENERATING, ReasonSegment.Feedback.STAGE_DECODING_MASKS)
MASK_SHAPE = (480, 640)  # height, width (pixels): a camera-sized mask


def published_result() -> SegmentationResult:
    """The message the peer publishes (the test builds the same one to compare)."""
    mask = (np.arange(MASK_SHAPE[0] * MASK_SHAPE[1]) % 7 == 0).astype(np.uint8).reshape(MASK_SHAPE) * 255
    result = SegmentationResult(
        request_id="distro-1", instruction="what holds hot coffee?", answer="The mug [SEG].",
        status=SegmentationResult.OK, masks=[Image(height=MASK_SHAPE[0], width=MASK_SHAPE[1],
                                                   encoding="mono8", step=MASK_SHAPE[1],
                                                   data=mask.tobytes())],
        scores=[0.75], boxes=[RegionOfInterest(x_offset=1, y_offset=2, width=30, height=40)],
        phrases=["The mug"], latency_ms=12.5)
    result.header.frame_id = "camera_color_optical_frame"
    result.header.stamp.sec, result.header.stamp.nanosec = 1700000000, 5
    return result


def echo_result(instruction: str, image: Image) -> SegmentationResult:
    """What the service and the action answer: the request's instruction and image size."""
    return SegmentationResult(request_id="echo", instruction=instruction, status=SegmentationResult.NO_TARGET,
                              answer=f"{image.width}x{image.height}", header=image.header)


def _on_segment(request, response):
    response.result = echo_result(request.instruction, request.image)
    return response


def _execute(goal_handle):
    for stage in STAGES:
        goal_handle.publish_feedback(ReasonSegment.Feedback(stage=stage))
        time.sleep(0.05)
    goal_handle.succeed()
    goal = goal_handle.request
    return ReasonSegment.Result(result=echo_result(goal.instruction, goal.image))


def _seen_hashes(node) -> dict[str, list[str]]:
    seen = {}
    for topic in (f"/{TOPIC}", FEEDBACK_TOPIC):
        infos = node.get_subscriptions_info_by_topic(topic)
        seen[topic] = sorted(str(info.topic_type_hash) for info in infos)
    return seen


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("lisa_distro_peer")
    group = ReentrantCallbackGroup()
    reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
    publisher = node.create_publisher(SegmentationResult, TOPIC, reliable)
    node.create_service(Segment, SERVICE, _on_segment, callback_group=group)
    server = ActionServer(node, ReasonSegment, ACTION, execute_callback=_execute, callback_group=group)
    message = published_result()

    def publish():
        if publisher.get_subscription_count() > 0:
            publisher.publish(message)

    node.create_timer(0.2, publish, callback_group=group)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    spinner = threading.Thread(target=_spin, args=(executor,), daemon=True)
    spinner.start()
    print(json.dumps({"ready": True, "rclpy": metadata.version("ros-rclpy"),
                      "rmw": rclpy.get_rmw_implementation_identifier()}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(json.dumps({"seen": _seen_hashes(node)}), flush=True)
    server.destroy()
    executor.shutdown(timeout_sec=1.0)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def _spin(executor) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass


if __name__ == "__main__":
    sys.exit(main())
