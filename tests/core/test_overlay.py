"""Result pictures: masks tinted inside their box, labels that stay readable."""

import numpy as np

from lisa_ros.core.overlay import draw_overlay, label_origin


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_at_the_same_corner_are_stacked_not_overdrawn():
    placed: list = []
    origins = [label_origin((10, 20), (80, 14), placed) for _ in range(3)]
    assert origins[0] == (10, 20)
    assert len({o for o in origins}) == 3
    for i in range(3):
        for j in range(i + 1, 3):
            assert not _overlaps(placed[i], placed[j]), placed


def test_a_free_spot_is_kept():
    placed = [(0, 0, 50, 14)]
    assert label_origin((100, 30), (40, 14), placed) == (100, 30)


def test_overlay_tints_only_mask_pixels_and_draws_both_labels():
    image = np.full((120, 160, 3), 200, np.uint8)
    first = np.zeros((120, 160), bool)
    first[40:80, 30:70] = True
    second = np.zeros((120, 160), bool)
    second[40:80, 30:70] = True
    second[90:100, 120:140] = True  # a stray patch: its box shares the first box's corner
    boxes = [(30, 40, 70, 80), (30, 40, 140, 100)]
    both = draw_overlay(image, [first, second], boxes, ["the mug", "the bowl"])
    only_first = draw_overlay(image, [first, second], boxes, ["the mug", ""])
    assert (both[5:30] != image[5:30]).any()  # label text above the boxes
    # the second label was drawn somewhere the first one is not
    assert (both != only_first).any()
    untouched = ~(first | second)
    untouched[38:102, 28:142] = False  # box outlines and labels
    untouched[:40] = False
    assert (both[untouched] == 200).all()
