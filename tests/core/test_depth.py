"""Depth units and intrinsics (lisa_ros.core.depth): what is accepted, what is refused and why."""

import numpy as np
import pytest

from lisa_ros.core.depth import Intrinsics, depth_to_metres
from lisa_ros.core.errors import DepthError, InvalidInputError


def test_k_of_camera_info_and_back():
    k = Intrinsics.from_k([600.0, 0, 319.5, 0, 610.0, 239.5, 0, 0, 1], 640, 480)
    assert (k.fx, k.fy, k.cx, k.cy, k.size) == (600.0, 610.0, 319.5, 239.5, (640, 480))
    np.testing.assert_array_equal(k.k_matrix().reshape(-1), [600, 0, 319.5, 0, 610, 239.5, 0, 0, 1])


@pytest.mark.parametrize("k, words", [
    ([0.0] * 9, "all zeros"),
    ([600, 0, 320, 0, float("nan"), 240, 0, 0, 1], "non-finite"),
    ([-600, 0, 320, 0, 600, 240, 0, 0, 1], "positive"),
    ([600, 3, 320, 0, 600, 240, 0, 0, 1], "skew"),
    ([600, 0, 320, 0, 600, 240], "9 numbers"),
])
def test_unusable_k_is_refused_with_the_reason(k, words):
    with pytest.raises(DepthError, match=words):
        Intrinsics.from_k(k, 640, 480)


def test_depth_error_is_an_invalid_input():
    assert issubclass(DepthError, InvalidInputError)
    with pytest.raises(DepthError, match="all zero"):
        Intrinsics(0, 0, 0, 0, 640, 480)


def test_scaling_keeps_the_field_of_view():
    """A 3D point projects to the same place of the scene at both resolutions: pixel centre u
    at full resolution is (u + 0.5) / 2 - 0.5 at half resolution."""
    full = Intrinsics(900.0, 905.0, 641.2, 358.7, 1280, 720)
    half = full.scaled_to(640, 360)
    assert (half.fx, half.fy, half.size) == (450.0, 452.5, (640, 360))
    point = np.array([0.11, -0.07, 0.9])
    u_full = full.fx * point[0] / point[2] + full.cx
    v_full = full.fy * point[1] / point[2] + full.cy
    u_half = half.fx * point[0] / point[2] + half.cx
    v_half = half.fy * point[1] / point[2] + half.cy
    assert u_half == pytest.approx((u_full + 0.5) / 2 - 0.5)
    assert v_half == pytest.approx((v_full + 0.5) / 2 - 0.5)
    assert full.scaled_to(1280, 720) is full


def test_another_aspect_ratio_is_refused():
    with pytest.raises(DepthError, match="aspect"):
        Intrinsics(600, 600, 320, 240, 640, 480).scaled_to(640, 360)


def test_16uc1_and_mono16_are_millimetres_with_zero_invalid():
    raw = np.array([[1000, 0], [523, 65535]], np.uint16)
    for encoding in ("16UC1", "mono16"):
        metres = depth_to_metres(raw, encoding)
        assert metres.dtype == np.float32 and metres.shape == (2, 2)
        np.testing.assert_allclose(metres[[0, 1, 1], [0, 0, 1]], [1.0, 0.523, 65.535], rtol=1e-6)
        assert np.isnan(metres[0, 1])
    np.testing.assert_array_equal(depth_to_metres(raw.astype(">u2"), "16UC1"), metres)  # big-endian data


def test_32fc1_is_metres_with_nan_inf_and_nonpositive_invalid():
    raw = np.array([[0.75, np.nan, np.inf], [0.0, -1.0, 2.5]], np.float32)
    metres = depth_to_metres(raw, "32FC1")
    np.testing.assert_array_equal(np.isnan(metres), [[False, True, True], [True, True, False]])
    assert metres[0, 0] == np.float32(0.75) and metres[1, 2] == np.float32(2.5)
    assert not np.isnan(raw[0, 0]) and np.isinf(raw[0, 2])  # the input is left alone
    assert depth_to_metres(np.ones((3, 4, 1)), "32FC1").shape == (3, 4)  # float64 [H, W, 1] accepted


@pytest.mark.parametrize("raw, encoding, words", [
    (np.ones((4, 4), np.uint8), "8UC1", "unsupported depth encoding '8UC1'; supported: 32FC1"),
    (np.ones((4, 4), np.uint16), "32FC1", "must be a float array"),  # millimetres labelled as metres
    (np.ones((4, 4), np.float32), "16UC1", "must be a uint16 array"),
    (np.zeros((0, 0), np.uint16), "16UC1", "zero size"),
    (np.zeros((4, 4, 3), np.uint16), "16UC1", "single-channel"),
    ([[1, 2]], "16UC1", "numpy array"),
])
def test_unusable_depth_is_refused_with_the_reason(raw, encoding, words):
    with pytest.raises(DepthError, match=words.replace("(", r"\(")):
        depth_to_metres(raw, encoding)


def test_depth_size_is_bounded():
    with pytest.raises(DepthError, match="exceeds the limit"):
        depth_to_metres(np.ones((100, 100), np.uint16), "16UC1", max_pixels=9999)
