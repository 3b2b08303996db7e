"""The node serving with the exported SAM parts: ``decoder_backend``/``encoder_backend:
onnxruntime`` and ``export_dir`` pointing at a ``lisa-export`` folder of its model. The node must
run on onnxruntime (diagnostics say so, with no fallback warning) and answer with the masks the
torch model gives for the same frame and instruction."""
from __future__ import annotations

import numpy as np
import pytest

from node_helpers import NodeProcess, RosClient, camera_scene, image_msg, node_params

pytestmark = pytest.mark.ros

OK = 0
INSTRUCTION = "Where is the mug?"


def test_node_serves_on_onnxruntime(tiny_model, exports, subprocess_env, tmp_path):
    official = exports("official")  # fp32 CPU torch segmenter of tiny_model and its export folder
    assert official.model_folder == tiny_model
    segmenter = official.segmenter
    params = node_params(tiny_model, decoder_backend="onnxruntime", encoder_backend="onnxruntime",
                         export_dir=str(official.folder))
    node = NodeProcess(subprocess_env, params, tmp_path / "node.log")
    client = None
    try:
        node.wait_log("active:", timeout=240)
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        client.wait_connected()
        diagnostics = client.latest_diagnostics()
        assert diagnostics["decoder_backend"] == "onnxruntime", diagnostics
        assert diagnostics["encoder_backend"] == "onnxruntime", diagnostics
        assert diagnostics["backend_warnings"] == "", diagnostics

        rgb = camera_scene(240, 320, seed=3)
        result = client.segment_call(INSTRUCTION, image_msg(rgb, stamp=(200, 0)))
        assert result.status == OK, result.error
        expected = segmenter.segment(rgb, INSTRUCTION)
        assert result.answer == expected.answer
        assert len(result.masks) == len(expected.masks) >= 1
        for got, want in zip(result.masks, expected.masks):
            mask = np.frombuffer(bytes(got.data), np.uint8).reshape(got.height, got.width) > 0
            agree = (mask == want.mask).mean()
            assert agree >= 0.999, f"onnxruntime and torch masks differ on {1 - agree:.2%} of pixels"
    finally:
        if client is not None:
            client.close()
        node.stop()
