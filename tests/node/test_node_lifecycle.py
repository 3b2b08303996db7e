"""Lifecycle of the real node (lisa/change_state, lisa/get_state), load failures, and exit.

Transitions (lifecycle_msgs/Transition): configure 1, cleanup 2, activate 3, deactivate 4,
shutdown from unconfigured 5 / inactive 6 / active 7 (7 is exercised at the end of the flood test).
"""
from __future__ import annotations

import time

import pytest

from node_helpers import LIVENESS_S, NodeProcess, RosClient, camera_scene, image_msg, node_params

pytestmark = pytest.mark.ros

OK, NO_TARGET, INVALID_INPUT, DROPPED, ERROR = range(5)


@pytest.mark.slow
def test_manual_lifecycle(tiny_model, subprocess_env, tmp_path):
    node = NodeProcess(subprocess_env, node_params(tiny_model, autostart=False), tmp_path / "node.log")
    client = None
    try:
        node.wait_log("lisa node started")
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        assert client.state() == "unconfigured"
        assert client.latest_diagnostics()["model_state"] == "unconfigured"

        assert client.transition(1)  # configure: loads the model
        assert client.state() == "inactive"
        diagnostics = client.latest_diagnostics()
        assert diagnostics["model_state"] == "ready" and diagnostics["lifecycle_state"] == "inactive"
        frame = image_msg(camera_scene(), stamp=(300, 0))
        inactive = client.segment_call("Where is the mug?", frame)
        assert inactive.status == DROPPED and "not active" in inactive.error

        assert client.transition(3)  # activate: subscriptions
        assert client.state() == "active"
        client.wait_connected()
        client.send_frame(frame)
        client.instruct("Where is the mug?")
        (result,) = client.results.wait_count(1, 60)
        assert result.status == OK and result.header.stamp.sec == 300

        assert client.transition(4)  # deactivate: no more topic input
        assert client.state() == "inactive"
        client.clear()
        client.instruct("Where is the mug?")
        time.sleep(1.5)
        assert client.results.msgs() == []

        assert client.transition(2)  # cleanup: model released
        assert client.state() == "unconfigured"
        assert client.latest_diagnostics()["model_state"] == "unconfigured"
        assert "model loaded" in node.log()

        assert client.transition(1)  # configure again: the model is loaded anew
        assert client.state() == "inactive"
        assert node.log().count("model loaded") == 2
        result = client.segment_call("Where is the mug?", frame)
        assert result.status == DROPPED  # inactive again

        start = time.monotonic()
        assert client.transition(6)  # shutdown from inactive: the process ends
        assert node.proc.wait(LIVENESS_S) == 0
        assert time.monotonic() - start < LIVENESS_S
    finally:
        if client is not None:
            client.close()
        node.stop()


def test_shutdown_from_unconfigured(subprocess_env, tmp_path):
    """No model needed: autostart off, shutdown at once; the process ends with 0."""
    node = NodeProcess(subprocess_env, {"autostart": False}, tmp_path / "node.log")
    client = None
    try:
        node.wait_log("lisa node started")
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        assert client.state() == "unconfigured"
        start = time.monotonic()
        assert client.transition(5)
        assert node.proc.wait(LIVENESS_S) == 0
        assert time.monotonic() - start < LIVENESS_S
    finally:
        if client is not None:
            client.close()
        node.stop()


def test_load_failure_reported_and_node_stays_up(subprocess_env, tmp_path):
    """A model that cannot load: configure fails, diagnostics say ERROR, the node keeps running
    (fix the parameter and configure again) and exits cleanly on SIGINT."""
    node = NodeProcess(subprocess_env, {"model": str(tmp_path / "no_such_model"), "device": "cpu"},
                       tmp_path / "node.log")
    client = None
    try:
        node.wait_log("autostart: configure failed")
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        diagnostics = client.latest_diagnostics()
        assert diagnostics["_level"] == b"\x02"  # ERROR
        assert diagnostics["model_state"] == "error"
        assert "model failed to load" in diagnostics["_message"] and "no_such_model" in diagnostics["_message"]
        assert client.state() == "unconfigured"
        results = client.set_parameters(precision="fp64")
        assert not results[0].successful and "precision must be one of" in results[0].reason
    finally:
        if client is not None:
            client.close()
    code, seconds = node.sigint_and_wait(LIVENESS_S)
    node.stop()
    assert code == 0 and seconds < LIVENESS_S, node.log()
