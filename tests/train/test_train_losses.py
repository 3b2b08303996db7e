"""The LISA objective against values computed by hand (the official LISA.py losses)."""

import math

import pytest
import torch

from lisa_ros.train.losses import LossWeights, combine, dice_loss, mask_losses, sigmoid_ce_loss

LN3 = math.log(3.0)


def _mask_a():
    # one mask of 1x2 pixels: logits [0, ln 3] -> p = [0.5, 0.75]; target [1, 0]
    return torch.tensor([[[0.0, LN3]]]), torch.tensor([[[1.0, 0.0]]])


def test_bce_by_hand():
    logits, target = _mask_a()
    # -log(0.5) and -log(1 - 0.75) = ln 2 and ln 4, averaged over the two pixels
    expected = (math.log(2) + math.log(4)) / 2
    assert sigmoid_ce_loss(logits, target, 1).item() == pytest.approx(expected, rel=1e-6)


def test_dice_by_hand_with_scale_and_eps():
    logits, target = _mask_a()
    numerator = 2 * (0.5 / 1000)
    denominator = (0.5 + 0.75) / 1000 + 1 / 1000
    expected = 1 - (numerator + 1e-6) / (denominator + 1e-6)
    assert dice_loss(logits, target, 1).item() == pytest.approx(expected, rel=1e-6)
    # the eps is not negligible next to the /1000 scaling: a plain Dice would differ
    assert expected != pytest.approx(1 - numerator / denominator, rel=1e-6)


def test_per_mask_averaging_over_images():
    logits_a, target_a = _mask_a()
    # image B: two masks with logits 0 everywhere and all-ones targets
    logits_b = torch.zeros((2, 1, 2))
    target_b = torch.ones((2, 1, 2))
    empty = torch.zeros((0, 1, 2))
    bce, dice, count = mask_losses([logits_a, empty, logits_b], [target_a, empty, target_b])
    assert count == 3
    bce_a = (math.log(2) + math.log(4)) / 2
    bce_b = math.log(2)
    assert bce.item() == pytest.approx((bce_a + 2 * bce_b) / 3, rel=1e-6)
    dice_a = 1 - (2 * 0.5 / 1000 + 1e-6) / (1.25 / 1000 + 1 / 1000 + 1e-6)
    dice_b = 1 - (2 * 1.0 / 1000 + 1e-6) / (1.0 / 1000 + 2 / 1000 + 1e-6)
    assert dice.item() == pytest.approx((dice_a + 2 * dice_b) / 3, rel=1e-6)


def test_no_masks_gives_zero_mask_loss():
    empty = torch.zeros((0, 3, 3))
    bce, dice, count = mask_losses([empty], [empty])
    assert count == 0 and bce.item() == 0.0 and dice.item() == 0.0


def test_weighted_total_uses_official_weights():
    ce, bce, dice = torch.tensor(1.5), torch.tensor(0.25), torch.tensor(0.8)
    parts = combine(ce, bce, dice, 2, LossWeights())
    assert parts.total.item() == pytest.approx(1.5 + 2.0 * 0.25 + 0.5 * 0.8)
    custom = combine(ce, bce, dice, 2, LossWeights(ce=0.5, bce=1.0, dice=2.0))
    assert custom.total.item() == pytest.approx(0.75 + 0.25 + 1.6)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        mask_losses([torch.zeros((1, 2, 2))], [torch.zeros((1, 3, 3))])
