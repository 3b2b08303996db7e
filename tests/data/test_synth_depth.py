"""Synthetic depth: agrees with the scene's geometry, is deterministic, leaves the RGB alone."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lisa_ros.cli import synth as cli
from lisa_ros.data.reasonseg import list_sample_names
from lisa_ros.data.synth import render_scene
from lisa_ros.data.synth.depth_defects import DepthDefects
from lisa_ros.data.synth.depth_files import read_depth_files
from lisa_ros.data.synth.depth_render import render_depth
from lisa_ros.data.synth.writer import MANIFEST_NAME

SEED = 77
SIZE = (320, 240)


@pytest.fixture(scope="module")
def scenes():
    return [render_scene(SEED, i, SIZE) for i in range(12)]


def _points(depth: np.ndarray, k, mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    z = depth[rows, cols].astype(np.float64)
    return np.stack([(cols - k.cx) * z / k.fx, (rows - k.cy) * z / k.fy, z], axis=1)


def _height_above_table(points: np.ndarray, camera) -> np.ndarray:
    """Metres above the table: the camera is ``camera.height`` above it, pitched down."""
    up = np.array([0.0, -math.cos(camera.pitch), -math.sin(camera.pitch)])  # world up, optical frame
    return points @ up + camera.height


def _table_mask(sample, depth) -> np.ndarray:
    """Pixels of the table: no object, below the wall edge, away from objects' outlines."""
    import cv2

    objects = sample.object_masks.any(axis=0).astype(np.uint8)
    free = cv2.dilate(objects, np.ones((5, 5), np.uint8)) == 0
    wall_rows = int(math.ceil((sample.layout.horizon + 0.5) * SIZE[1] / 240)) + 1 if sample.layout.horizon else 0
    free[:wall_rows] = False
    return free


def test_table_pixels_lie_on_one_plane_and_objects_stand_on_it(scenes):
    for sample in scenes:
        scene = render_depth(sample)
        table = _points(scene.depth_m, scene.intrinsics, _table_mask(sample, scene.depth_m))
        assert len(table) > 1000
        np.testing.assert_allclose(_height_above_table(table, scene.camera), 0.0, atol=1e-5)
        for truth, visible in zip(scene.truth, sample.object_masks):
            height = _height_above_table(_points(scene.depth_m, scene.intrinsics, visible), scene.camera)
            assert height.min() > -1e-5  # nothing below the table
            assert abs(_height_above_table(np.array([truth.base]), scene.camera)[0]) < 1e-6
            if truth.solid == "cylinder" and sample.objects[truth.index].visible_fraction > 0.98:
                assert height.min() < 0.01  # an unoccluded standing object touches the table


def test_the_wall_stands_upright_at_the_back_of_the_table(scenes):
    walled = [s for s in scenes if s.layout.horizon > 0]
    assert walled
    for sample in walled:
        scene = render_depth(sample)
        edge_row = (sample.layout.horizon + 0.5) * SIZE[1] / 240 - 0.5
        wall = np.zeros(scene.depth_m.shape, bool)
        wall[: int(edge_row) - 1] = True
        wall &= ~sample.object_masks.any(axis=0)
        points = _points(scene.depth_m, scene.intrinsics, wall)
        forward = np.array([0.0, -math.sin(scene.camera.pitch), math.cos(scene.camera.pitch)])  # level, ahead
        distance = points @ forward
        np.testing.assert_allclose(distance, distance[0], atol=1e-5)  # a vertical plane facing the camera
        assert _height_above_table(points, scene.camera).min() > 0
        table = _points(scene.depth_m, scene.intrinsics, _table_mask(sample, scene.depth_m))
        assert (table @ forward).max() <= distance[0] + 1e-6  # the table ends at the wall


def test_objects_are_in_front_of_the_table_behind_them(scenes):
    for sample in scenes:
        scene = render_depth(sample)
        k, camera = scene.intrinsics, scene.camera
        rows = np.arange(k.height)[:, None]
        down = math.cos(camera.pitch) * (rows - k.cy) / k.fy + math.sin(camera.pitch)
        table = np.broadcast_to(camera.height / down, scene.depth_m.shape)
        objects = sample.object_masks.any(axis=0)
        assert (scene.depth_m[objects] <= table[objects] + 1e-4).all()


def test_ground_truth_is_the_visible_surface_of_the_exact_depth(scenes):
    sample = scenes[0]
    scene = render_depth(sample)
    assert len(scene.truth) == len(sample.objects)
    for truth, visible in zip(scene.truth, sample.object_masks):
        points = _points(scene.depth_m, scene.intrinsics, visible)
        np.testing.assert_allclose(truth.centroid, points.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(truth.size, np.ptp(points, axis=0), atol=1e-6)
        assert truth.visible_pixels == int(visible.sum())
    assert [t.group_id for t in scene.targets()] == list(range(len(sample.target_masks)))


def test_objects_stand_half_a_metre_to_a_metre_and_a_half_away():
    distances = [t.centroid[2] for i in range(30) for t in render_depth(render_scene(SEED, i, SIZE)).truth]
    assert 0.45 < min(distances) and max(distances) < 1.6
    assert np.percentile(distances, 10) < 0.7 and np.percentile(distances, 90) > 1.1


def test_without_defects_the_image_is_the_exact_geometry_in_millimetres(scenes):
    scene = render_depth(scenes[1])
    assert scene.depth_mm.dtype == np.uint16 and scene.depth_mm.shape == (SIZE[1], SIZE[0])
    assert scene.defects is None and (scene.depth_mm > 0).all()
    np.testing.assert_array_equal(scene.depth_mm, np.round(scene.depth_m * 1000).astype(np.uint16))


def test_deterministic_and_independent_of_the_rgb(scenes):
    sample = scenes[2]
    again = render_scene(SEED, 2, SIZE)
    a, b = render_depth(sample, defects=True), render_depth(again, defects=True)
    np.testing.assert_array_equal(a.depth_mm, b.depth_mm)
    assert a.truth == b.truth and a.intrinsics == b.intrinsics
    np.testing.assert_array_equal(sample.image, again.image)  # rendering depth drew nothing from the scene
    exact = render_depth(sample)
    assert exact.truth == a.truth and exact.camera == a.camera  # defects do not move the geometry
    large = render_depth(render_scene(SEED, 2, (640, 480)))
    assert large.intrinsics == exact.intrinsics.scaled_to(640, 480)  # one camera at every resolution
    assert large.camera.pitch == pytest.approx(exact.camera.pitch)
    assert large.camera.height == pytest.approx(exact.camera.height)
    other = render_depth(scenes[3])
    assert other.camera.height != exact.camera.height


def test_scenes_from_a_generator_get_depth():
    sample = render_scene(np.random.default_rng(5), 3, SIZE, family="explicit")
    scene = render_depth(sample)
    assert sample.seed is None and scene.depth_mm.shape == (SIZE[1], SIZE[0])
    with pytest.raises(ValueError, match="no layout"):
        from dataclasses import replace
        render_depth(replace(sample, layout=None))


def test_defects_holes_noise_growing_with_distance_and_flying_pixels(scenes):
    sample = scenes[4]
    exact = render_depth(sample)
    noisy = render_depth(sample, defects=DepthDefects(shift_px=0.0, dropout=0.0, flying_probability=0.0))
    assert (noisy.depth_mm == 0).any()  # holes
    valid = noisy.depth_mm > 0
    error = noisy.depth_mm.astype(np.float64) / 1000 - exact.depth_m
    near = valid & (exact.depth_m < np.percentile(exact.depth_m, 20))
    far = valid & (exact.depth_m > np.percentile(exact.depth_m, 80))
    assert error[far].std() > 2 * error[near].std() > 0
    flying = render_depth(sample, defects=DepthDefects(shift_px=0.0, dropout=0.0, holes=(0, 0),
                                                       noise_at_half_metre=0.0))
    moved = flying.depth_mm.astype(np.float64) / 1000 - exact.depth_m
    assert (np.abs(moved) > 0.01).sum() > 20  # in-between readings at depth edges
    import cv2
    objects = sample.object_masks.any(axis=0).view(np.uint8)
    bare_table = ~cv2.dilate(objects, np.ones((7, 7), np.uint8)).view(bool)
    assert (np.abs(moved)[bare_table] <= 0.0006).all()  # none on the bare table, however slanted


def test_lisa_synth_writes_depth_next_to_the_samples(tmp_path):
    rc = cli.main(["--seed", "6", "--count", "3", "--out", str(tmp_path), "--size", "160x120",
                   "--depth", "--depth-defects", "--quiet"])
    assert rc == 0
    assert list_sample_names(tmp_path) == [f"synth_s6_{i:06d}" for i in range(3)]  # sidecars are no samples
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["depth"]["defects"]["noise_at_half_metre"] == DepthDefects().noise_at_half_metre
    for index in range(3):
        depth, intrinsics, objects = read_depth_files(tmp_path, f"synth_s6_{index:06d}")
        want = render_depth(render_scene(6, index, (160, 120)), defects=True)
        np.testing.assert_array_equal(depth, want.depth_mm)
        assert intrinsics == want.intrinsics
        assert [o["centroid"] for o in objects] == [[round(v, 6) for v in t.centroid] for t in want.truth]
    assert cli.main(["--seed", "6", "--count", "1", "--out", str(tmp_path / "x"), "--depth-defects"]) == 2
