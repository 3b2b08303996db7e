"""Polygon <-> mask conversion and the official ReasonSeg rasterisation rules."""
from __future__ import annotations

import numpy as np
import pytest

from lisa_ros.data.errors import DatasetError
from lisa_ros.data.polygons import (
    IGNORE_VALUE, masks_to_shapes, mask_to_polygons, official_draw_order, rasterize_shapes,
)


def shape(label, points, group_id=None):
    return {"label": label, "points": points, "group_id": group_id, "shape_type": "polygon",
            "flags": {}}


def rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_rectangle_covers_its_corners_inclusive():
    m = rasterize_shapes([shape("target", rect(2, 3, 6, 5))], 10, 10)
    want = np.zeros((10, 10), np.uint8)
    want[3:6, 2:7] = 1
    np.testing.assert_array_equal(m, want)


def test_smaller_polygons_are_drawn_last_whatever_the_file_order():
    shapes = [shape("target", rect(4, 4, 5, 5)), shape("ignore", rect(3, 3, 6, 6)),
              shape("target", rect(0, 0, 9, 9))]
    m = rasterize_shapes(shapes, 10, 10)
    want = np.ones((10, 10), np.uint8)
    want[3:7, 3:7] = IGNORE_VALUE
    want[4:6, 4:6] = 1
    np.testing.assert_array_equal(m, want)


@pytest.mark.parametrize("label", ["flag", "FLAG", "Flag"])
def test_flag_shapes_are_skipped(label):
    m = rasterize_shapes([shape(label, rect(0, 0, 4, 4))], 5, 5)
    assert not m.any()


@pytest.mark.parametrize("label", ["ignore", "IGNORE", "Ignore_region", "to_ignore"])
def test_labels_containing_ignore_give_255(label):
    m = rasterize_shapes([shape(label, rect(0, 0, 1, 1))], 3, 3)
    assert m[0, 0] == IGNORE_VALUE and m[2, 2] == 0


def test_any_other_label_is_a_target():
    m = rasterize_shapes([shape("chair", rect(0, 0, 1, 1))], 3, 3)
    assert m[1, 1] == 1


def test_float_points_are_truncated_toward_zero():
    # Rounding would give x 3..5; truncation gives x 2..4 (and -0.6 -> 0, not -1).
    m = rasterize_shapes([shape("target", rect(2.9, -0.6, 4.99, 1.5))], 4, 8)
    want = np.zeros((4, 8), np.uint8)
    want[0:2, 2:5] = 1
    np.testing.assert_array_equal(m, want)


def test_draw_order_is_the_official_call():
    rng = np.random.default_rng(0)
    for _ in range(200):
        areas = rng.choice([1, 2, 3, 50], size=int(rng.integers(1, 12))).tolist()
        want = np.argsort(np.array([np.uint64(a) for a in areas]))[::-1]
        np.testing.assert_array_equal(official_draw_order(areas), want)


def test_point_slightly_outside_is_clipped_like_cv2():
    m = rasterize_shapes([shape("target", rect(-1.5, 0, 2, 2))], 3, 4)
    assert m[:, :3].all() and not m[:, 3].any()


@pytest.mark.parametrize("points", [rect(0, 0, 30, 2), rect(-20, 0, 2, 2),
                                    [[0, 0], [1, float("nan")], [2, 2]], [], [[1, 2, 3]],
                                    "abc"])
def test_bad_points_raise_dataset_error(points):
    with pytest.raises(DatasetError):
        rasterize_shapes([shape("target", points)], 10, 10, where="x.json")


def test_missing_label_raises():
    with pytest.raises(DatasetError, match="label"):
        rasterize_shapes([{"points": rect(0, 0, 1, 1)}], 4, 4)


def test_mask_to_polygons_round_trip_exact_without_simplification():
    mask = np.zeros((20, 30), bool)
    mask[2:9, 3:12] = True
    mask[12:18, 15:28] = True
    mask[5, 20] = True  # a single pixel: below the minimum area, dropped
    polys = mask_to_polygons(mask, epsilon=0.0)
    assert len(polys) == 2 and len(polys[0]) >= 4
    shapes = [shape("target", p.tolist()) for p in polys]
    back = rasterize_shapes(shapes, 20, 30) == 1
    expected = mask.copy()
    expected[5, 20] = False
    np.testing.assert_array_equal(back, expected)


def test_holes_become_ignore_polygons_of_the_same_group():
    mask = np.zeros((20, 20), bool)
    mask[2:18, 2:18] = True
    mask[7:12, 6:13] = False     # a 5x7 hole
    shapes = masks_to_shapes([np.zeros_like(mask), mask], epsilon=0.0)
    labels = [(s["label"], s["group_id"]) for s in shapes]
    assert labels == [("target", 1), ("ignore", 1)]
    m = rasterize_shapes(shapes, 20, 20)
    np.testing.assert_array_equal(m == 1, mask)
    np.testing.assert_array_equal(m == IGNORE_VALUE, ~mask & (np.arange(20)[:, None] >= 7)
                                  & (np.arange(20)[:, None] < 12)
                                  & (np.arange(20)[None, :] >= 6)
                                  & (np.arange(20)[None, :] < 13))


def test_extra_ignore_masks_are_written_and_never_cover_the_target():
    mask = np.zeros((20, 20), bool)
    mask[2:8, 2:8] = True
    shadow = np.zeros_like(mask)
    shadow[4:12, 4:12] = True
    shapes = masks_to_shapes([mask], [shadow], epsilon=0.0)
    m = rasterize_shapes(shapes, 20, 20)
    np.testing.assert_array_equal(m == 1, mask)
    assert (m == IGNORE_VALUE).sum() == (shadow & ~mask).sum()
    assert all(isinstance(v, int) for s in shapes for p in s["points"] for v in p)
