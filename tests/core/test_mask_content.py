"""Masks land on their objects, at the source resolution, for non-square images of several sizes.

* The taught tiny checkpoint (tests/tiny_checkpoints.py) was taught to mask the red block for
  "the mug" and the blue block for "the cup" of ``scene_image`` on five scenes; here it sees
  noise seeds it was not taught on, at taught sizes and at sizes near them (IoU 0.87 to 0.97
  measured before saving; bound 0.75). Far more elongated images than taught are not asked:
  the tiny SAM sees the image as 8x8 patches, and generalising there is not what is tested.
* lisa-tiny, the shipped model, on synthetic tabletop scenes of ``lisa_ros.data.synth`` with
  their ground truth (official IoU, "ignore" pixels excluded). The bound (0.6) sits below every
  value measured on these scenes (0.74 to 0.92, fp32 on the CPU).
"""

import numpy as np
import pytest

from lisa_ros.core.postprocess import mask_box
from lisa_ros.core.results import Status
from tiny_checkpoints import scene_image, scene_regions

# (H, W, noise seed): three taught sizes, three untaught ones; no taught seed.
TINY_SCENES = [(60, 80, 10), (75, 110, 11), (80, 60, 19), (90, 120, 15), (64, 96, 17), (110, 75, 18)]
LISA_TINY_SCENES = [5, 15, 19]  # explicit-family scenes (seed 0) whose target lisa-tiny names
LISA_TINY_SIZES = [(640, 480), (480, 640), (300, 200)]  # (W, H)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("height, width, seed", TINY_SCENES)
def test_taught_masks_cover_their_objects(segmenter, height, width, seed):
    image = scene_image(height, width, seed)
    regions = scene_regions(height, width)
    one = segmenter.segment(image, "Where is the mug?")
    assert len(one.masks) == 1 and _iou(one.masks[0].mask, regions["mug"]) > 0.75
    two = segmenter.segment(image, "Where are the mug and the cup?")
    assert [m.phrase for m in two.masks] == ["The mug", "the cup"]
    for result, name in zip(two.masks, ("mug", "cup")):
        assert result.mask.shape == (height, width)
        assert _iou(result.mask, regions[name]) > 0.75
        assert not (result.mask & regions["cup" if name == "mug" else "mug"]).any()
        # The box is the object's, to a few pixels (a stray patch would stretch it).
        assert np.abs(np.subtract(result.box, mask_box(regions[name]))).max() <= 0.1 * max(height, width)


@pytest.fixture(scope="module")
def lisa_tiny():
    from lisa_ros.core.segmenter import LisaSegmenter

    return LisaSegmenter.from_pretrained("lisa-tiny", precision="fp32", device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("size", LISA_TINY_SIZES)
@pytest.mark.parametrize("index", LISA_TINY_SCENES)
def test_lisa_tiny_masks_the_target_of_a_synthetic_scene(lisa_tiny, index, size):
    from lisa_ros.data.synth import render_scene
    from lisa_ros.eval.metrics import mask_iou

    sample = render_scene(0, index, size=size, family="explicit")
    target = np.where(sample.ignore_mask, 255, 0).astype(np.uint8)  # 1 target, 255 ignore, 0 background
    for mask in sample.target_masks:
        target[mask] = 1
    out = lisa_tiny.segment(sample.image, sample.texts[0])
    assert out.status == Status.OK and len(out.masks) == 1, out.answer
    assert out.masks[0].mask.shape == (size[1], size[0])
    assert mask_iou(out.masks[0].mask, target) > 0.6
