"""The generated lisa_ros interfaces: import, construct, constants, field types (the ROS contract)."""
import numpy as np
import pytest

pytestmark = pytest.mark.ros

EXPECTED_RESULT_FIELDS = {
    "header": "std_msgs/Header",
    "request_id": "string",
    "instruction": "string",
    "answer": "string",
    "status": "uint8",
    "error": "string",
    "masks": "sequence<sensor_msgs/Image>",
    "scores": "sequence<float>",
    "boxes": "sequence<sensor_msgs/RegionOfInterest>",
    "phrases": "sequence<string>",
    "latency_ms": "float",
    # appended for 3D (grasp planners) and continuous mode: existing fields keep their place
    "centroids": "sequence<geometry_msgs/Point>",
    "sizes": "sequence<geometry_msgs/Vector3>",
    "valid_points": "sequence<uint32>",
    "status_3d": "sequence<uint8>",
    "reasons_3d": "sequence<string>",
    "tracked": "boolean",
    "frames_since_answer": "uint32",
    "seconds_since_answer": "float",
}
FIRST_RELEASE_FIELDS = 11  # fields of the first release, in order (never renamed, never moved)


def test_segmentation_result_fields():
    from lisa_ros.msg import SegmentationResult

    fields = SegmentationResult.get_fields_and_field_types()
    assert fields == EXPECTED_RESULT_FIELDS
    assert list(fields)[:FIRST_RELEASE_FIELDS] == list(EXPECTED_RESULT_FIELDS)[:FIRST_RELEASE_FIELDS]


def test_segmentation_result_3d_constants_equal_the_core_statuses():
    from lisa_ros.core.objects3d import Object3DStatus
    from lisa_ros.msg import SegmentationResult

    assert {status.name: int(status) for status in Object3DStatus} == {
        name[len("OBJECT3D_"):]: getattr(SegmentationResult, name)
        for name in dir(SegmentationResult) if name.startswith("OBJECT3D_")}
    assert SegmentationResult().tracked is False


def test_segmentation_result_status_constants():
    from lisa_ros.msg import SegmentationResult

    assert (SegmentationResult.OK, SegmentationResult.NO_TARGET, SegmentationResult.INVALID_INPUT,
            SegmentationResult.DROPPED, SegmentationResult.ERROR) == (0, 1, 2, 3, 4)
    assert SegmentationResult().status == SegmentationResult.OK


def test_segmentation_result_construct_and_fill():
    from lisa_ros.msg import SegmentationResult
    from sensor_msgs.msg import Image, RegionOfInterest
    from std_msgs.msg import Header

    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 2:5] = 255
    img = Image(header=header, height=4, width=6, encoding="mono8", step=6, data=mask.tobytes())
    box = RegionOfInterest(x_offset=2, y_offset=1, width=3, height=2)
    msg = SegmentationResult(
        header=header, request_id="7", instruction="segment the mug",
        answer="It is the mug [SEG].", status=SegmentationResult.OK, masks=[img], scores=[0.93],
        boxes=[box], phrases=["It is the mug"], latency_ms=12.5,
    )
    assert msg.masks[0].encoding == "mono8"
    assert bytes(msg.masks[0].data) == mask.tobytes()
    assert msg.scores[0] == pytest.approx(0.93)
    assert msg.boxes[0].x_offset == 2 and msg.boxes[0].height == 2
    assert list(msg.phrases) == ["It is the mug"]
    assert msg.header.frame_id == "camera_color_optical_frame" and msg.header.stamp.nanosec == 345


def test_segment_service_types():
    from lisa_ros.msg import SegmentationResult
    from lisa_ros.srv import Segment

    assert Segment.Request.get_fields_and_field_types() == {
        "instruction": "string", "image": "sensor_msgs/Image", "depth": "sensor_msgs/Image",
        "camera_info": "sensor_msgs/CameraInfo"}
    assert Segment.Response.get_fields_and_field_types() == {"result": "lisa_ros/SegmentationResult"}
    req = Segment.Request(instruction="where is the knife?")
    assert req.image.width == 0 and req.image.height == 0 and len(req.image.data) == 0
    assert isinstance(Segment.Response().result, SegmentationResult)


def test_reason_segment_action_types():
    from lisa_ros.action import ReasonSegment
    from lisa_ros.msg import SegmentationResult

    assert ReasonSegment.Goal.get_fields_and_field_types() == {
        "instruction": "string", "image": "sensor_msgs/Image", "depth": "sensor_msgs/Image",
        "camera_info": "sensor_msgs/CameraInfo"}
    assert ReasonSegment.Result.get_fields_and_field_types() == {"result": "lisa_ros/SegmentationResult"}
    assert ReasonSegment.Feedback.get_fields_and_field_types() == {"stage": "string"}
    stages = (ReasonSegment.Feedback.STAGE_QUEUED, ReasonSegment.Feedback.STAGE_ENCODING_IMAGE,
              ReasonSegment.Feedback.STAGE_GENERATING, ReasonSegment.Feedback.STAGE_DECODING_MASKS)
    assert stages == ("queued", "encoding_image", "generating", "decoding_masks")
    assert isinstance(ReasonSegment.Result().result, SegmentationResult)
    assert ReasonSegment.Feedback(stage="generating").stage == "generating"


def test_interfaces_serialize_round_trip():
    """The C typesupport is loadable: serialize and deserialize through rclpy."""
    from rclpy.serialization import deserialize_message, serialize_message

    from lisa_ros.msg import SegmentationResult

    msg = SegmentationResult(request_id="r1", status=SegmentationResult.NO_TARGET,
                             answer="Sorry, I cannot find it.", scores=[0.5, 0.25])
    back = deserialize_message(serialize_message(msg), SegmentationResult)
    assert back == msg
