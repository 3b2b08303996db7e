"""gIoU / cIoU against hand-computed cases (the rules of the official validation)."""
from __future__ import annotations

import numpy as np
import pytest

from lisa_ros.eval.metrics import (
    IoUAccumulator, giou_ciou, intersection_union, mask_iou, precision_recall,
)


def m(rows: list[str]) -> np.ndarray:
    """Mask from strings: '.' 0, '#' 1, 'x' 255 (ignore)."""
    table = {".": 0, "#": 1, "x": 255}
    return np.array([[table[c] for c in r] for r in rows], np.uint8)


def test_plain_overlap():
    gt = m(["##..",
            "##..",
            "...."])
    pred = m([".##.",
              ".##.",
              "...."]).astype(bool)
    assert intersection_union(pred, gt) == (2, 6)
    assert mask_iou(pred, gt) == pytest.approx(2 / (6 + 1e-5), abs=0)


def test_ignore_pixels_are_excluded_from_both_terms():
    gt = m(["##x.",
            "##x.",
            "xx.."])
    pred = m(["####",
              "####",
              "##.."]).astype(bool)
    # Ignored: 6 pixels (2 predicted in column 2, 2 predicted in row 2, all predicted).
    # Remaining prediction: 4 (the 2x2 block, all true) + 2 in column 3 -> I = 4, U = 6.
    assert intersection_union(pred, gt) == (4, 6)


def test_precision_and_recall_tell_spill_from_partial_cover():
    gt = m(["##x.",
            "##..",
            "...."])
    spill = m(["###.",
               "####",
               "...."]).astype(bool)   # covers the target, 3 pixels off it (1 ignored)
    part = m(["#...",
              "....",
              "...."]).astype(bool)    # 1 of the 4 target pixels, nothing off it
    assert precision_recall(spill, gt) == (pytest.approx(4 / 6), 1.0)
    assert precision_recall(part, gt) == (1.0, 0.25)
    assert precision_recall(np.zeros((3, 4), bool), gt) == (None, 0.0)
    assert precision_recall(part, m(["....", "....", "...."])) == (0.0, 1.0)


def test_logits_are_thresholded_at_zero():
    gt = m(["#.", ".."])
    logits = np.array([[3.0, 0.0], [-1.0, 1e-6]], np.float32)   # 0.0 is background
    assert intersection_union(logits, gt) == (1, 2)
    assert intersection_union(np.array([[255, 0], [0, 0]], np.uint8), gt) == (1, 1)


def test_empty_gt_and_empty_prediction_scores_one():
    gt = m(["..", ".x"])
    assert intersection_union(np.zeros((2, 2), bool), gt) == (0, 0)
    assert mask_iou(np.zeros((2, 2), bool), gt) == 1.0
    # a prediction only on the ignored pixel is still an empty prediction
    assert mask_iou(np.array([[0, 0], [0, 1]], bool), gt) == 1.0


def test_empty_gt_with_any_prediction_scores_zero():
    assert mask_iou(np.array([[1, 0], [0, 0]], bool), m(["..", ".."])) == 0.0


def test_bool_ground_truth_has_no_ignore():
    gt = np.array([[True, False], [False, False]])
    assert intersection_union(np.ones((2, 2), bool), gt) == (1, 4)


def test_other_gt_values_count_like_the_official_histogram():
    # A RefCOCO overlap value 2 is neither class for the ground truth, but a predicted
    # pixel there still joins the union.
    gt = np.array([[1, 2]], np.uint8)
    assert intersection_union(np.array([[1, 1]], bool), gt) == (1, 2)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        intersection_union(np.zeros((2, 2), bool), np.zeros((2, 3), np.uint8))


def test_giou_and_ciou_differ_as_expected():
    # Mask 1: small object, perfect (I=1, U=1). Mask 2: big object, half right (I=10, U=20).
    big_gt = np.zeros((5, 4), np.uint8)
    big_gt[:, :2] = 1                                     # 10 pixels
    big_pred = np.zeros((5, 4), bool)
    big_pred[:, 1:3] = True                               # I = 5, U = 15
    small_gt = np.zeros((5, 4), np.uint8)
    small_gt[0, 0] = 1
    small_pred = small_gt.astype(bool)
    g, c = giou_ciou([small_pred, big_pred], [small_gt, big_gt])
    iou_big = 5 / (15 + 1e-5)
    assert g == pytest.approx((1 / (1 + 1e-5) + iou_big) / 2, rel=1e-12)
    assert c == pytest.approx(6 / (16 + 1e-10), rel=1e-12)
    assert g > c


def test_empty_union_masks_raise_giou_but_not_ciou():
    gt_empty = np.zeros((2, 2), np.uint8)
    gt = np.array([[1, 1], [0, 0]], np.uint8)
    pred = np.array([[1, 0], [0, 0]], bool)
    g, c = giou_ciou([np.zeros((2, 2), bool), pred], [gt_empty, gt])
    assert g == pytest.approx((1.0 + 1 / (2 + 1e-5)) / 2)
    assert c == pytest.approx(1 / 2)


def test_empty_set():
    assert giou_ciou([], []) == (0.0, 0.0)
    assert IoUAccumulator().report().overall.count == 0


def test_accumulator_groups_and_report():
    acc = IoUAccumulator()
    gt = np.array([[1, 1], [0, 255]], np.uint8)
    full = np.ones((2, 2), bool)
    # 3 counted pixels (255 excluded): I = 2, U = 3
    assert acc.add(full, gt, keys="explicit") == pytest.approx(2 / (3 + 1e-5))
    acc.add(np.zeros((2, 2), bool), gt, keys=["spatial", "sentence"])
    acc.add_many([full, full], [gt, np.zeros((2, 2), np.uint8)], keys="multi_target")
    rep = acc.report()
    assert rep.overall.count == 4 == len(acc)
    assert set(rep.groups) == {"explicit", "spatial", "sentence", "multi_target"}
    assert rep.groups["spatial"].giou == 0.0 and rep.groups["spatial"].count == 1
    mt = rep.groups["multi_target"]
    assert (mt.intersection, mt.union, mt.count) == (2, 7, 2)   # (2, 3) + (0, 4)
    assert mt.ciou == pytest.approx(2 / 7)
    d = rep.as_dict()
    assert d["overall"]["count"] == 4 and list(d["groups"]) == sorted(d["groups"])
    table = rep.format_table()
    assert "overall" in table and "multi_target" in table


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[2.0, -1.0], [0.5, -3.0]])
    gt = torch.tensor([[1, 0], [255, 0]], dtype=torch.uint8)
    assert intersection_union(logits, gt) == (1, 1)
