"""Pure conversions between ROS messages and the arrays/results of the model core.

No node state here: every function takes what it needs and returns a new value, so each one is
unit-tested without DDS (tests/node/test_node_conversions.py).

Conventions:

* images are ``uint8 [H, W, 3]`` RGB arrays, rows top to bottom;
* masks are ``bool [H, W]`` at the source resolution; on the wire ``mono8`` 0/255;
* boxes are ``(x_min, y_min, x_max, y_max)`` pixels, max exclusive (the core's convention);
  on the wire ``sensor_msgs/RegionOfInterest`` (x_offset, y_offset, width, height).

``cv_bridge`` is used for raw images when it is importable (a real ROS install); otherwise the
numpy path below, which gives identical arrays (tests/node/test_node_conversions.py compares them
where cv_bridge exists). Either way the message metadata is validated first, so a malformed
message raises :class:`ImageConversionError` with a readable reason instead of crashing.
"""

from __future__ import annotations

import array
import io
from typing import Sequence

import numpy as np
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from lisa_ros.core.overlay import draw_overlay, union_mask
from lisa_ros.core.results import SegmentationOutput
from lisa_ros.msg import SegmentationResult

__all__ = [
    "SUPPORTED_ENCODINGS", "DEFAULT_MAX_COMPRESSED_BYTES", "ImageConversionError",
    "check_image_msg", "is_empty_image", "image_to_rgb", "compressed_to_rgb", "rgb_to_image",
    "mask_to_image", "box_to_roi", "output_to_result", "status_result", "result_extras",
    "HAVE_CV_BRIDGE", "EMPTY_INSTRUCTION", "request_problem", "msg_to_rgb",
]

# encoding -> channels in the message
SUPPORTED_ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}

# Compressed frames larger than this are refused before decoding (a 4K PNG is about 25 MB).
DEFAULT_MAX_COMPRESSED_BYTES = 32 * 1024 * 1024

try:  # pragma: no cover - only on real ROS installs
    from cv_bridge import CvBridge as _CvBridge

    _BRIDGE = _CvBridge()
    HAVE_CV_BRIDGE = True
except ImportError:  # the PyPI ROS wheels have no cv_bridge
    _BRIDGE = None
    HAVE_CV_BRIDGE = False


class ImageConversionError(ValueError):
    """A message that cannot be turned into an RGB image (the reason is in the text)."""


def is_empty_image(msg: Image) -> bool:
    """True for the "no image" placeholder of Segment/ReasonSegment requests: width or height 0
    and no data (the request then means "use the latest camera frame")."""
    return (msg.width == 0 or msg.height == 0) and len(msg.data) == 0


def check_image_msg(msg: Image, max_pixels: int | None = None) -> int:
    """Validate a ``sensor_msgs/Image``'s metadata (O(1), the data is not read).

    :returns: the number of channels of its encoding.
    :raises ImageConversionError: unsupported encoding, zero size, more than ``max_pixels``
        pixels, ``step`` smaller than ``width * channels``, or ``len(data) != step * height``.
    """
    channels = SUPPORTED_ENCODINGS.get(msg.encoding)
    if channels is None:
        raise ImageConversionError(
            f"unsupported image encoding {msg.encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width == 0 or height == 0:
        raise ImageConversionError(f"image has zero size ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(
            f"image of {width}x{height} = {width * height} pixels exceeds max_image_pixels ({max_pixels})"
        )
    if step < width * channels:
        raise ImageConversionError(
            f"image step {step} is smaller than width x channels = {width} x {channels} = {width * channels}"
        )
    if len(msg.data) != step * height:
        raise ImageConversionError(
            f"image data has {len(msg.data)} bytes, expected step x height = {step} x {height} = {step * height}"
        )
    return channels


def image_to_rgb(msg: Image, max_pixels: int | None = None) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB array of a ``sensor_msgs/Image``.

    rgb8 without row padding is a zero-copy view of ``msg.data`` (keep the message alive while
    using it; rows with padding are a strided view). Other encodings give a new contiguous
    array: bgr8/bgra8 reordered to RGB, alpha dropped, mono8 replicated to three channels.
    ``is_bigendian`` does not matter for 8-bit encodings.

    :raises ImageConversionError: see :func:`check_image_msg`.
    """
    channels = check_image_msg(msg, max_pixels)
    if _BRIDGE is not None:  # pragma: no cover - real ROS installs
        return _bridge_to_rgb(msg)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    return _to_rgb(pixels, msg.encoding)


EMPTY_INSTRUCTION = "instruction is empty"


def request_problem(instruction: str, image: Image | None, max_chars: int, max_pixels: int) -> str | None:
    """Why a request cannot be answered, from cheap checks before it is queued (the length
    first, so nothing unbounded is touched; an image's metadata only), or None."""
    if len(instruction) > max_chars:
        return f"instruction of {len(instruction)} characters exceeds max_instruction_chars ({max_chars})"
    if not instruction.strip():
        return EMPTY_INSTRUCTION
    if "\x00" in instruction:
        return "instruction contains a NUL character"
    if image is not None:
        try:
            check_image_msg(image, max_pixels)
        except ImageConversionError as exc:
            return str(exc)
    return None


def msg_to_rgb(msg, max_pixels: int | None = None) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB of a ``sensor_msgs/Image`` or ``CompressedImage``."""
    if isinstance(msg, CompressedImage):
        return compressed_to_rgb(msg, max_pixels)
    return image_to_rgb(msg, max_pixels)


def _to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    import cv2

    if encoding == "rgb8":
        return pixels
    if encoding == "mono8":
        return cv2.cvtColor(np.ascontiguousarray(pixels[..., 0]), cv2.COLOR_GRAY2RGB)
    code = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB}[encoding]
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def _bridge_to_rgb(msg: Image) -> np.ndarray:  # pragma: no cover - real ROS installs
    """cv_bridge's conversion (after the same metadata checks), to RGB."""
    try:
        pixels = _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    except Exception as exc:  # noqa: BLE001 - CvBridgeError and friends
        raise ImageConversionError(f"cv_bridge could not convert the image: {exc}") from None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return _to_rgb(pixels, msg.encoding)


def _compressed_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the compressed stream's header, without decoding the pixels."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as probe:
            return probe.size
    except Exception as exc:  # noqa: BLE001 - PIL raises several types for junk
        raise ImageConversionError(f"undecodable compressed image ({type(exc).__name__}: {exc})") from None


def compressed_to_rgb(
    msg: CompressedImage,
    max_pixels: int | None = None,
    max_bytes: int = DEFAULT_MAX_COMPRESSED_BYTES,
) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB array of a ``sensor_msgs/CompressedImage`` (JPEG, PNG, ...).

    Bounded: data over ``max_bytes`` is refused unread, and the pixel count is read from the
    stream's header (PIL, no decoding) and checked against ``max_pixels`` before OpenCV
    decodes, so a small "decompression bomb" cannot allocate a huge image.

    :raises ImageConversionError: empty, too large, or undecodable data.
    """
    import cv2

    size = len(msg.data)
    if size == 0:
        raise ImageConversionError("compressed image has no data")
    if size > max_bytes:
        raise ImageConversionError(f"compressed image of {size} bytes exceeds the limit of {max_bytes} bytes")
    data = bytes(msg.data) if not isinstance(msg.data, (bytes, bytearray)) else msg.data
    width, height = _compressed_size(data)
    if width == 0 or height == 0:
        raise ImageConversionError(f"compressed image has zero size ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(
            f"compressed image of {width}x{height} = {width * height} pixels exceeds max_image_pixels ({max_pixels})"
        )
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(f"undecodable compressed image (format {msg.format!r})")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _bytes_of(pixels: np.ndarray) -> array.array:
    """Message ``data`` of a contiguous uint8 array (one copy, no per-element checks)."""
    out = array.array("B")
    out.frombytes(np.ascontiguousarray(pixels).data)
    return out


def rgb_to_image(rgb: np.ndarray, header: Header) -> Image:
    """An ``rgb8`` ``sensor_msgs/Image`` of a ``uint8 [H, W, 3]`` RGB array (rows unpadded)."""
    height, width = rgb.shape[:2]
    return Image(header=header, height=height, width=width, encoding="rgb8", is_bigendian=0,
                 step=width * 3, data=_bytes_of(rgb))


def mask_to_image(mask: np.ndarray, header: Header) -> Image:
    """A ``mono8`` 0/255 ``sensor_msgs/Image`` of a ``bool [H, W]`` mask (or a 0/255 uint8 one)."""
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        mask = np.ascontiguousarray(mask).view(np.uint8) * np.uint8(255)
    height, width = mask.shape
    return Image(header=header, height=height, width=width, encoding="mono8", is_bigendian=0,
                 step=width, data=_bytes_of(mask))


def box_to_roi(box: Sequence[int]) -> RegionOfInterest:
    """``RegionOfInterest`` of a max-exclusive ``(x_min, y_min, x_max, y_max)`` box (all zero
    for an empty box)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        return RegionOfInterest()
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0, do_rectify=False)


def status_result(
    status: int, error: str, header: Header | None, request_id: str, instruction: str, answer: str = ""
) -> SegmentationResult:
    """A result without masks (INVALID_INPUT, DROPPED, ERROR, or a maskless NO_TARGET)."""
    return SegmentationResult(
        header=header if header is not None else Header(), request_id=request_id,
        instruction=instruction, answer=answer, status=int(status), error=error,
    )


def output_to_result(
    output: SegmentationOutput, header: Header, request_id: str, instruction: str
) -> SegmentationResult:
    """The ``SegmentationResult`` of a core :class:`SegmentationOutput`.

    One mono8 mask (source size, source header), score, box and phrase per ``[SEG]``. The
    ``answer`` keeps the ``[SEG]`` markers (the ``answer`` topic carries the clean text).
    ``latency_ms`` is left 0: the caller stamps it when it publishes.
    """
    result = status_result(int(output.status), "", header, request_id, instruction, output.answer)
    result.masks = [mask_to_image(m.mask, header) for m in output.masks]
    result.scores = [float(m.score) for m in output.masks]
    result.boxes = [box_to_roi(m.box) for m in output.masks]
    result.phrases = [m.phrase for m in output.masks]
    return result


def result_extras(
    output: SegmentationOutput, rgb: np.ndarray, header: Header, overlay: bool, mask: bool = True
) -> tuple[Image | None, Image | None]:
    """The union ``mask`` image (mono8 0/255) and the rgb8 overlay picture (masks coloured,
    boxes outlined, phrases as labels) of one result, both with ``header``; each only when
    asked for (``mask`` / ``overlay``), else None."""
    masks = [m.mask for m in output.masks]
    union = mask_to_image(union_mask(masks, tuple(rgb.shape[:2])), header) if mask else None
    if not overlay:
        return union, None
    picture = draw_overlay(rgb, masks, [m.box for m in output.masks], [m.phrase for m in output.masks])
    return union, rgb_to_image(picture, header)
