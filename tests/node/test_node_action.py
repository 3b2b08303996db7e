"""The ``reason_segment`` action of the real node: feedback stages, result, and cancellation
(queued and running goals end CANCELED and publish nothing on ``result``)."""
from __future__ import annotations

import threading
import time

import pytest

from node_helpers import camera_scene, image_msg

pytestmark = pytest.mark.ros

OK, NO_TARGET, INVALID_INPUT, DROPPED, ERROR = range(5)
# An instruction whose prefill alone takes about a second or more with the tiny model on CPU.
LONG_INSTRUCTION = ("Where is the mug? " * 1000).strip()


class Goal:
    """One goal sent with feedback recorded."""

    def __init__(self, client, instruction, image=None):
        from sensor_msgs.msg import Image

        from lisa_ros.action import ReasonSegment

        self.client = client
        self.stages: list[str] = []
        self.got_stage = threading.Condition()
        goal = ReasonSegment.Goal(instruction=instruction, image=image if image is not None else Image())
        assert client.action.wait_for_server(timeout_sec=30)
        self.handle = client.wait_future(client.action.send_goal_async(goal, feedback_callback=self._feedback))
        assert self.handle.accepted

    def _feedback(self, msg):
        with self.got_stage:
            self.stages.append(msg.feedback.stage)
            self.got_stage.notify_all()

    def wait_stage(self, stage, timeout=60.0):
        deadline = time.monotonic() + timeout
        with self.got_stage:
            while stage not in self.stages and time.monotonic() < deadline:
                self.got_stage.wait(0.1)
        assert stage in self.stages, self.stages

    def cancel(self):
        return self.client.wait_future(self.handle.cancel_goal_async())

    def result(self, timeout=120.0):
        return self.client.wait_future(self.handle.get_result_async(), timeout)


def test_action_feedback_and_result(fresh_client):
    from action_msgs.msg import GoalStatus

    client = fresh_client
    frame = image_msg(camera_scene(), stamp=(200, 1), frame_id="act_cam")
    goal = Goal(client, "Where is the mug?", frame)
    # Feedback (a topic) and the result (a service) are not ordered, and rclpy's ActionClient drops a
    # goal's feedback callback once its result response is in: wait for the last stage first, so the
    # result request cannot race it.
    goal.wait_stage("decoding_masks")
    response = goal.result()
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    result = response.result.result
    assert result.status == OK and result.header == frame.header and len(result.masks) == 1
    assert goal.stages == ["queued", "encoding_image", "generating", "decoding_masks"]
    published = client.results.wait_count(1, 10)
    assert [r.request_id for r in published] == [result.request_id]


def test_action_bad_input_aborts_with_invalid_input(fresh_client):
    from action_msgs.msg import GoalStatus

    client = fresh_client
    frame = image_msg(camera_scene(60, 80))
    frame.encoding = "32FC1"
    response = Goal(client, "Where is the mug?", frame).result()
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.result.status == INVALID_INPUT
    assert "unsupported image encoding" in response.result.result.error


@pytest.mark.slow
def test_action_cancel_queued_and_running(fresh_client):
    from action_msgs.msg import GoalStatus

    client = fresh_client
    client.set_parameters(max_instruction_chars=100_000)
    frame = image_msg(camera_scene(), stamp=(201, 0))
    running = Goal(client, LONG_INSTRUCTION, frame)
    running.wait_stage("generating")
    queued = Goal(client, "Where is the mug?", frame)
    queued.wait_stage("queued")
    start = time.monotonic()
    queued.cancel()
    response = queued.result(timeout=30)
    assert response.status == GoalStatus.STATUS_CANCELED
    assert response.result.result.status == DROPPED
    assert "encoding_image" not in queued.stages  # never started
    running.cancel()
    response = running.result()
    assert response.status == GoalStatus.STATUS_CANCELED, running.stages
    assert "decoding_masks" not in running.stages
    assert time.monotonic() - start < 60
    # cancelled goals publish nothing on `result`; the node still serves
    assert client.segment_call("Is there a banana?", frame).status == NO_TARGET
    statuses = [r.instruction for r in client.results.msgs()]
    assert statuses == ["Is there a banana?"]
