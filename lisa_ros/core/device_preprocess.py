"""Both encoders' preprocessing on the model's device, equal bit for bit to the PIL path.

The official preprocessing (:mod:`lisa_ros.core.preprocess`) resizes on the CPU with PIL: bicubic
for CLIP, bilinear for SAM. ``torch.nn.functional.interpolate`` is not the same computation: PIL
resamples in two passes (rows, then columns) with 22-bit fixed-point weights and rounds the
intermediate image to ``uint8``. This module performs PIL's arithmetic with torch ops, so that the
frame is uploaded once as ``uint8`` and both encoders' inputs are made where the model runs:

* the per-axis weights are PIL's (:func:`axis_weights`, computed once per size pair on the host in
  double precision, in PIL's order of operations, and converted to PIL's integer weights);
* each pass sums ``pixel * integer weight`` in float64. Every product and partial sum is an integer
  below 2**53, so the sum is exact whatever order a kernel adds in, and rounding it the way PIL
  does (add 2**21, shift by 22 bits, clip to 0..255) gives PIL's bytes;
* the two passes run in the order the installed Pillow uses for the sizes at hand, found once per
  size pair by comparing with PIL on a calibration image (:func:`pil_pass_order`); sizes that no
  order reproduces return ``None`` and the caller uses PIL.

Supported resampling filters: bilinear and bicubic (what CLIP and SAM use). The tests check the
equality with Pillow on random images of many sizes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .preprocess import ClipPreprocessConfig, SamResize, clip_resize_shape, sam_resize_shape

__all__ = [
    "SUPPORTED_FILTERS", "axis_weights", "resize_like_pil", "pil_pass_order", "clip_pixels_on_device",
    "sam_resized_on_device",
]

_PRECISION_BITS = 22  # PIL: 32 bits minus 8 for the pixel and 2 for overshoot
PIL_BILINEAR, PIL_BICUBIC = 2, 3
SUPPORTED_FILTERS = (PIL_BILINEAR, PIL_BICUBIC)


def _bilinear(x: float) -> float:
    x = -x if x < 0.0 else x
    return 1.0 - x if x < 1.0 else 0.0


def _bicubic(x: float) -> float:
    a = -0.5  # PIL's cubic coefficient (the Keys kernel), not -0.75
    x = -x if x < 0.0 else x
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


_FILTERS = {PIL_BILINEAR: (_bilinear, 1.0), PIL_BICUBIC: (_bicubic, 2.0)}


@lru_cache(maxsize=32)
def axis_weights(in_size: int, out_size: int, resample: int) -> tuple[np.ndarray, np.ndarray]:
    """PIL's resampling taps along one axis.

    Returns:
        ``int64 [out_size, taps]`` source indices and ``float64 [out_size, taps]`` integer
        weights (PIL's fixed-point values, scale ``2**22``); unused taps have weight 0.
    """
    kernel, support = _FILTERS[resample]
    scale = filterscale = float(in_size) / out_size
    filterscale = max(filterscale, 1.0)
    support = support * filterscale
    taps = int(math.ceil(support)) * 2 + 1
    indices = np.zeros((out_size, taps), dtype=np.int64)
    weights = np.zeros((out_size, taps), dtype=np.float64)
    for out in range(out_size):
        center = (out + 0.5) * scale  # the box starts at 0
        first = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - first
        row = [kernel(((x + first) - center + 0.5) * (1.0 / filterscale)) for x in range(count)]
        total = 0.0
        for value in row:  # in order, as PIL sums them
            total += value
        for x, value in enumerate(row):
            value = value / total if total != 0.0 else value
            fixed = value * (1 << _PRECISION_BITS)
            weights[out, x] = float(int(fixed - 0.5) if value < 0 else int(fixed + 0.5))
            indices[out, x] = first + x
    return indices, weights


@lru_cache(maxsize=32)
def _device_weights(in_size: int, out_size: int, resample: int, device: str):
    """:func:`axis_weights` as tensors on ``device`` (uploaded once per size pair)."""
    import torch

    indices, weights = axis_weights(in_size, out_size, resample)
    return torch.from_numpy(indices).to(device), torch.from_numpy(weights).to(device)


def _resample_axis(pixels, axis: int, out_size: int, resample: int):
    """One PIL pass over ``float64`` pixel values (integers 0..255) along ``axis`` (0 rows, 1 columns)."""
    import torch

    index, weight = _device_weights(pixels.shape[axis], out_size, resample, str(pixels.device))
    total = None
    for tap in range(index.shape[1]):  # a few taps: one gather and multiply-add each
        picked = pixels.index_select(axis, index[:, tap])
        term = picked * (weight[:, tap, None, None] if axis == 0 else weight[None, :, tap, None])
        total = term if total is None else total.add_(term)
    rounded = torch.floor((total + float(1 << (_PRECISION_BITS - 1))) / float(1 << _PRECISION_BITS))
    return rounded.clamp_(0.0, 255.0)


def resize_like_pil(frame, height: int, width: int, resample: int, rows_first: bool = False):
    """PIL's ``Image.resize((width, height), resample)`` of a ``uint8 [H, W, 3]`` torch tensor.

    Args:
        rows_first: resample along the rows (height) first. Pillow up to 12 always resamples
            the columns first; Pillow 13 picks the order by size (see :func:`pil_pass_order`).
    Returns:
        a ``uint8 [height, width, 3]`` tensor on the frame's device (the frame itself when the
        size is unchanged).
    """
    import torch

    if resample not in _FILTERS:
        raise ValueError(f"resampling filter {resample} is not supported on the device (only {SUPPORTED_FILTERS})")
    if tuple(frame.shape[:2]) == (height, width):
        return frame
    pixels = frame.to(torch.float64)
    passes = [(0, height), (1, width)] if rows_first else [(1, width), (0, height)]
    for axis, size in passes:
        if size != frame.shape[axis]:  # only the axes that change, as PIL
            pixels = _resample_axis(pixels, axis, size, resample)
    return pixels.to(torch.uint8)


@lru_cache(maxsize=16)
def pil_pass_order(in_size: tuple[int, int], out_size: tuple[int, int], resample: int, device: str) -> bool | None:
    """Which pass order reproduces this Pillow's resize for these sizes: ``rows_first``, or
    ``None`` when neither does (then the caller must use PIL).

    Decided once per size pair on a random calibration image: the two orders round different
    intermediate images, so on random pixels they disagree almost everywhere, and the order
    that gives PIL's bytes there gives them for every image (the arithmetic is otherwise exact).
    """
    import torch
    from PIL import Image

    if resample not in _FILTERS:
        return None
    (in_h, in_w), (out_h, out_w) = in_size, out_size
    pixels = np.random.default_rng(20261204).integers(0, 256, size=(in_h, in_w, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(pixels).resize((out_w, out_h), resample=resample))
    frame = torch.from_numpy(pixels).to(device)
    for rows_first in (False, True):
        if np.array_equal(resize_like_pil(frame, out_h, out_w, resample, rows_first).cpu().numpy(), expected):
            return rows_first
    return None


def _resize_or_none(frame, height: int, width: int, resample: int):
    """:func:`resize_like_pil` in PIL's order, or ``None`` where no order reproduces PIL."""
    in_size = (int(frame.shape[0]), int(frame.shape[1]))
    if in_size == (height, width):
        return frame
    rows_first = pil_pass_order(in_size, (height, width), resample, str(frame.device))
    if rows_first is None:
        return None
    return resize_like_pil(frame, height, width, resample, rows_first)


def clip_pixels_on_device(frame, config: ClipPreprocessConfig):
    """CLIP's input from a ``uint8 [H, W, 3]`` tensor: ``float32 [1, 3, h, w]`` on its device,
    equal to :func:`~lisa_ros.core.preprocess.preprocess_clip`; ``None`` if this size or filter
    cannot be reproduced (:func:`pil_pass_order`)."""
    import torch

    new_h, new_w = clip_resize_shape(frame.shape[0], frame.shape[1], config)
    resized = _resize_or_none(frame, new_h, new_w, config.resample)
    if resized is None:
        return None
    if config.crop is not None:
        crop_h, crop_w = config.crop
        top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
        resized = resized[top : top + crop_h, left : left + crop_w]
    # The same float64 rescale and float32 normalisation as the NumPy path.
    pixels = (resized.to(torch.float64) * config.rescale_factor).to(torch.float32)
    mean = torch.tensor(config.mean, dtype=torch.float32, device=frame.device)
    std = torch.tensor(config.std, dtype=torch.float32, device=frame.device)
    pixels = (pixels - mean) / std
    return pixels.permute(2, 0, 1).contiguous().unsqueeze(0)


def sam_resized_on_device(frame, input_size: int):
    """SAM's longest-side resize (PIL bilinear) of a ``uint8 [H, W, 3]`` tensor, on its device:
    the ``uint8 [h, w, 3]`` image and its :class:`SamResize`, as
    :func:`~lisa_ros.core.preprocess.resize_for_sam`; ``None`` as :func:`clip_pixels_on_device`."""
    height, width = int(frame.shape[0]), int(frame.shape[1])
    new_h, new_w = sam_resize_shape(height, width, input_size)
    resized = _resize_or_none(frame, new_h, new_w, PIL_BILINEAR)
    if resized is None:
        return None
    return resized, SamResize((height, width), (new_h, new_w), input_size)
