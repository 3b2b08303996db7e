"""Topic interface of the real node (own process, tiny model, real DDS): round trip, headers,
masks, ids and order, pairing ``latest``/``next``, and every bad input answered INVALID_INPUT."""
from __future__ import annotations

import time

import numpy as np
import pytest

from node_helpers import LIVENESS_S, camera_scene, image_msg

pytestmark = pytest.mark.ros

OK, NO_TARGET, INVALID_INPUT, DROPPED, ERROR = range(5)
W, H = 640, 480


def _results(client, count, timeout=60.0):
    results = client.results.wait_count(count, timeout)
    assert len(results) >= count, f"expected {count} results, got {[(r.status, r.error) for r in results]}"
    return results


def test_round_trip_outputs(fresh_client):
    client = fresh_client
    frame = image_msg(camera_scene(), stamp=(1700000000, 250), frame_id="cam_optical")
    client.send_frame(frame)
    client.instruct("Where is the mug?")
    (result,) = _results(client, 1)
    assert result.status == OK, result.error
    assert result.header == frame.header
    assert result.instruction == "Where is the mug?"
    assert result.answer == "Sure, [SEG]."
    assert len(result.masks) == len(result.scores) == len(result.boxes) == len(result.phrases) == 1
    mask = result.masks[0]
    assert (mask.encoding, mask.width, mask.height, mask.step) == ("mono8", W, H, W)
    assert mask.header == frame.header
    values = np.unique(np.frombuffer(mask.data, np.uint8))
    assert set(values.tolist()) <= {0, 255}
    box = result.boxes[0]
    pixels = np.frombuffer(mask.data, np.uint8).reshape(H, W) > 0
    if pixels.any():
        ys, xs = np.nonzero(pixels)
        assert (box.x_offset, box.y_offset, box.width, box.height) == (
            xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    assert result.phrases == ["Sure"]
    assert result.latency_ms > 0
    # the side topics: union mask, clean answer text, overlay; all with the source header
    (union,) = client.masks.wait_count(1, 10)
    assert union.header == frame.header and union.encoding == "mono8" and bytes(union.data) == bytes(mask.data)
    (answer,) = client.answers.wait_count(1, 10)
    assert answer.data == "Sure."  # the answer without its marker, punctuation tidied
    (overlay,) = client.overlays.wait_count(1, 10)
    assert overlay.header == frame.header and overlay.encoding == "rgb8"
    assert (overlay.width, overlay.height, overlay.step) == (W, H, 3 * W)


def test_multi_target_and_no_target(fresh_client):
    client = fresh_client
    client.send_frame(image_msg(camera_scene(), stamp=(5, 0)))
    client.instruct("Where are the mug and the cup?")
    client.instruct("Is there a banana?")
    two, none = _results(client, 2)
    assert two.status == OK and len(two.masks) == 2 and two.phrases == ["The mug", "the cup"]
    assert none.status == NO_TARGET and none.masks == [] and none.error == ""
    assert none.answer == "There is no banana in this image."
    answers = [m.data for m in client.answers.wait_count(2, 10)]
    assert answers[1] == "There is no banana in this image."


def test_request_ids_and_order(fresh_client):
    """Results come in instruction order (invalid ones included), ids <start>-<n> increasing."""
    client = fresh_client
    client.send_frame(image_msg(camera_scene(), stamp=(6, 0)))
    sent = ["Where is the mug?", "   ", "Is there a banana?", "Where are the mug and the cup?", ""]
    for text in sent:
        client.instruct(text)
    results = _results(client, len(sent))
    assert [r.instruction for r in results] == sent
    assert [r.status for r in results] == [OK, INVALID_INPUT, NO_TARGET, OK, INVALID_INPUT]
    prefixes = {r.request_id.rsplit("-", 1)[0] for r in results}
    numbers = [int(r.request_id.rsplit("-", 1)[1]) for r in results]
    assert len(prefixes) == 1 and numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert results[1].error == "instruction is empty"


def test_pairing_latest_uses_newest_frame_at_receipt(fresh_client):
    client = fresh_client
    for sec in (10, 11, 12):
        client.send_frame(image_msg(camera_scene(seed=sec), stamp=(sec, 0)))
    client.instruct("Where is the mug?")
    time.sleep(0.3)
    client.send_frame(image_msg(camera_scene(), stamp=(13, 0)))  # after the instruction: not used
    (result,) = _results(client, 1)
    assert result.header.stamp.sec == 12


def test_pairing_next_uses_first_frame_after_instruction(fresh_client):
    client = fresh_client
    client.set_parameters(pairing="next", pairing_timeout=5.0)
    client.send_frame(image_msg(camera_scene(), stamp=(20, 0)))  # before: not used
    time.sleep(0.2)
    client.instruct("Where is the mug?")
    time.sleep(0.5)
    client.send_frame(image_msg(camera_scene(), stamp=(21, 0)), repeat=1)
    time.sleep(0.1)
    client.send_frame(image_msg(camera_scene(), stamp=(22, 0)), repeat=1)
    (result,) = _results(client, 1)
    assert result.status == OK, result.error
    assert result.header.stamp.sec == 21


def test_pairing_next_timeout_is_invalid_input(fresh_client):
    client = fresh_client
    client.set_parameters(pairing="next", pairing_timeout=0.5)
    client.send_frame(image_msg(camera_scene(), stamp=(30, 0)))
    time.sleep(0.2)
    start = time.monotonic()
    client.instruct("Where is the mug?")
    (result,) = _results(client, 1, timeout=20)
    assert result.status == INVALID_INPUT
    assert "no image received after the instruction" in result.error and "pairing_timeout" in result.error
    assert time.monotonic() - start < LIVENESS_S


def test_stale_frame_is_not_used(fresh_client):
    client = fresh_client
    client.set_parameters(max_frame_age=0.3)
    client.send_frame(image_msg(camera_scene(), stamp=(40, 0)), repeat=1)
    time.sleep(0.8)
    client.instruct("Where is the mug?")
    (result,) = _results(client, 1)
    assert result.status == INVALID_INPUT and result.error.startswith("no recent frame")
    assert result.header.stamp.sec == 40


def _bad_frame(kind: str):
    good = image_msg(camera_scene(), stamp=(50, 0))
    if kind == "encoding":
        good.encoding = "16UC1"
    elif kind == "length":
        good.data = good.data[:-7]
    elif kind == "step":
        good.step = W * 3 - 1
        good.data = good.data[: good.step * H]
    elif kind == "zero":
        good.width, good.step, good.data = 0, 0, b""
    elif kind == "pixels":
        pass  # made too large by the max_image_pixels parameter below
    return good


@pytest.mark.parametrize("kind, expected", [
    ("encoding", "unsupported image encoding '16UC1'"),
    ("length", "image data has"),
    ("step", "image step 1919 is smaller than width x channels"),
    ("zero", "image has zero size"),
    ("pixels", "exceeds max_image_pixels"),
])
def test_bad_frames_on_topic(fresh_client, kind, expected):
    client = fresh_client
    if kind == "pixels":
        client.set_parameters(max_image_pixels=W * H - 1)
    client.send_frame(_bad_frame(kind))
    client.instruct("Where is the mug?")
    (result,) = _results(client, 1)
    assert result.status == INVALID_INPUT
    assert expected in result.error, result.error
    # the node keeps serving
    client.set_parameters(max_image_pixels=16_000_000)
    client.send_frame(image_msg(camera_scene(), stamp=(51, 0)))
    client.instruct("Is there a banana?")
    assert _results(client, 2)[1].status == NO_TARGET


def test_bad_instructions_on_topic(fresh_client):
    client = fresh_client
    client.set_parameters(max_instruction_chars=50)
    client.send_frame(image_msg(camera_scene(), stamp=(60, 0)))
    for text in ["", " \t\n ", "x" * 51, "Where is the mug?"]:
        client.instruct(text)
    results = _results(client, 4)
    assert [r.status for r in results] == [INVALID_INPUT] * 3 + [OK]
    assert results[0].error == results[1].error == "instruction is empty"
    assert "exceeds max_instruction_chars (50)" in results[2].error


@pytest.mark.slow
def test_compressed_input(fresh_client, shared_node):
    """compressed:=true (applied at activate): JPEG and PNG frames; junk -> INVALID_INPUT."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    client = fresh_client
    client.set_parameters(compressed=True)
    try:
        assert client.transition(4)  # deactivate
        assert client.transition(3)  # activate
        client.wait_connected(compressed=True)
        rgb = camera_scene()
        statuses = []
        for fmt, ext in (("jpeg", ".jpg"), ("png", ".png"), ("jpeg", None)):
            if ext is None:
                data = b"\xff\xd8\xff\xe0 definitely not a jpeg"
            else:
                data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
            msg = CompressedImage(format=fmt, data=data)
            msg.header.stamp.sec = 70 + len(statuses)
            for _ in range(3):
                client.compressed_pub.publish(msg)
                time.sleep(0.03)
            client.instruct("Where is the mug?")
            result = _results(client, len(statuses) + 1)[-1]
            statuses.append(result.status)
            if ext is not None:
                assert result.status == OK, result.error
                assert result.header.stamp.sec == msg.header.stamp.sec
                assert (result.masks[0].width, result.masks[0].height) == (W, H)
            else:
                assert result.status == INVALID_INPUT and "undecodable compressed image" in result.error
    finally:
        client.set_parameters(compressed=False)
        client.transition(4)
        client.transition(3)
        client.wait_connected()
