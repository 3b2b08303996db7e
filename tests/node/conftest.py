"""Fixtures of the node tests.

* ``tiny_model``: the taught tiny checkpoint (tests/tiny_checkpoints.py), shared with the other test folders.
* ``shared_node`` + ``client``: one ``lisa_node`` process on the tiny model (session's ROS domain)
  and the test-side rclpy client, shared by the topic, service and action tests (a node start
  costs 10-20 s here). Tests that change its parameters restore them (``restore_params``).
  Tests that stop, flood or reconfigure a node start their own (``subprocess_env``).
"""
from __future__ import annotations

import os

import pytest

from node_helpers import NodeProcess, RosClient, node_params


@pytest.fixture(scope="session")
def tiny_model(tiny_official):
    """The session's taught tiny checkpoint (tests/conftest.py)."""
    return tiny_official


# The shared node's parameters (tests that change one put it back to this value).
SHARED_PARAMS = {"pairing": "latest", "pairing_timeout": 1.0, "max_frame_age": 5.0, "max_queue": 4,
                 "publish_overlay": True, "max_instruction_chars": 2000, "max_image_pixels": 16_000_000,
                 "service_timeout": 60.0}


@pytest.fixture(scope="session")
def shared_node(tiny_model, tmp_path_factory):
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path_factory.mktemp("node_logs") / "shared_node.log"
    node = NodeProcess(env, node_params(tiny_model, **SHARED_PARAMS), log)
    try:
        node.wait_log("active:", timeout=240)
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def client(shared_node):
    ros = RosClient(int(os.environ["ROS_DOMAIN_ID"]))
    try:
        ros.wait_connected()
        yield ros
    finally:
        ros.close()


@pytest.fixture
def fresh_client(client):
    """The shared client, idle and with empty collectors; parameters restored afterwards."""
    client.wait_idle(quiet=0.5)
    client.clear()
    yield client
    client.set_parameters(**SHARED_PARAMS)
    client.wait_idle(quiet=0.5)


@pytest.fixture(scope="session")
def tiny_long_answers(tiny_safetensors, tmp_path_factory):
    """The random tiny checkpoint with room for 8192 positions: greedy answers of its random
    weights run to ``max_new_tokens`` without EOS, so tests can stop long generations."""
    import json
    import shutil

    folder = tmp_path_factory.mktemp("tiny_long") / "model"
    shutil.copytree(tiny_safetensors, folder)
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = 8192
    (folder / "config.json").write_text(json.dumps(config))
    return folder
