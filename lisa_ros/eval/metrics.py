"""gIoU and cIoU exactly as LISA's validation computes them (``validate`` of the official train_ds.py).

Per mask (prediction vs ground truth, both (H, W) at the source image's resolution):

- the prediction's foreground is ``logits > 0`` (a bool mask is taken as is; an integer mask
  counts any non-zero value, so 0/1 and 0/255 both work);
- ground-truth pixels equal to 255 are *ignored*: excluded from intersection and union;
- ground-truth foreground is ``gt == 1`` (a bool ground truth is its own foreground); other
  values (e.g. a 2 where two RefCOCO masks overlap) are background for the ground truth but
  still count a predicted pixel into the union, as the official histogram does;
- ``I`` = predicted and true foreground, ``U`` = predicted or true foreground (both over
  non-ignored pixels);
- ``IoU = I / (U + 1e-5)``, plus 1.0 when ``U == 0``: an empty ground truth with an empty
  prediction scores 1.0, an empty ground truth with any predicted pixel scores 0.

Over a set of masks: ``gIoU`` is the mean of the per-mask IoUs (the official per-image means
weighted by mask count reduce to exactly this), ``cIoU = sum(I) / (sum(U) + 1e-10)``.

Arrays may be numpy arrays or anything ``np.asarray`` accepts (CPU torch tensors included).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

__all__ = [
    "IGNORE_INDEX", "IoUStats", "IoUReport", "IoUAccumulator",
    "intersection_union", "precision_recall", "mask_iou", "giou_ciou",
]

IGNORE_INDEX = 255
_IOU_EPS = 1e-5    # per-mask denominator epsilon (official)
_CIOU_EPS = 1e-10  # cumulative denominator epsilon (official)


def _foreground(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred)
    return pred if pred.dtype == np.bool_ else pred > 0


def intersection_union(pred, gt, ignore_index: int = IGNORE_INDEX) -> tuple[int, int]:
    """Foreground intersection and union of one mask pair, ignore pixels excluded.

    :param pred: (H, W) logits (foreground where > 0) or bool/integer mask.
    :param gt: (H, W) bool, or integer with 1 = target, ``ignore_index`` = ignore.
    :returns: (I, U) as Python ints.
    :raises ValueError: the shapes differ.
    """
    p = _foreground(pred)
    g = np.asarray(gt)
    if p.shape != g.shape:
        raise ValueError(f"prediction shape {p.shape} != ground-truth shape {g.shape}")
    if g.dtype == np.bool_:
        g_fg = g
    else:
        p = p & (g != ignore_index)
        g_fg = g == 1
    inter = int(np.count_nonzero(p & g_fg))
    union = int(np.count_nonzero(p)) + int(np.count_nonzero(g_fg)) - inter
    return inter, union


def precision_recall(pred, gt, ignore_index: int = IGNORE_INDEX) -> tuple[float | None, float]:
    """Share of the predicted foreground on the target, and of the target covered.

    Same inputs and ignore rule as :func:`intersection_union`. Precision is None when nothing
    is predicted; recall is 1.0 for an empty target.
    """
    inter, union = intersection_union(pred, gt, ignore_index)
    g = np.asarray(gt)
    target = int(np.count_nonzero(g if g.dtype == np.bool_ else g == 1))
    predicted = union - target + inter
    return (inter / predicted if predicted else None), (inter / target if target else 1.0)


def _iou_from(inter: int, union: int) -> float:
    return inter / (union + _IOU_EPS) + (1.0 if union == 0 else 0.0)


def mask_iou(pred, gt, ignore_index: int = IGNORE_INDEX) -> float:
    """Official per-mask foreground IoU (with the empty-union rule)."""
    return _iou_from(*intersection_union(pred, gt, ignore_index))


def giou_ciou(preds: Iterable, gts: Iterable) -> tuple[float, float]:
    """(gIoU, cIoU) over paired masks; (0.0, 0.0) for an empty set."""
    acc = IoUAccumulator()
    for p, g in zip(preds, gts, strict=True):
        acc.add(p, g)
    s = acc.stats()
    return s.giou, s.ciou


@dataclass
class IoUStats:
    """Totals of one set of masks.

    Attributes: ``count`` masks; ``iou_sum`` sum of per-mask IoUs; ``intersection`` and
    ``union`` summed pixel counts. ``giou`` and ``ciou`` are derived (0.0 when empty).
    """

    count: int = 0
    iou_sum: float = 0.0
    intersection: int = 0
    union: int = 0

    def add(self, inter: int, union: int) -> float:
        iou = _iou_from(inter, union)
        self.count += 1
        self.iou_sum += iou
        self.intersection += inter
        self.union += union
        return iou

    @property
    def giou(self) -> float:
        return self.iou_sum / self.count if self.count else 0.0

    @property
    def ciou(self) -> float:
        return self.intersection / (self.union + _CIOU_EPS)

    def as_dict(self) -> dict:
        return {"giou": self.giou, "ciou": self.ciou, "count": self.count,
                "intersection": self.intersection, "union": self.union}


@dataclass
class IoUReport:
    """Overall stats plus stats per group key (e.g. per instruction family)."""

    overall: IoUStats
    groups: dict[str, IoUStats] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"overall": self.overall.as_dict(),
                "groups": {k: v.as_dict() for k, v in sorted(self.groups.items())}}

    def format_table(self) -> str:
        """Plain-text table: one row per group, then the overall row (gIoU/cIoU in %)."""
        rows = [(k, v) for k, v in sorted(self.groups.items())] + [("overall", self.overall)]
        width = max(len(k) for k, _ in rows)
        lines = [f"{'group':<{width}}  {'gIoU':>6}  {'cIoU':>6}  {'masks':>6}"]
        lines += [f"{k:<{width}}  {100 * v.giou:6.2f}  {100 * v.ciou:6.2f}  {v.count:6d}"
                  for k, v in rows]
        return "\n".join(lines)


class IoUAccumulator:
    """Accumulates per-mask results; reports gIoU/cIoU overall and per group key.

    >>> acc = IoUAccumulator()
    >>> pred = np.array([[1, 1], [0, 1]], bool)
    >>> gt = np.array([[1, 0], [0, 255]], np.uint8)   # the 255 pixel is not counted
    >>> round(acc.add(pred, gt, keys="explicit"), 4)
    0.5
    >>> round(acc.report().groups["explicit"].ciou, 4)
    0.5
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        self.ignore_index = ignore_index
        self._overall = IoUStats()
        self._groups: dict[str, IoUStats] = {}

    def add(self, pred, gt, keys: str | Iterable[str] | None = None) -> float:
        """Add one mask pair; ``keys`` names the group(s) it also counts into.

        :returns: the mask's IoU.
        """
        inter, union = intersection_union(pred, gt, self.ignore_index)
        iou = self._overall.add(inter, union)
        if keys is not None:
            for key in ([keys] if isinstance(keys, str) else keys):
                self._groups.setdefault(str(key), IoUStats()).add(inter, union)
        return iou

    def add_many(self, preds: Iterable, gts: Iterable,
                 keys: str | Iterable[str] | None = None) -> list[float]:
        """Add the masks of one sample (e.g. one per ``[SEG]``) under the same keys."""
        keys = list([keys] if isinstance(keys, str) else keys) if keys is not None else None
        return [self.add(p, g, keys) for p, g in zip(preds, gts, strict=True)]

    def stats(self) -> IoUStats:
        return self._overall

    def report(self) -> IoUReport:
        return IoUReport(self._overall, dict(self._groups))

    def __len__(self) -> int:
        return self._overall.count
