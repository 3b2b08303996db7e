"""Synthetic scene sequences: determinism, the camera model, pushed objects, bounds, files, CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lisa_ros.cli import synth as cli
from lisa_ros.data.reasonseg import iter_samples
from lisa_ros.data.synth import generate_dataset
from lisa_ros.data.synth.sequence import (FOCAL_PER_HEIGHT, MAX_FRAMES, WORLD_SCALE, Motion, render_sequence,
                                          write_sequence)

SIZE = (320, 240)


def centroid(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean(), rows.mean()])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_frames_are_deterministic_whatever_the_order():
    first = render_sequence(4, 2, SIZE)
    later = first.frame(7)
    fresh = render_sequence(4, 2, SIZE)
    again = fresh.frame(7)  # rendered first in this sequence object
    assert np.array_equal(later.image, again.image)
    assert all(np.array_equal(a, b) for a, b in zip(later.target_masks, again.target_masks))
    assert later.name == f"{first.scene.name}_f007" and later.info["sequence"]["frame"] == 7
    assert later.texts == first.scene.texts and later.answer == first.scene.answer
    other = render_sequence(4, 3, SIZE).frame(7)
    assert not np.array_equal(other.image, later.image)


def test_frame_zero_is_the_centre_of_the_world_image():
    sequence = render_sequence(1, 0, SIZE, motion="still")
    frame = sequence.frame(0)
    world_w, world_h = sequence.scene.size
    assert (world_w, world_h) == (round(SIZE[0] * WORLD_SCALE), round(SIZE[1] * WORLD_SCALE))
    x0, y0 = (world_w - SIZE[0]) // 2, (world_h - SIZE[1]) // 2
    for got, world in zip(frame.target_masks, sequence.scene.target_masks):
        assert np.array_equal(got, world[y0:y0 + SIZE[1], x0:x0 + SIZE[0]])
    # the pixels too, up to the sensor noise drawn per frame
    crop = sequence.scene.image[y0:y0 + SIZE[1], x0:x0 + SIZE[0]].astype(float)
    assert np.abs(frame.image.astype(float) - crop).mean() < 6.0
    # a still camera: later frames show the same scene, with fresh noise
    later = sequence.frame(9)
    assert all(np.array_equal(a, b) for a, b in zip(later.target_masks, frame.target_masks))
    assert not np.array_equal(later.image, frame.image)


def test_a_pan_moves_the_scene_by_the_focal_length_times_the_tangent():
    sequence = render_sequence(2, 0, SIZE, motion=Motion(pan_deg=0.8, tilt_deg=0.0, zoom=0.0, push=0.0, push_prob=0.0))
    focal = FOCAL_PER_HEIGHT * SIZE[1]
    start = sequence.frame(0)
    target = int(np.argmax([m.sum() for m in start.target_masks]))
    for frame in (3, 6):
        moved = sequence.frame(frame)
        camera = sequence.camera(frame)
        assert camera.pitch_deg == 0.0 and camera.zoom == 1.0 and abs(camera.yaw_deg) > 1.0
        shift = centroid(moved.target_masks[target]) - centroid(start.target_masks[target])
        # turning right (positive yaw) moves the scene left; near the image centre by f tan(yaw)
        expected = -focal * math.tan(math.radians(camera.yaw_deg))
        assert shift[0] == pytest.approx(expected, abs=0.15 * abs(expected) + 1.0)
        assert abs(shift[1]) < 0.1 * abs(expected) + 1.0
        # the image moved with the mask: the object's colour is still under its mask
        inside_then = start.image[start.target_masks[target]].mean(axis=0)
        inside_now = moved.image[moved.target_masks[target]].mean(axis=0)
        assert np.abs(inside_now - inside_then).max() < 12


def test_a_tilt_moves_the_scene_vertically_and_a_zoom_scales_it():
    tilt = render_sequence(2, 1, SIZE, motion=Motion(0.0, 0.6, 0.0, 0.0, 0.0))
    camera = tilt.camera(4)
    shift = centroid(tilt.frame(4).target_masks[0]) - centroid(tilt.frame(0).target_masks[0])
    expected = -FOCAL_PER_HEIGHT * SIZE[1] * math.tan(math.radians(camera.pitch_deg))
    assert abs(expected) > 5 and shift[1] == pytest.approx(expected, abs=0.15 * abs(expected) + 1.0)

    zoom = render_sequence(2, 1, SIZE, motion=Motion(0.0, 0.0, 0.01, 0.0, 0.0))
    scale = zoom.camera(5).zoom
    assert abs(scale - 1) > 0.02
    before, after = zoom.frame(0).target_masks[0], zoom.frame(5).target_masks[0]
    assert after.sum() / before.sum() == pytest.approx(scale ** 2, rel=0.05)


def test_a_pushed_target_moves_against_the_other_objects():
    motion = Motion(0.0, 0.0, 0.0, push=0.02, push_prob=1.0)
    for index in range(6):
        sequence = render_sequence(5, index, SIZE, motion=motion)
        if sequence.scene.targets and len(sequence.scene.objects) > 1:
            break
    pushed = sequence._push.target
    last = sequence._push.start + sequence._push.frames
    start, end = sequence.frame(0), sequence.frame(last + 3)
    dx, dy = sequence.push_offset(last + 3)
    assert sequence.push_offset(last + 3) == sequence.push_offset(last)  # the push ended
    scale = sequence.scene.size[1] / sequence.scene.layout.height  # world (= frame 0) px per canonical px
    assert math.hypot(dx, dy) * scale == pytest.approx(0.02 * SIZE[0] * sequence._push.frames, rel=1e-6)
    shift = centroid(end.object_masks[pushed]) - centroid(start.object_masks[pushed])
    if end.object_masks[pushed].sum() > 0.8 * start.object_masks[pushed].sum():  # not occluded or cropped much
        assert shift == pytest.approx(np.array([dx, dy]) * scale, abs=0.25 * math.hypot(dx, dy) * scale + 2)
    still = [k for k in range(len(sequence.scene.objects)) if k != pushed]
    for k in still:  # the camera is still: the others stay where they are, unless the pushed one covers them
        covered = end.object_masks[pushed] | start.object_masks[pushed]
        assert np.array_equal(end.object_masks[k] & ~covered, start.object_masks[k] & ~covered) or \
            iou(end.object_masks[k], start.object_masks[k]) > 0.5


def test_fast_motion_keeps_the_view_inside_the_world_image():
    for index in range(4):
        sequence = render_sequence(6, index, SIZE, motion="fast")
        world_w, world_h = sequence.scene.size
        corners = np.array([[0, 0, 1], [SIZE[0] - 1, 0, 1], [0, SIZE[1] - 1, 1], [SIZE[0] - 1, SIZE[1] - 1, 1]], float).T
        for frame in range(0, 300, 7):
            mapped = sequence.camera(frame).homography @ corners
            xs, ys = mapped[0] / mapped[2], mapped[1] / mapped[2]
            assert xs.min() >= -0.5 and xs.max() <= world_w - 0.5, (index, frame)
            assert ys.min() >= -0.5 and ys.max() <= world_h - 0.5, (index, frame)


def test_moderate_motion_is_moderate():
    """Peak speeds as documented: a target moves a few pixels per frame at 320x240."""
    steps = []
    for index in range(4):
        sequence = render_sequence(7, index, SIZE)
        masks = [sequence.frame(f).target_masks for f in range(0, 11)]
        for a, b in zip(masks, masks[1:]):
            if a and a[0].sum() and b[0].sum():
                steps.append(np.hypot(*(centroid(b[0]) - centroid(a[0]))))
    assert 0.5 < np.median(steps) < 10.0


@pytest.mark.parametrize("kwargs, message", [
    ({"motion": "wobbly"}, "unknown motion"),
    ({"size": (0, 10)}, "positive"),
    ({"seed": -1}, ">= 0"),
])
def test_bad_arguments_are_refused(kwargs, message):
    args = {"seed": 1, "index": 0, "size": SIZE, **kwargs}
    with pytest.raises(ValueError, match=message):
        render_sequence(**args)


@pytest.mark.parametrize("frame", [-1, MAX_FRAMES + 1])
def test_frames_out_of_range_are_refused(frame):
    with pytest.raises(ValueError, match="frame must be"):
        render_sequence(1, 0, SIZE).frame(frame)


def test_written_frames_read_back(tmp_path):
    scene = write_sequence(tmp_path, 8, 1, 3, (160, 120))
    samples = list(iter_samples(tmp_path))
    assert [s.name for s in samples] == [f"{scene.name}_f{f:03d}" for f in range(3)]
    sequence = render_sequence(8, 1, (160, 120), family=scene.family)
    for f, sample in enumerate(samples):
        want = sequence.frame(f)
        assert sample.texts == want.texts and sample.extra["info"]["sequence"]["frame"] == f
        for got, truth in zip(sample.target_masks, want.target_masks):
            assert iou(got, truth) > 0.85  # polygons of the masks


def test_cli_writes_sequences(tmp_path, capsys):
    rc = cli.main(["--seed", "3", "--count", "2", "--out", str(tmp_path), "--sequence", "4", "--motion", "slow",
                   "--size", "160x120", "--quiet"])
    assert rc == 0
    assert "sequences: 4 frames per scene, motion slow" in capsys.readouterr().out
    jsons = sorted(p.name for p in tmp_path.glob("*.json") if not p.name.startswith("_"))
    assert jsons == [f"synth_s3_{i:06d}_f{f:03d}.json" for i in range(2) for f in range(4)]
    manifest = json.loads((tmp_path / "_synth_manifest.json").read_text())
    assert manifest["sequence"] == {"frames": 4, "motion": "slow"}


@pytest.mark.parametrize("args", [["--sequence", "0"], ["--sequence", "3", "--depth"], ["--motion", "wobbly"]])
def test_cli_refuses_bad_sequence_options(tmp_path, args):
    try:
        rc = cli.main(["--seed", "1", "--count", "1", "--out", str(tmp_path), *args])
    except SystemExit as exc:  # argparse refusing a choice
        rc = exc.code
    assert rc == 2


def test_generate_dataset_refuses_depth_with_sequences(tmp_path):
    with pytest.raises(ValueError, match="no depth"):
        generate_dataset(tmp_path, 1, 1, sequence=3, depth=False)
