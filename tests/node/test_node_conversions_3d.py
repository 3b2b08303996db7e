"""The 3D conversions and the depth buffer, without DDS: depth messages to arrays (encodings,
byte order, padding, bad metadata), CameraInfo to intrinsics, clouds, label images, markers,
result fields, and pairing depth with a colour frame by stamp."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from lisa_ros.core.objects3d import Object3D, Object3DStatus
from lisa_ros.core.results import MaskResult, SegmentationOutput, Status
from lisa_ros.msg import SegmentationResult
from lisa_ros.node import conversions_3d as conv3d
from lisa_ros.node.conversions import ImageConversionError
from lisa_ros.node.depth_frames import DepthStore
from node_helpers import camera_info_msg, depth_msg

HEADER = Header(frame_id="cam")


def test_depth_message_to_array_in_every_encoding_and_byte_order():
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4) * 100
    array, encoding = conv3d.depth_msg_to_array(depth_msg(depth))
    assert encoding == "16UC1" and np.array_equal(array, depth)
    big = depth_msg(depth.byteswap())
    big.is_bigendian = 1
    assert np.array_equal(conv3d.depth_msg_to_array(big)[0], depth)
    metres = depth.astype(np.float32) / 1000
    assert np.array_equal(conv3d.depth_msg_to_array(depth_msg(metres))[0], metres)
    padded = depth_msg(np.pad(depth, ((0, 0), (0, 2))))  # rows of 6 samples, width 4 used
    padded.width = 4
    assert np.array_equal(conv3d.depth_msg_to_array(padded)[0], depth)


@pytest.mark.parametrize("change, message", [
    (dict(encoding="rgb8"), "unsupported depth encoding 'rgb8'"),
    (dict(width=0, height=0, step=0, data=b""), "zero size"),
    (dict(step=2), "step 2 is smaller"),
    (dict(data=bytes(10)), "bytes, expected"),
])
def test_malformed_depth_messages_are_refused_with_the_reason(change, message):
    msg = depth_msg(np.ones((3, 4), np.uint16))
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageConversionError, match=message):
        conv3d.depth_msg_to_array(msg)


def test_depth_larger_than_the_limit_is_refused_before_reading():
    with pytest.raises(ImageConversionError, match="exceeds max_image_pixels"):
        conv3d.depth_msg_to_array(depth_msg(np.ones((30, 40), np.uint16)), max_pixels=1000)


def test_camera_info_intrinsics():
    assert conv3d.camera_info_intrinsics(None, (480, 640)) is None
    info = camera_info_msg(500.0, 501.0, 319.5, 239.5, 640, 480)
    assert conv3d.camera_info_intrinsics(info, (240, 320)) == ([500.0, 0, 319.5, 0, 501.0, 239.5, 0, 0, 1], 640, 480)
    info.width = info.height = 0  # no size: the depth image's
    assert conv3d.camera_info_intrinsics(info, (240, 320))[1:] == (320, 240)


def test_cloud_layout_round_trips():
    points = np.array([[0.1, -0.2, 1.0], [0.3, 0.4, 1.5]], np.float32)
    cloud = conv3d.points_to_cloud(points, np.array([1, 2], np.uint32), HEADER)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 2, 16, 32)
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [
        ("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("label", 12, 6)]  # FLOAT32 = 7, UINT32 = 6
    decoded = np.frombuffer(bytes(cloud.data), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<u4")])
    assert np.array_equal(np.stack([decoded["x"], decoded["y"], decoded["z"]], 1), points)
    assert list(decoded["label"]) == [1, 2] and cloud.header.frame_id == "cam"
    empty = conv3d.points_to_cloud(np.zeros((0, 3), np.float32), np.zeros(0, np.uint32), HEADER)
    assert empty.width == 0 and len(empty.data) == 0


def test_label_image_later_mask_wins_and_wide_labels_use_mono16():
    a = np.zeros((4, 5), bool)
    a[:, :3] = True
    b = np.zeros((4, 5), bool)
    b[:, 2:] = True
    msg = conv3d.label_image_msg([a, b], (4, 5), HEADER)
    labels = np.frombuffer(bytes(msg.data), np.uint8).reshape(4, 5)
    assert msg.encoding == "mono8" and labels[0].tolist() == [1, 1, 2, 2, 2]
    many = [np.zeros((2, 2), bool) for _ in range(300)]
    many[-1][0, 0] = True
    wide = conv3d.label_image_msg(many, (2, 2), HEADER)
    assert (wide.encoding, wide.step) == ("mono16", 4)
    assert np.frombuffer(bytes(wide.data), "<u2").reshape(2, 2)[0, 0] == 300


def _output_with(objects) -> SegmentationOutput:
    masks = [MaskResult(np.ones((2, 2), bool), 0.5, (0, 0, 2, 2), f"thing {i}", object3d=o)
             for i, o in enumerate(objects)]
    return SegmentationOutput(Status.OK, "", masks, (2, 2))


def _ok(z: float) -> Object3D:
    return Object3D(Object3DStatus.OK, "", (0.1, 0.2, z), (0.05, 0.04, 0.03), 40,
                    np.zeros((40, 3), np.float32), np.zeros((40, 2), np.int32), 2)


def test_result_fields_markers_and_cloud_skip_objects_without_3d():
    output = _output_with([_ok(1.0), Object3D.missing(Object3DStatus.TOO_FEW_POINTS, "12 points"), None])
    result = SegmentationResult()
    conv3d.fill_3d_fields(result, output)
    assert list(result.status_3d) == [0, 3, 1]
    assert list(result.reasons_3d) == ["", "12 points", "no depth image"]
    assert list(result.valid_points) == [40, 0, 0] and result.centroids[0].z == 1.0 and result.sizes[0].x == 0.05
    markers = conv3d.markers_of(output, HEADER).markers
    assert [(m.action, m.id, m.type) for m in markers] == [
        (markers[0].DELETEALL, 0, 0), (0, 0, markers[0].CUBE), (0, 1, markers[0].TEXT_VIEW_FACING)]
    assert markers[2].text == "0: thing 0" and markers[2].pose.position.y < markers[1].pose.position.y
    cloud = conv3d.cloud_of(output, HEADER)
    assert cloud.width == 40


def _stamped(msg, sec, nanosec=0):
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    return msg


def test_depth_store_pairs_the_nearest_depth_within_the_tolerance():
    store = DepthStore(capacity=3)
    colour = _stamped(Image(), 10, 500_000_000)
    assert store.pair(colour.header, 0.05).reason == "no depth image received on the depth topic"
    for sec in range(5, 11):  # only the newest 3 stay: 8, 9, 10
        store.push_depth(_stamped(depth_msg(np.full((2, 2), sec, np.uint16)), sec, 480_000_000))
    assert len(store) == 3
    assert "no camera_info" in store.pair(colour.header, 0.05).reason
    store.push_info(_stamped(camera_info_msg(1, 1, 0, 0, 2, 2), 9, 480_000_000))
    store.push_info(_stamped(camera_info_msg(2, 2, 0, 0, 2, 2), 10, 480_000_000))
    store.push_info(_stamped(camera_info_msg(3, 3, 0, 0, 2, 2), 11, 0))
    pairing = store.pair(colour.header, 0.05)
    assert pairing.depth.header.stamp.sec == 10 and pairing.camera_info.k[0] == 2.0  # the info of its stamp
    late = store.pair(_stamped(Image(), 12).header, 0.05)
    assert late.depth is None and "nearest 1.520 s away" in late.reason
    pairing = store.pair(_stamped(Image(), 8, 500_000_000).header, 0.05)
    assert pairing.depth.header.stamp.sec == 8 and pairing.camera_info.k[0] == 3.0  # newest info
