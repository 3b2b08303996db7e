"""Objects in metres (lisa_ros.core.objects3d) on analytic depth: a camera 1.000 m above a table,
looking straight down at a box standing on it."""

import numpy as np
import pytest

from lisa_ros.core.depth import Intrinsics
from lisa_ros.core.objects3d import (
    Object3DSettings, Object3DStatus, label_image, objects_3d, stacked_points,
)
from lisa_ros.core.ply import read_ply, write_ply
from lisa_ros.core.results import MaskResult, SegmentationOutput, Status

W, H = 640, 480
K = Intrinsics(600.0, 600.0, 319.5, 239.5, W, H)
TABLE = 1.000
TOP = 0.850  # the box is 15 cm tall: its top face is 0.85 m from the camera
FACE = (-0.05, 0.07, 0.02, 0.10)  # x0, x1, y0, y1 of the top face, metres
FACE_CENTRE = (0.01, 0.06, TOP)
FACE_SIZE = (0.12, 0.08, 0.0)


def box_scene(k: Intrinsics = K):
    """(depth float32 [H, W] metres, bool mask of the pixels whose ray meets the box's top face)."""
    xn = (np.arange(k.width) - k.cx) / k.fx
    yn = (np.arange(k.height) - k.cy) / k.fy
    x0, x1, y0, y1 = FACE
    face = ((yn * TOP >= y0) & (yn * TOP <= y1))[:, None] & ((xn * TOP >= x0) & (xn * TOP <= x1))[None, :]
    return np.where(face, TOP, TABLE).astype(np.float32), face


def one_mask_output(mask: np.ndarray) -> SegmentationOutput:
    return SegmentationOutput(Status.OK, "The box [SEG].", [MaskResult(mask, 0.9, (1, 2, 3, 4), "The box")],
                              mask.shape)


def plain_mean(mask, depth, k=K):
    rows, cols = np.nonzero(mask & np.isfinite(depth))
    z = depth[rows, cols].astype(np.float64)
    return np.array([((cols - k.cx) * z / k.fx).mean(), ((rows - k.cy) * z / k.fy).mean(), z.mean()])


def test_box_on_a_table_centroid_and_size_within_millimetres():
    depth, mask = box_scene()
    (obj,) = objects_3d([mask], depth, K)
    assert obj.status == Object3DStatus.OK and obj.ok and obj.reason == ""
    np.testing.assert_allclose(obj.centroid, FACE_CENTRE, atol=0.002)
    np.testing.assert_allclose(obj.size, FACE_SIZE, atol=0.003)
    assert obj.valid_points == len(obj.points) == len(obj.pixels) and obj.erode_px == 2
    assert obj.points.dtype == np.float32 and obj.points.shape[1] == 3
    u, v = obj.pixels.T  # the points are those pixels, back-projected
    np.testing.assert_allclose(obj.points[:, 0], (u - K.cx) * TOP / K.fx, atol=1e-6)
    assert mask[v, u].all()


def test_16uc1_and_32fc1_give_the_same_answer():
    depth, mask = box_scene()
    output = one_mask_output(mask)
    metres = output.with_3d(depth, "32FC1", K).masks[0].object3d
    millimetres = output.with_3d(np.round(depth * 1000).astype(np.uint16), "16UC1", K).masks[0].object3d
    assert metres.ok and millimetres.ok
    np.testing.assert_allclose(metres.centroid, millimetres.centroid, atol=5e-4)
    np.testing.assert_allclose(metres.size, millimetres.size, atol=5e-4)


def test_half_resolution_depth_with_the_same_field_of_view():
    """Colour (and masks) at 640x480, depth at 320x240; the intrinsics given are the colour
    camera's, scaled by the core."""
    full_depth, mask = box_scene()
    half_depth, _ = box_scene(K.scaled_to(320, 240))
    (full,) = objects_3d([mask], full_depth, K)
    (half,) = objects_3d([mask], half_depth, K)
    assert half.ok and half.pixels[:, 0].max() < 320
    np.testing.assert_allclose(half.centroid, full.centroid, atol=0.002)
    np.testing.assert_allclose(half.size, FACE_SIZE, atol=0.005)


def test_flying_pixels_and_outliers_leave_the_robust_centroid_while_a_plain_mean_moves():
    depth, mask = box_scene()
    import cv2

    inner = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outer = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    edge = (mask & (inner <= 2)) | (~mask & (outer <= 1))
    depth[edge] = (TOP + TABLE) / 2  # flying pixels: halfway between the box and the table
    rng = np.random.default_rng(0)
    inside = np.flatnonzero(mask)
    wild = rng.choice(inside, size=len(inside) // 20, replace=False)
    depth.reshape(-1)[wild] = rng.uniform(0.2, 3.0, size=len(wild))  # 5 % random readings
    naive = plain_mean(mask, depth)
    assert np.linalg.norm(naive - FACE_CENTRE) > 0.02  # the plain mean moves by centimetres
    for settings in (Object3DSettings(), Object3DSettings(erode_px=0)):  # gating alone holds too
        (obj,) = objects_3d([mask], depth, K, settings)
        assert obj.ok
        np.testing.assert_allclose(obj.centroid, FACE_CENTRE, atol=0.003)
        assert obj.size[2] < 0.01


def test_a_mask_spilling_onto_the_table_keeps_the_box():
    """The nearest dense cluster along z is the box, not the table around it."""
    depth, mask = box_scene()
    rows, cols = np.nonzero(mask)
    spill = np.zeros_like(mask)
    spill[rows.min():rows.max() + 1, cols.min() - 40:cols.max() + 1] = True  # 40 px of table on the left
    (obj,) = objects_3d([spill], depth, K)
    assert obj.ok and abs(obj.centroid[2] - TOP) < 0.001
    np.testing.assert_allclose(obj.centroid, FACE_CENTRE, atol=0.003)
    assert plain_mean(spill, depth)[2] > TOP + 0.03


def test_a_thin_object_keeps_its_3d_with_less_erosion():
    depth = np.full((H, W), TABLE, np.float32)
    mask = np.zeros((H, W), bool)
    mask[100:300, 200:203] = True  # a 3-pixel-wide pen
    depth[mask] = 0.98
    (obj,) = objects_3d([mask], depth, K, Object3DSettings(erode_px=3))
    assert obj.ok and obj.erode_px < 2 and abs(obj.centroid[2] - 0.98) < 1e-4


@pytest.mark.parametrize("depth, encoding, k, status, words", [
    (None, "32FC1", K, Object3DStatus.NO_DEPTH, "no depth image"),
    (np.ones((H, W), np.uint8), "8UC1", K, Object3DStatus.INVALID_DEPTH, "unsupported depth encoding"),
    (np.ones((H, W), np.float32), "32FC1", [0.0] * 9, Object3DStatus.INVALID_DEPTH, "all zeros"),
    (np.ones((360, 640), np.float32), "32FC1", K, Object3DStatus.INVALID_DEPTH, "aspect"),
    (np.full((H, W), np.nan, np.float32), "32FC1", K, Object3DStatus.INVALID_DEPTH, "no reading"),
    (np.zeros((H, W), np.uint16), "16UC1", K, Object3DStatus.INVALID_DEPTH, "no reading"),
    (np.zeros((0, 0), np.uint16), "16UC1", K, Object3DStatus.INVALID_DEPTH, "zero size"),
    (np.ones((H, W), np.float32), "32FC1", None, Object3DStatus.INVALID_DEPTH, "no camera intrinsics"),
])
def test_bad_input_gives_a_status_and_a_reason_and_keeps_the_2d_result(depth, encoding, k, status, words):
    _, mask = box_scene()
    output = one_mask_output(mask)
    result = output.with_3d(depth, encoding, k)
    (entry,) = result.masks
    assert entry.object3d.status == status and words in entry.object3d.reason
    assert entry.object3d.centroid == (0.0, 0.0, 0.0) and entry.object3d.size == (0.0, 0.0, 0.0)
    assert entry.mask is mask and (entry.score, entry.box, entry.phrase) == (0.9, (1, 2, 3, 4), "The box")
    assert output.masks[0].object3d is None and result.answer == output.answer  # the original is untouched


def test_depth_larger_than_the_pixel_limit_is_invalid():
    depth, mask = box_scene()
    entry = one_mask_output(mask).with_3d(depth, "32FC1", K, max_pixels=W * H - 1).masks[0]
    assert entry.object3d.status == Object3DStatus.INVALID_DEPTH and "exceeds the limit" in entry.object3d.reason


def test_camera_info_k_as_nine_numbers_is_accepted():
    depth, mask = box_scene()
    entry = one_mask_output(mask).with_3d(depth, "32FC1", K.k_matrix().reshape(-1).tolist()).masks[0]
    np.testing.assert_allclose(entry.object3d.centroid, FACE_CENTRE, atol=0.002)


def test_too_few_points_empty_masks_and_holes():
    depth, _ = box_scene()
    small = np.zeros((H, W), bool)
    small[10:13, 10:13] = True  # 9 pixels
    hole = np.zeros((H, W), bool)
    hole[50:80, 50:80] = True
    depth[hole] = np.nan
    found = objects_3d([small, np.zeros((H, W), bool), hole], depth, K)
    assert [o.status for o in found] == [Object3DStatus.TOO_FEW_POINTS] * 3
    assert "fewer than min_points=30" in found[0].reason and found[0].valid_points == 9
    assert "empty" in found[1].reason and "no depth reading" in found[2].reason
    assert all(o.centroid == (0.0, 0.0, 0.0) and len(o.points) == 0 for o in found)


def test_label_image_later_mask_wins():
    a, b = np.zeros((4, 5), bool), np.zeros((4, 5), bool)
    a[0:2, 0:3] = True
    b[1:3, 2:4] = True
    labels = label_image([a, b], (4, 5))
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, [[1, 1, 1, 0, 0], [1, 1, 2, 2, 0], [0, 0, 2, 2, 0], [0] * 5])
    many = [np.zeros((4, 5), bool) for _ in range(300)]
    many[299][3, 4] = True
    wide = label_image(many, (4, 5))
    assert wide.dtype == np.uint16 and wide[3, 4] == 300
    assert label_image([], (2, 3)).shape == (2, 3)


def test_stacked_points_with_labels_round_trip_through_ply(tmp_path):
    depth, mask = box_scene()
    far = np.zeros((H, W), bool)
    far[400:420, 20:60] = True
    found = objects_3d([mask, np.zeros((H, W), bool), far], depth, K)
    points, labels = stacked_points(found)
    assert len(points) == found[0].valid_points + found[2].valid_points
    assert set(np.unique(labels)) == {1, 3}  # index + 1; the empty mask adds nothing
    np.testing.assert_allclose(points[labels == 3][:, 2], TABLE)
    read_points, read_labels = read_ply(write_ply(tmp_path / "cloud.ply", points, labels))
    np.testing.assert_array_equal(read_points, points)
    np.testing.assert_array_equal(read_labels, labels)
    plain, none = read_ply(write_ply(tmp_path / "one.ply", found[0].points))
    assert none is None and plain.shape == found[0].points.shape
