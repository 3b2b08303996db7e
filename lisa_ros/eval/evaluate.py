"""gIoU / cIoU evaluation of a LISA model on a ReasonSeg-format folder.

Per sample, the question is the official validation question built from ``texts[0]``
(``"{text} Please output segmentation mask."`` for sentences, ``"What is {text} in this
image? Please output segmentation mask."`` for phrases;
:func:`lisa_ros.data.lisa_templates.validation_question`). Then:

* ``generate`` mode: the model answers freely (greedy, KV cache, as the node runs it); its
  k-th ``[SEG]`` mask is scored against the sample's k-th target group; a target without a
  predicted mask scores an empty prediction; masks beyond the targets are counted
  (``extra_masks``) but not scored.
* ``teacher-forced`` mode (the official validation): the answer is fixed and the masks come
  from one forward pass: ``"[SEG]."`` for single-target samples, the sample's own answer for
  multi-target samples (one ``[SEG]`` per target, so the k-th mask meets the k-th target).

Scores follow :mod:`lisa_ros.eval.metrics` (ignore pixels excluded, empty-union rule,
original resolution). How samples without a target ("absent" family, or any sample whose
answer has no ``[SEG]``) enter the numbers:

* overall ``giou``/``ciou`` are over the masks of samples *with* targets (as the official
  metric, whose datasets always have a target);
* ``absent_correct_rate``: share of target-less samples answered with no ``[SEG]`` at all
  (generate mode only; ``None`` in teacher-forced mode, where the answer is given);
* ``families["absent"]`` reports that rate and the family's own gIoU under the empty-union
  rule (the union of all predicted masks against an empty target: 1 when nothing was
  predicted, else 0); its cIoU is 0 by construction (no target pixels) and is not meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lisa_ros.eval.metrics import IGNORE_INDEX, IoUAccumulator, IoUStats, precision_recall

__all__ = ["MODES", "SampleResult", "EvalResult", "gt_for_target", "evaluate_folder", "evaluate_samples"]

MODES = ("generate", "teacher-forced")
NO_TARGET_KEY = "_no_target"


@dataclass
class SampleResult:
    """One evaluated sample (kept for the worst-case picture and the per-sample list).

    ``score``: mean IoU of its targets, or for a target-less sample 1.0 when no mask was
    predicted and 0.0 otherwise. ``precisions`` and ``recalls``: per target, the share of its
    predicted pixels that lie on the target (None when it predicted none) and the share of the
    target's pixels it covers, ignore pixels excluded; they tell a mask that spills onto other
    things from one that covers only part of its object, which the IoU alone cannot.
    """

    name: str
    family: str | None
    question: str
    answer: str
    ious: list[float]
    num_targets: int
    num_predicted: int
    score: float
    image: np.ndarray | None = None
    target_masks: list[np.ndarray] = field(default_factory=list)
    pred_masks: list[np.ndarray] = field(default_factory=list)
    precisions: list[float | None] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "question": self.question,
            "answer": self.answer,
            "ious": [round(v, 4) for v in self.ious],
            "num_targets": self.num_targets,
            "num_predicted": self.num_predicted,
            "score": round(self.score, 4),
            "precisions": [None if v is None else round(v, 4) for v in self.precisions],
            "recalls": [round(v, 4) for v in self.recalls],
        }


@dataclass
class EvalResult:
    """Summary (JSON-ready) and the per-sample results."""

    summary: dict
    samples: list[SampleResult]

    def worst(self, count: int) -> list[SampleResult]:
        return sorted(self.samples, key=lambda s: (s.score, s.name))[:count]


def gt_for_target(target: np.ndarray, ignore: np.ndarray | None) -> np.ndarray:
    """``uint8 [H, W]`` ground truth of one target: 1 target, 255 ignore, 0 background."""
    gt = np.zeros(target.shape, dtype=np.uint8)
    if ignore is not None:
        gt[ignore] = IGNORE_INDEX
    gt[target] = 1
    return gt


def _teacher_answer(sample) -> str:
    from lisa_ros.data.lisa_templates import VALIDATION_ANSWER

    if len(sample.target_masks) > 1 and sample.answer:
        return sample.answer
    if len(sample.target_masks) == 0 and sample.answer is not None:
        return sample.answer
    return VALIDATION_ANSWER


def _stats_dict(stats: IoUStats) -> dict:
    return {"giou": stats.giou, "ciou": stats.ciou, "count": stats.count}


def evaluate_samples(
    segmenter,
    samples,
    mode: str = "generate",
    max_new_tokens: int | None = None,
    keep_images: int = 0,
    progress: bool = False,
    total: int | None = None,
) -> EvalResult:
    """Evaluate ``segmenter`` (a :class:`~lisa_ros.core.segmenter.LisaSegmenter`) on samples.

    Args:
        samples: iterable of :class:`~lisa_ros.data.reasonseg.ReasonSegSample`.
        mode: ``generate`` or ``teacher-forced``.
        keep_images: keep images and masks of this many worst samples (for the PNG grid).
        progress: show a progress bar (tqdm) with the running gIoU.
    """
    from lisa_ros.data.lisa_templates import validation_question

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    acc = IoUAccumulator()
    absent_acc = IoUAccumulator()
    extra_masks = 0
    results: list[SampleResult] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"eval ({mode})", unit="sample", dynamic_ncols=True)
    for sample in samples:
        question = validation_question(sample.texts[0], sample.is_sentence)
        targets = list(sample.target_masks)
        family = sample.family or ("absent" if not targets else "all")
        if mode == "generate":
            kwargs = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
            out = segmenter.segment(sample.image, question, **kwargs)
        else:
            out = segmenter.segment_teacher_forced(sample.image, question, answer=_teacher_answer(sample))
        preds = [m.mask for m in out.masks]
        ious: list[float] = []
        precisions: list[float | None] = []
        recalls: list[float] = []
        if targets:
            for index, target in enumerate(targets):
                pred = preds[index] if index < len(preds) else np.zeros(target.shape, dtype=bool)
                gt = gt_for_target(target, sample.ignore_mask)
                ious.append(acc.add(pred, gt, keys=family))
                precision, recall = precision_recall(pred, gt)
                precisions.append(precision)
                recalls.append(recall)
            extra_masks += max(0, len(preds) - len(targets))
            score = float(np.mean(ious))
        else:
            union = np.zeros(sample.image.shape[:2], dtype=bool)
            for pred in preds:
                union |= pred
            ious.append(absent_acc.add(union, gt_for_target(np.zeros_like(union), sample.ignore_mask), keys=family))
            score = 1.0 if not preds else 0.0
        results.append(
            SampleResult(sample.name, sample.family, question, out.answer, ious, len(targets), len(preds), score,
                         precisions=precisions, recalls=recalls)
        )
        if keep_images:
            results[-1].image = sample.image
            results[-1].target_masks = targets
            results[-1].pred_masks = preds
            _trim_images(results, keep_images)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(giou=f"{acc.stats().giou:.3f}", ciou=f"{acc.stats().ciou:.3f}")
    if bar is not None:
        bar.close()

    report = acc.report()
    families = {name: _stats_dict(stats) for name, stats in sorted(report.groups.items())}
    absent_counts: dict[str, list[int]] = {}
    for result in results:
        if not result.num_targets:
            name = result.family or "absent"
            counts = absent_counts.setdefault(name, [0, 0])
            counts[0] += 1
            counts[1] += int(result.num_predicted == 0)
    for name, stats in sorted(absent_acc.report().groups.items()):
        entry = {
            "giou": stats.giou,
            "ciou": None,  # no target pixels: cIoU is 0 by construction, not a measurement
            "count": stats.count,
            "absent_correct_rate": (absent_counts[name][1] / absent_counts[name][0]) if mode == "generate" else None,
        }
        if name in families:
            families[name]["no_target"] = entry
        else:
            families[name] = entry
    absent_total = sum(total for total, _ in absent_counts.values())
    absent_correct = sum(correct for _, correct in absent_counts.values())
    summary = {
        "giou": report.overall.giou,
        "ciou": report.overall.ciou,
        "count": report.overall.count,
        "samples": len(results),
        "samples_with_targets": sum(1 for r in results if r.num_targets),
        "samples_without_targets": sum(1 for r in results if not r.num_targets),
        "absent_correct_rate": (absent_correct / absent_total) if (mode == "generate" and absent_total) else None,
        "extra_masks": extra_masks,
        "families": families,
        "mode": mode,
    }
    return EvalResult(summary, results)


def _trim_images(results: list[SampleResult], keep: int) -> None:
    """Drop pixels of all but the ``keep`` worst results so far (memory stays bounded)."""
    with_images = [r for r in results if r.image is not None]
    if len(with_images) <= keep:
        return
    with_images.sort(key=lambda r: (r.score, r.name))
    for result in with_images[keep:]:
        result.image = None
        result.target_masks = []
        result.pred_masks = []


def evaluate_folder(
    segmenter,
    data: str | Path,
    mode: str = "generate",
    limit: int | None = None,
    families: Sequence[str] | None = None,
    max_new_tokens: int | None = None,
    keep_images: int = 0,
    progress: bool = False,
) -> EvalResult:
    """Evaluate on the samples of a ReasonSeg folder (sorted by name; first ``limit``).

    ``families`` keeps only samples of those families (before the limit).
    """
    from lisa_ros.data.reasonseg import read_sample, select_sample_names

    folder = Path(data)
    names = select_sample_names(folder, families, limit)
    samples = (read_sample(folder / name) for name in names)
    return evaluate_samples(segmenter, samples, mode, max_new_tokens, keep_images, progress, total=len(names))
