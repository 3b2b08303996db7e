"""``lisa-segment`` end to end on a tiny official-layout checkpoint (a real subprocess)."""

import json
import subprocess
import sys

import cv2
import numpy as np

from tiny_checkpoints import scene_image


def _run(args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "lisa_ros.cli.segment", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_masks_and_overlay_written_at_source_resolution(tiny_official, tmp_path):
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(scene_image(height=66, width=99), cv2.COLOR_RGB2BGR))
    out_dir = tmp_path / "out"
    done = _run(
        ["--model", str(tiny_official), "--image", str(image_path), "--prompt", "Where are the mug and the cup?",
         "--out", str(out_dir), "--precision", "fp32", "--device", "cpu"]
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "OK" and result["answer"] == "The mug [SEG] and the cup [SEG]."
    assert len(result["masks"]) == 2
    for entry in result["masks"]:
        mask = cv2.imread(str(out_dir / entry["file"]), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (66, 99) and set(np.unique(mask)) <= {0, 255}
        assert int((mask == 255).sum()) == entry["area"]
        assert len(entry["box"]) == 4 and isinstance(entry["score"], float)
    assert cv2.imread(str(out_dir / result["overlay"])).shape == (66, 99, 3)
    assert {"clip", "sam_encoder", "prefill", "decode", "total"} <= set(result["timings"])


def test_no_target_and_bad_input(tiny_official, tmp_path):
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), scene_image())
    done = _run(["--model", str(tiny_official), "--image", str(image_path), "--prompt", "Is there a banana?", "--device", "cpu"])
    assert json.loads(done.stdout)["status"] == "NO_TARGET" and json.loads(done.stdout)["masks"] == []
    empty = _run(["--model", str(tiny_official), "--image", str(image_path), "--prompt", "   ", "--device", "cpu"])
    assert empty.returncode == 2 and json.loads(empty.stdout)["status"] == "INVALID_INPUT"
    missing = _run(["--model", str(tiny_official), "--image", str(tmp_path / "nope.png"), "--prompt", "x"])
    assert missing.returncode == 2 and "cannot read an image" in json.loads(missing.stdout)["error"]
