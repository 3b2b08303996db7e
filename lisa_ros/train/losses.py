"""LISA's training objective (the official LISA.py:16-59, 305-343).

``total = ce_weight * CE + bce_weight * BCE + dice_weight * Dice`` with, per mask (logits ``x``
and target ``t`` at the *original* image resolution, ``p = sigmoid(x)``):

* BCE: per-pixel binary cross-entropy with logits, averaged over the mask's pixels;
* Dice: ``1 - (2 * sum(p * t) / 1000 + 1e-6) / (sum(p) / 1000 + sum(t) / 1000 + 1e-6)``
  (the official ``scale=1000`` and ``eps=1e-6``).

Both are averaged over masks: each image's mask mean is multiplied back by its mask count and
the sum is divided by the batch's total mask count (``+ 1e-8``), i.e. a plain mean over every
mask of the batch. Images without masks add nothing; a batch without masks has zero mask loss.
CE is the mean next-token cross-entropy over all answer tokens of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

__all__ = ["LossWeights", "LossParts", "sigmoid_ce_loss", "dice_loss", "mask_losses", "combine"]

DICE_SCALE = 1000.0
DICE_EPS = 1e-6
COUNT_EPS = 1e-8


@dataclass(frozen=True)
class LossWeights:
    """Official weights: CE 1.0, BCE 2.0, Dice 0.5."""

    ce: float = 1.0
    bce: float = 2.0
    dice: float = 0.5


@dataclass
class LossParts:
    """The weighted total and its unweighted parts (tensors; ``num_masks`` an int).

    ``extras`` holds the unweighted value of every extra term added to ``total``
    (:class:`~lisa_ros.train.extension.LossTerm`), by its name, in the order they were added.
    """

    total: torch.Tensor
    ce: torch.Tensor
    bce: torch.Tensor
    dice: torch.Tensor
    num_masks: int
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def as_floats(self) -> dict[str, float]:
        out = {"loss": float(self.total.detach()), "ce": float(self.ce), "bce": float(self.bce), "dice": float(self.dice)}
        out.update((name, float(value)) for name, value in self.extras.items())
        return out


def sigmoid_ce_loss(inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Official ``sigmoid_ce_loss``: ``[K, H, W]`` logits and targets; per-mask pixel mean, summed, / num_masks."""
    loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    return loss.flatten(1, 2).mean(1).sum() / (num_masks + COUNT_EPS)


def dice_loss(inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Official ``dice_loss`` (scale 1000, eps 1e-6): ``[K, H, W]`` logits and targets."""
    probs = inputs.sigmoid().flatten(1, 2)
    targets = targets.flatten(1, 2)
    numerator = 2 * (probs / DICE_SCALE * targets).sum(-1)
    denominator = (probs / DICE_SCALE).sum(-1) + (targets / DICE_SCALE).sum(-1)
    loss = 1 - (numerator + DICE_EPS) / (denominator + DICE_EPS)
    return loss.sum() / (num_masks + COUNT_EPS)


def mask_losses(pred_masks: list[torch.Tensor], gt_masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Unweighted (BCE, Dice, mask count) over a batch, with the official per-image normalisation.

    Args:
        pred_masks: per image, ``[K_i, H_i, W_i]`` logits at the original resolution.
        gt_masks: per image, ``[K_i, H_i, W_i]`` targets in {0, 1}.
    """
    device = gt_masks[0].device if gt_masks else torch.device("cpu")
    bce = torch.zeros((), device=device)
    dice = torch.zeros((), device=device)
    count = 0
    for pred, gt in zip(pred_masks, gt_masks, strict=True):
        if pred.shape != gt.shape:
            raise ValueError(f"predicted masks {tuple(pred.shape)} != targets {tuple(gt.shape)}")
        k = gt.shape[0]
        if k == 0:
            continue
        pred = pred.float()
        bce = bce + sigmoid_ce_loss(pred, gt, k) * k
        dice = dice + dice_loss(pred, gt, k) * k
        count += k
    return bce / (count + COUNT_EPS), dice / (count + COUNT_EPS), count


def combine(ce: torch.Tensor, bce: torch.Tensor, dice: torch.Tensor, num_masks: int, weights: LossWeights) -> LossParts:
    """The weighted total of the three parts."""
    total = weights.ce * ce + weights.bce * bce + weights.dice * dice
    return LossParts(total, ce.detach(), bce.detach(), dice.detach(), num_masks)
