"""The opt-in small-component filter (lisa_ros.core.postprocess.drop_small_components) and its
use on a whole SegmentationOutput."""

import numpy as np

from lisa_ros.core.postprocess import drop_small_components, mask_box
from lisa_ros.core.results import MaskResult, SegmentationOutput, Status


def _mask_with_stray_patch() -> np.ndarray:
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:30] = True  # the object: 400 px
    mask[35:37, 55:58] = True  # a stray patch: 6 px, far away
    mask[5, 40] = True  # a single pixel
    return mask


def test_small_parts_go_and_the_object_stays():
    mask = _mask_with_stray_patch()
    kept = drop_small_components(mask, 10)
    assert kept.sum() == 400 and kept[10:30, 10:30].all()
    assert mask_box(kept) == (10, 10, 30, 30) and mask_box(mask) == (10, 5, 58, 37)
    # the input is not modified; off (0 or 1) returns an equal copy
    assert mask.sum() == 407
    off = drop_small_components(mask, 0)
    assert off is not mask and np.array_equal(off, mask)
    # parts of exactly min_area pixels stay
    assert drop_small_components(mask, 6).sum() == 406


def test_diagonal_pixels_are_one_part_and_the_largest_part_always_stays():
    mask = np.zeros((10, 10), bool)
    mask[2, 2] = mask[3, 3] = mask[4, 4] = True  # 8-connected: one part of 3 px
    mask[8, 8] = True
    assert drop_small_components(mask, 2).sum() == 3
    # every part is below min_area: the largest one is kept, not an empty mask
    assert drop_small_components(mask, 1000).sum() == 3
    assert not drop_small_components(np.zeros((4, 4), bool), 5).any()


def test_output_copy_has_filtered_masks_and_recomputed_boxes():
    mask = _mask_with_stray_patch()
    output = SegmentationOutput(Status.OK, "The mug [SEG].", [MaskResult(mask, 0.8, mask_box(mask), "The mug")],
                                mask.shape)
    filtered = output.without_small_components(10)
    assert filtered.masks[0].box == (10, 10, 30, 30) and filtered.masks[0].area == 400
    assert filtered.masks[0].score == 0.8 and filtered.masks[0].phrase == "The mug"
    assert filtered.answer == output.answer
    # the original is untouched, and 0 means off
    assert output.masks[0].box == (10, 5, 58, 37)
    assert output.without_small_components(0) is output
