"""3D for grasp planners over DDS: image + depth + camera_info in, each mask's object in metres
out (result fields, objects/points, label_image, objects/markers), with the colour image's
stamp and frame; every bad depth input costs only the 3D part of a result.

Geometry used: a pinhole camera (fx = fy = 525 px at 640x480) facing a plane 1.000 m away, so
every depth point of any mask is at z = 1.000 m and back-projects through the mask's pixels.
The taught tiny model's mask has no particular shape, so the checks are geometric identities
that hold for any mask (the robust rule's accuracy on known shapes is tested in
tests/core/test_objects3d.py).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from node_helpers import (NodeProcess, RosClient, camera_info_msg, camera_scene, depth_msg, image_msg,
                          node_params)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

OK, NO_TARGET, INVALID_INPUT, DROPPED, ERROR = range(5)
OBJ_OK, NO_DEPTH, INVALID_DEPTH, TOO_FEW_POINTS = range(4)
W, H, F = 640, 480, 525.0
CX, CY = (W - 1) / 2, (H - 1) / 2
FRAME = "camera_color_optical_frame"
PLANE_MM = np.full((H, W), 1000, np.uint16)


NAMESPACE = "three_d"


class World:
    def __init__(self, node: NodeProcess, client: RosClient, outputs: dict):
        self.node, self.client, self.outputs = node, client, outputs
        self.stamp = 100

    def frame(self, depth=PLANE_MM, info=None, image_stamp_offset_ns: int = 0, send_depth=True, send_info=True):
        """Publish depth and camera_info with a new stamp, then the colour image (stamp shifted by
        ``image_stamp_offset_ns``); returns the image message."""
        self.stamp += 1
        stamp = (self.stamp, 0)
        if send_depth:
            if isinstance(depth, np.ndarray):
                depth = depth_msg(depth, stamp, FRAME)
            depth.header.stamp.sec, depth.header.stamp.nanosec = stamp
            self.client.depth_pub.publish(depth)
        if send_info:
            info = info or camera_info_msg(F, F, CX, CY, W, H, stamp, FRAME)
            info.header.stamp.sec, info.header.stamp.nanosec = stamp
            self.client.camera_info_pub.publish(info)
        image = image_msg(camera_scene(), (self.stamp, image_stamp_offset_ns), FRAME)
        self.client.send_frame(image, repeat=3)
        return image

    def ask(self, text: str = "Where is the mug?"):
        count = len(self.client.results.msgs())
        self.client.instruct(text)
        results = self.client.results.wait_count(count + 1, 60)
        assert len(results) == count + 1, "no result"
        return results[-1]

    def restart_inputs(self) -> None:
        """Deactivate + activate: empties the node's frame and depth buffers."""
        assert self.client.transition(4) and self.client.transition(3)
        self.client.wait_connected()


@pytest.fixture(scope="module")
def world(tiny_model, tmp_path_factory):
    """A node of its own, in its own namespace (the shared node's results do not mix in), with
    a client listening to the 3D outputs."""
    log = tmp_path_factory.mktemp("node3d") / "node.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    node = NodeProcess(env, node_params(tiny_model, pairing="latest", max_frame_age=30.0), log,
                       args=("--ros-args", "-r", f"__ns:=/{NAMESPACE}"))
    client = None
    try:
        node.wait_log("active:", timeout=240)
        client = RosClient(int(os.environ["ROS_DOMAIN_ID"]), name="lisa_3d_client", namespace=NAMESPACE)
        outputs = client.subscribe_3d()
        client.wait_connected()
        yield World(node, client, outputs)
    finally:
        if client is not None:
            client.close()
        node.stop()


def _mask(image) -> np.ndarray:
    return np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.step)[:, : image.width] > 0


def _cloud_points(cloud) -> np.ndarray:
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<u4")])
    return np.frombuffer(bytes(cloud.data), dtype)


def _for_stamp(collector, stamp, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in reversed(collector.msgs()):
            header = msg.markers[0].header if hasattr(msg, "markers") else msg.header
            if (header.stamp.sec, header.stamp.nanosec) == (stamp.sec, stamp.nanosec):
                return msg
        time.sleep(0.05)
    raise AssertionError(f"nothing with stamp {stamp} on this output")


def test_topics_give_each_mask_its_object_in_metres(world):
    image = world.frame()
    result = world.ask()
    assert result.status == OK and len(result.masks) == 1
    assert result.header == image.header
    assert list(result.status_3d) == [OBJ_OK] and list(result.reasons_3d) == [""]
    mask = _mask(result.masks[0])
    centroid, size = result.centroids[0], result.sizes[0]
    assert centroid.z == pytest.approx(1.000, abs=1e-3)  # 16UC1 millimetres became metres
    assert size.z == pytest.approx(0.0, abs=2e-3)
    rows, cols = np.nonzero(mask)
    assert (cols.min() - CX) / F <= centroid.x <= (cols.max() - CX) / F
    assert (rows.min() - CY) / F <= centroid.y <= (rows.max() - CY) / F
    assert 30 <= result.valid_points[0] <= mask.sum()

    cloud = _for_stamp(world.outputs["cloud"], image.header.stamp)
    assert cloud.header.frame_id == FRAME and [f.name for f in cloud.fields] == ["x", "y", "z", "label"]
    points = _cloud_points(cloud)
    assert len(points) == cloud.width == result.valid_points[0]
    assert np.all(points["label"] == 1)
    assert np.allclose(points["z"], 1.0, atol=1e-6)
    u = np.rint(points["x"] / points["z"] * F + CX).astype(int)
    v = np.rint(points["y"] / points["z"] * F + CY).astype(int)
    assert mask[v, u].all()  # every point back-projects through a pixel of its mask
    assert points["x"].mean() == pytest.approx(centroid.x, abs=1e-4)
    assert points["y"].mean() == pytest.approx(centroid.y, abs=1e-4)

    labels = _for_stamp(world.outputs["label_image"], image.header.stamp)
    assert (labels.encoding, labels.width, labels.height, labels.header.frame_id) == ("mono8", W, H, FRAME)
    assert np.array_equal(np.frombuffer(bytes(labels.data), np.uint8).reshape(H, W) == 1, mask)

    markers = _for_stamp(world.outputs["markers"], image.header.stamp).markers
    assert markers[0].action == markers[0].DELETEALL
    box, text = markers[1], markers[2]
    assert box.type == box.CUBE and box.header.frame_id == FRAME
    assert (box.pose.position.x, box.pose.position.z) == pytest.approx((centroid.x, centroid.z))
    assert text.type == text.TEXT_VIEW_FACING and text.text.startswith("0")


def test_depth_at_half_resolution_in_metres_gives_the_same_object(world):
    """A 320x240 32FC1 depth with its own camera_info (same field of view): scaled intrinsics
    and a resampled mask give the same centroid as full-resolution millimetres."""
    world.frame()
    full = world.ask()
    half_info = camera_info_msg(F / 2, F / 2, (W / 2 - 1) / 2, (H / 2 - 1) / 2, W // 2, H // 2)
    world.frame(depth=np.full((H // 2, W // 2), 1.0, np.float32), info=half_info)
    half = world.ask()
    assert list(half.status_3d) == [OBJ_OK]
    assert np.array_equal(_mask(half.masks[0]), _mask(full.masks[0]))
    for axis in "xyz":
        assert getattr(half.centroids[0], axis) == pytest.approx(getattr(full.centroids[0], axis), abs=0.005)


def _ten_points_of(mask: np.ndarray):
    """The plane's depth on only ten pixels of ``mask`` (0 = no reading elsewhere)."""
    depth = np.zeros((H, W), np.uint16)
    rows, cols = np.nonzero(mask)
    depth[rows[:10], cols[:10]] = 1000
    return depth_msg(depth)


BAD_DEPTH = {
    "unknown encoding": (lambda m: depth_msg(np.full((H, W), 10, np.uint8), encoding="8UC1"), None,
                         INVALID_DEPTH, "unsupported depth encoding '8UC1'"),
    "K all zeros": (lambda m: depth_msg(PLANE_MM), lambda: camera_info_msg(0, 0, 0, 0, W, H),
                    INVALID_DEPTH, "camera_info"),
    "another aspect ratio": (lambda m: depth_msg(np.full((360, W), 1000, np.uint16)), None,
                             INVALID_DEPTH, "aspect"),
    "all NaN": (lambda m: depth_msg(np.full((H, W), np.nan, np.float32)), None, INVALID_DEPTH, "no reading"),
    "all zero": (lambda m: depth_msg(np.zeros((H, W), np.uint16)), None, INVALID_DEPTH, "no reading"),
    "too few points": (_ten_points_of, None, TOO_FEW_POINTS, "fewer than min_points"),
    "malformed data": (lambda m: _truncated(depth_msg(PLANE_MM)), None, INVALID_DEPTH, "bytes, expected"),
}


def _truncated(msg):
    msg.data = msg.data[:-2]
    return msg


@pytest.mark.parametrize("case", sorted(BAD_DEPTH))
def test_bad_depth_in_a_request_costs_only_the_3d(world, case):
    make_depth, make_info, status, reason = BAD_DEPTH[case]
    image = image_msg(camera_scene(), (7, 0), FRAME)
    mask = _mask(world.client.segment_call("Where is the mug?", image).masks[0])
    info = make_info() if make_info else camera_info_msg(F, F, CX, CY, W, H)
    result = world.client.segment_call("Where is the mug?", image, depth=make_depth(mask), camera_info=info)
    assert result.status == OK and len(result.masks) == 1 and np.array_equal(_mask(result.masks[0]), mask)
    assert list(result.status_3d) == [status] and reason in result.reasons_3d[0], result.reasons_3d
    assert result.centroids[0].z == 0.0 and result.valid_points[0] < 30  # no 3D: zeros
    good = world.client.segment_call("Where is the mug?", image, depth=depth_msg(PLANE_MM),
                                     camera_info=camera_info_msg(F, F, CX, CY, W, H))
    assert list(good.status_3d) == [OBJ_OK]  # and the node keeps serving


def test_depth_larger_than_max_image_pixels_is_refused(world):
    world.client.set_parameters(max_image_pixels=W * H)
    try:
        image = image_msg(camera_scene(), (8, 0), FRAME)
        result = world.client.segment_call("Where is the mug?", image,
                                           depth=depth_msg(np.full((2 * H, 2 * W), 1000, np.uint16)),
                                           camera_info=camera_info_msg(2 * F, 2 * F, W - 0.5, H - 0.5, 2 * W, 2 * H))
        assert result.status == OK and list(result.status_3d) == [INVALID_DEPTH]
        assert "exceeds max_image_pixels" in result.reasons_3d[0]
    finally:
        world.client.set_parameters(max_image_pixels=16_000_000)


def test_missing_or_late_depth_on_the_topics(world):
    """Over the topics: no depth yet, depth without camera_info, depth too far in time, and a
    0x0 depth image: each result has its 2D mask and says why it has no 3D."""
    world.restart_inputs()
    world.frame(send_depth=False, send_info=False)
    result = world.ask()
    assert result.status == OK and list(result.status_3d) == [NO_DEPTH]
    assert result.reasons_3d[0] == "no depth image received on the depth topic"

    world.frame(send_info=False)
    result = world.ask()
    assert list(result.status_3d) == [NO_DEPTH] and "no camera_info" in result.reasons_3d[0]

    world.frame(image_stamp_offset_ns=200_000_000)  # 0.2 s after the depth
    result = world.ask()
    assert list(result.status_3d) == [NO_DEPTH] and "depth.pairing_tolerance" in result.reasons_3d[0]

    from sensor_msgs.msg import Image

    empty = Image(encoding="16UC1")
    empty.header.frame_id = FRAME
    world.frame(depth=empty)
    result = world.ask()
    assert list(result.status_3d) == [INVALID_DEPTH] and "zero size" in result.reasons_3d[0]


def test_action_goal_with_depth_returns_the_3d(world):
    from lisa_ros.action import ReasonSegment

    client = world.client
    assert client.action.wait_for_server(timeout_sec=30)
    goal = ReasonSegment.Goal(instruction="Where is the mug?", image=image_msg(camera_scene(), (9, 0), FRAME),
                              depth=depth_msg(np.full((H, W), 0.75, np.float32)),
                              camera_info=camera_info_msg(F, F, CX, CY, W, H))
    handle = client.wait_future(client.action.send_goal_async(goal))
    outcome = client.wait_future(handle.get_result_async())
    result = outcome.result.result
    assert outcome.status == 4 and result.status == OK  # GoalStatus SUCCEEDED
    assert list(result.status_3d) == [OBJ_OK] and result.centroids[0].z == pytest.approx(0.75, abs=1e-3)
