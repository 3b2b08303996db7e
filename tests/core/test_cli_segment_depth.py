"""``lisa-segment --depth --intrinsics``: 3D keys in the JSON, PLY files, bad depth reported
per mask while the 2D result stays (a real subprocess on the tiny official-layout checkpoint)."""

import json
import subprocess
import sys

import cv2
import numpy as np

from lisa_ros.core.depth import Intrinsics
from lisa_ros.core.objects3d import objects_3d
from lisa_ros.core.ply import read_ply
from tiny_checkpoints import scene_image

W, H = 96, 64
K = (110.0, 110.0, 47.5, 31.5)
PROMPT = "Where are the mug and the cup?"


def _segment(tiny_official, tmp_path, *extra):
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(scene_image(height=H, width=W), cv2.COLOR_RGB2BGR))
    done = subprocess.run(
        [sys.executable, "-m", "lisa_ros.cli.segment", "--model", str(tiny_official), "--image", str(image_path),
         "--prompt", PROMPT, "--precision", "fp32", "--device", "cpu", *extra],
        capture_output=True, text=True, timeout=300)
    return done


def _slanted_depth(width: int, height: int) -> np.ndarray:
    """float32 metres: a plane leaning away toward the top of the image, 0.6 .. 0.9 m."""
    return np.broadcast_to(np.linspace(0.9, 0.6, height, dtype=np.float32)[:, None], (height, width)).copy()


def test_png_millimetres_give_centroids_sizes_and_point_files(tiny_official, tmp_path):
    depth_path = tmp_path / "depth.png"
    metres = _slanted_depth(W, H)
    cv2.imwrite(str(depth_path), np.round(metres * 1000).astype(np.uint16))
    out_dir = tmp_path / "out"
    done = _segment(tiny_official, tmp_path, "--out", str(out_dir), "--depth", str(depth_path),
                    "--intrinsics", ",".join(map(str, K)))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "OK" and len(result["masks"]) == 2
    masks = [cv2.imread(str(out_dir / e["file"]), cv2.IMREAD_UNCHANGED) == 255 for e in result["masks"]]
    want = objects_3d(masks, np.round(metres * 1000) / 1000, Intrinsics(*K, W, H))
    assert any(w.ok for w in want)
    for entry, expected in zip(result["masks"], want):
        assert {"centroid", "size", "valid_points", "points_file", "status_3d"} <= set(entry)
        assert entry["status_3d"] == expected.status.name and entry["valid_points"] == expected.valid_points
        if not expected.ok:
            assert entry["centroid"] is None and entry["reason_3d"] == expected.reason
            continue
        np.testing.assert_allclose(entry["centroid"], expected.centroid, atol=1e-5)
        np.testing.assert_allclose(entry["size"], expected.size, atol=1e-5)
        points, labels = read_ply(out_dir / entry["points_file"])
        assert labels is None and len(points) == entry["valid_points"]
        np.testing.assert_allclose(points, expected.points, atol=1e-6)
        assert 0.6 <= points[:, 2].min() and points[:, 2].max() <= 0.9


def test_npy_metres_at_half_resolution_and_bad_depth_keep_the_2d_result(tiny_official, tmp_path):
    half = tmp_path / "half.npy"
    np.save(half, _slanted_depth(W // 2, H // 2))
    done = _segment(tiny_official, tmp_path, "--depth", str(half), "--intrinsics", ",".join(map(str, K)))
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)["masks"]
    ok = [e for e in entries if e["status_3d"] == "OK"]
    assert ok and all(e["points_file"] is None for e in ok)  # no --out: no files
    assert all(0.6 <= e["centroid"][2] <= 0.9 for e in ok)

    eight_bit = tmp_path / "depth8.png"
    cv2.imwrite(str(eight_bit), np.full((H, W), 200, np.uint8))
    wrong_aspect = tmp_path / "wide.npy"
    np.save(wrong_aspect, np.ones((H, W + 40), np.float32))
    integers = tmp_path / "mm.npy"
    np.save(integers, np.full((H, W), 800, np.uint16))
    for path, words in ((eight_bit, "16-bit"), (wrong_aspect, "aspect"), (integers, "float metres"),
                        (tmp_path / "missing.png", "cannot read")):
        done = _segment(tiny_official, tmp_path, "--depth", str(path), "--intrinsics", ",".join(map(str, K)))
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["status"] == "OK" and result["answer"] == "The mug [SEG] and the cup [SEG]."
        for entry in result["masks"]:
            assert entry["area"] > 0 and len(entry["box"]) == 4  # the 2D result as usual
            assert entry["status_3d"] == "INVALID_DEPTH" and words in entry["reason_3d"]
            assert entry["centroid"] is None and entry["size"] is None and entry["points_file"] is None


def test_depth_needs_intrinsics(tiny_official, tmp_path):
    done = _segment(tiny_official, tmp_path, "--depth", "d.png")
    assert done.returncode == 2 and "--depth and --intrinsics go together" in done.stderr
    done = _segment(tiny_official, tmp_path, "--depth", "d.png", "--intrinsics", "1,2,3")
    assert done.returncode == 2 and "fx,fy,cx,cy" in done.stderr
