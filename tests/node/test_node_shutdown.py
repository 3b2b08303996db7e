"""SIGINT ends the node within 5 s, also in the middle of a long model stage."""
from __future__ import annotations

import time

import pytest

from node_helpers import LIVENESS_S, NodeProcess, RosClient, camera_scene, image_msg, node_params

pytestmark = pytest.mark.ros

LONG_INSTRUCTION = ("Where is the mug? " * 1200).strip()  # several seconds of prefill + decoding


@pytest.mark.slow
def test_sigint_mid_inference_exits_within_5s(tiny_model, subprocess_env, tmp_path):
    from lisa_ros.action import ReasonSegment

    params = node_params(tiny_model, max_instruction_chars=100_000, max_new_tokens=4096)
    node = NodeProcess(subprocess_env, params, tmp_path / "node.log")
    client = None
    try:
        node.wait_log("active:")
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        stages = []
        assert client.action.wait_for_server(timeout_sec=30)
        goal = ReasonSegment.Goal(instruction=LONG_INSTRUCTION, image=image_msg(camera_scene()))
        handle = client.wait_future(client.action.send_goal_async(
            goal, feedback_callback=lambda msg: stages.append(msg.feedback.stage)))
        assert handle.accepted
        result_future = handle.get_result_async()
        deadline = time.monotonic() + 60
        while "generating" not in stages and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "generating" in stages and not result_future.done()
        code, seconds = node.sigint_and_wait(LIVENESS_S)
        assert code is not None, f"still running 5 s after SIGINT:\n{node.log()}"
        assert code == 0 and seconds < LIVENESS_S, node.log()
        assert "Traceback" not in node.log()
    finally:
        if client is not None:
            client.close()
        node.stop()
