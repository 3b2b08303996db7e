"""Pure conversion functions (lisa_ros/node/conversions.py): no node, no DDS."""
from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from lisa_ros.core.results import MaskResult, SegmentationOutput, Status
from lisa_ros.msg import SegmentationResult
from lisa_ros.node import conversions as conv

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)


def _msg(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    if pad:
        rows = np.concatenate([rows, np.full((height, pad), 77, np.uint8)], axis=1)
    return Image(height=height, width=width, encoding=encoding, step=rows.shape[1],
                 data=array.array("B", rows.tobytes()))


def _encoded(encoding: str) -> np.ndarray:
    return {
        "rgb8": RGB,
        "bgr8": RGB[..., ::-1],
        "rgba8": np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)]),
        "bgra8": np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 9, np.uint8)]),
        "mono8": RGB[..., 0],
    }[encoding]


@pytest.mark.parametrize("encoding", sorted(conv.SUPPORTED_ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3])
def test_every_encoding_with_and_without_row_padding(encoding, pad):
    pixels = np.ascontiguousarray(_encoded(encoding))
    out = conv.image_to_rgb(_msg(pixels, encoding, pad))
    assert out.shape == (7, 5, 3) and out.dtype == np.uint8
    if encoding == "mono8":
        expected = np.repeat(RGB[..., :1], 3, axis=2)
    else:
        expected = RGB
    np.testing.assert_array_equal(out, expected)


def test_rgb8_is_zero_copy():
    msg = _msg(RGB, "rgb8")
    out = conv.image_to_rgb(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


def test_big_endian_flag_is_irrelevant_for_8_bit():
    msg = _msg(RGB, "rgb8")
    msg.is_bigendian = 1
    np.testing.assert_array_equal(conv.image_to_rgb(msg), RGB)


@pytest.mark.parametrize("change, message", [
    (dict(encoding="16UC1"), "unsupported image encoding '16UC1'"),
    (dict(encoding="yuv422"), "unsupported image encoding"),
    (dict(width=0), "image has zero size (0x7)"),
    (dict(height=0), "image has zero size (5x0)"),
    (dict(step=14), "image step 14 is smaller than width x channels = 5 x 3 = 15"),
    (dict(data=array.array("B", bytes(104))), "image data has 104 bytes, expected step x height = 15 x 7 = 105"),
    (dict(data=array.array("B", bytes(106))), "image data has 106 bytes"),
])
def test_bad_images_raise_readable_errors(change, message):
    msg = _msg(RGB, "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(conv.ImageConversionError) as info:
        conv.image_to_rgb(msg)
    assert message in str(info.value)


def test_max_pixels():
    with pytest.raises(conv.ImageConversionError, match=r"7 = 35 pixels exceeds max_image_pixels \(34\)"):
        conv.image_to_rgb(_msg(RGB, "rgb8"), max_pixels=34)
    assert conv.image_to_rgb(_msg(RGB, "rgb8"), max_pixels=35).shape == (7, 5, 3)


def test_empty_image_placeholder():
    assert conv.is_empty_image(Image())
    assert not conv.is_empty_image(_msg(RGB, "rgb8"))
    zero_width_with_data = _msg(RGB, "rgb8")
    zero_width_with_data.width = 0
    assert not conv.is_empty_image(zero_width_with_data)


@pytest.mark.skipif(not conv.HAVE_CV_BRIDGE, reason="cv_bridge is not installed (the PyPI ROS wheels lack it)")
@pytest.mark.parametrize("encoding", sorted(conv.SUPPORTED_ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3])
def test_cv_bridge_and_numpy_paths_agree(encoding, pad, monkeypatch):  # pragma: no cover - real ROS
    msg = _msg(np.ascontiguousarray(_encoded(encoding)), encoding, pad)
    bridged = conv.image_to_rgb(msg)
    monkeypatch.setattr(conv, "_BRIDGE", None)
    np.testing.assert_array_equal(bridged, conv.image_to_rgb(msg))


# -- compressed -------------------------------------------------------------------------------

def _compressed(ext: str, rgb: np.ndarray, fmt: str) -> CompressedImage:
    ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return CompressedImage(format=fmt, data=array.array("B", data.tobytes()))


def test_compressed_png_is_lossless():
    big = RNG.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(conv.compressed_to_rgb(_compressed(".png", big, "png")), big)


def test_compressed_jpeg_decodes_close():
    smooth = np.zeros((48, 64, 3), np.uint8)
    smooth[:, :32] = (200, 40, 40)
    smooth[:, 32:] = (40, 40, 200)
    out = conv.compressed_to_rgb(_compressed(".jpg", smooth, "rgb8; jpeg compressed bgr8"))
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth).mean() < 6
    assert out[24, 10, 0] > 150 and out[24, 50, 2] > 150  # channel order is RGB


@pytest.mark.parametrize("data, message", [
    (b"", "compressed image has no data"),
    (b"\x89PNG\r\n\x1a\n not really", "undecodable compressed image"),
    (b"\xff\xd8\xff\xe0 junk", "undecodable compressed image"),
    (b"hello world", "undecodable compressed image"),
])
def test_bad_compressed_data(data, message):
    with pytest.raises(conv.ImageConversionError, match=message):
        conv.compressed_to_rgb(CompressedImage(format="jpeg", data=array.array("B", data)))


def test_compressed_limits_before_decoding():
    png = _compressed(".png", np.zeros((100, 100, 3), np.uint8), "png")
    with pytest.raises(conv.ImageConversionError, match="exceeds max_image_pixels"):
        conv.compressed_to_rgb(png, max_pixels=9999)
    with pytest.raises(conv.ImageConversionError, match="exceeds the limit of 10 bytes"):
        conv.compressed_to_rgb(png, max_bytes=10)


def test_truncated_png_is_undecodable():
    png = _compressed(".png", RNG.integers(0, 256, size=(40, 40, 3), dtype=np.uint8), "png")
    png.data = png.data[: len(png.data) // 2]
    with pytest.raises(conv.ImageConversionError, match="undecodable"):
        conv.compressed_to_rgb(png)


# -- outputs ----------------------------------------------------------------------------------

HEADER = Header(frame_id="cam")
HEADER.stamp.sec, HEADER.stamp.nanosec = 12, 34


def test_mask_and_rgb_images():
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    msg = conv.mask_to_image(mask, HEADER)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("mono8", 6, 4, 6)
    assert msg.header == HEADER
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.uint8).reshape(4, 6), mask * 255)
    rgb = conv.rgb_to_image(RGB, HEADER)
    assert (rgb.encoding, rgb.step) == ("rgb8", 15)
    np.testing.assert_array_equal(conv.image_to_rgb(rgb), RGB)


@pytest.mark.parametrize("box, roi", [
    ((2, 1, 5, 3), (2, 1, 3, 2)),
    ((0, 0, 0, 0), (0, 0, 0, 0)),
    ((3, 3, 3, 8), (0, 0, 0, 0)),
])
def test_box_to_roi(box, roi):
    msg = conv.box_to_roi(box)
    assert (msg.x_offset, msg.y_offset, msg.width, msg.height) == roi and not msg.do_rectify


def _output(masks):
    results = [MaskResult(mask=m, score=0.5 + i / 10, box=(2, 1, 5, 3), phrase=f"p{i}") for i, m in enumerate(masks)]
    return SegmentationOutput(status=Status.OK if masks else Status.NO_TARGET,
                              answer=" ".join(f"p{i} [SEG]" for i in range(len(masks))) or "nothing",
                              masks=results, image_size=(4, 6))


def test_output_to_result():
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    result = conv.output_to_result(_output([mask, ~mask]), HEADER, "abc-3", "find it")
    assert isinstance(result, SegmentationResult)
    assert (result.status, result.request_id, result.instruction, result.error) == (0, "abc-3", "find it", "")
    assert result.header == HEADER and all(m.header == HEADER for m in result.masks)
    assert [m.encoding for m in result.masks] == ["mono8", "mono8"]
    assert result.scores.tolist() == pytest.approx([0.5, 0.6])
    assert result.phrases == ["p0", "p1"]
    assert [(b.x_offset, b.width) for b in result.boxes] == [(2, 3), (2, 3)]
    none = conv.output_to_result(_output([]), HEADER, "abc-4", "q")
    assert none.status == SegmentationResult.NO_TARGET and none.masks == []


def test_result_extras_union_and_overlay():
    a = np.zeros((4, 6), bool)
    a[0, 0] = True
    b = np.zeros((4, 6), bool)
    b[3, 5] = True
    rgb = np.zeros((4, 6, 3), np.uint8)
    union, overlay = conv.result_extras(_output([a, b]), rgb, HEADER, overlay=True)
    pixels = np.frombuffer(union.data, np.uint8).reshape(4, 6)
    assert pixels[0, 0] == pixels[3, 5] == 255 and pixels.sum() == 2 * 255
    assert overlay.encoding == "rgb8" and overlay.header == HEADER
    assert conv.image_to_rgb(overlay)[0, 0].any()  # coloured
    _, none = conv.result_extras(_output([a]), rgb, HEADER, overlay=False)
    assert none is None


def test_status_result():
    result = conv.status_result(SegmentationResult.DROPPED, "queue full", None, "x-1", "q")
    assert result.status == 3 and result.error == "queue full" and result.header == Header()
