"""Continuous mode, quality half of ``bench/tracking.py``: how long tracked masks hold.

Synthetic sequences (:mod:`lisa_ros.data.synth.sequence`) are answered by LISA on frame 0 and
tracked on every later frame three ways (plain re-prompt, box helper, mask helper), next to a
fresh LISA answer per frame and a simulated node loop that re-queries when
:func:`lisa_ros.core.tracking.requery_reason_for` fires. IoUs are lisa-eval's per-target IoUs
(target cast shadows ignored), averaged over targets in view. Run through ``bench/tracking.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter

import numpy as np

HELPERS = ("none", "box", "mask")
CHECKPOINTS = (1, 5, 10, 30)


def median(values):
    """Median rounded to 0.01, or None for no values."""
    return round(statistics.median(values), 2) if values else None


def question_for(sample) -> str:
    """The question lisa-eval asks for a synthetic sample (its first text)."""
    from lisa_ros.data.lisa_templates import validation_question

    return validation_question(sample.texts[0], sample.is_sentence)


# -- quality ---------------------------------------------------------------------------------------

def _target_ious(masks, frame) -> list[float | None]:
    """Per target of ``frame``: the official IoU of mask k (empty when missing), None when the
    target is out of view."""
    from lisa_ros.eval.evaluate import gt_for_target
    from lisa_ros.eval.metrics import mask_iou

    ious = []
    for index, target in enumerate(frame.target_masks):
        if not target.any():
            ious.append(None)
            continue
        pred = masks[index].mask if index < len(masks) else np.zeros(target.shape, bool)
        ious.append(mask_iou(pred, gt_for_target(target, frame.ignore_mask)))
    return ious


def _agreement(tracked, full) -> list[float | None]:
    """Per mask of ``tracked``: IoU with the fresh answer's mask k (None when it has none)."""
    from lisa_ros.eval.metrics import mask_iou

    return [mask_iou(m.mask, full.masks[k].mask) if k < len(full.masks) else None
            for k, m in enumerate(tracked.masks)]


def _usable(sequence) -> bool:
    """Targets well in view at frame 0 (centroid in the middle 70 % of the frame), so that a
    sequence measures tracking, not a target leaving the image."""
    scene = sequence.scene
    if not scene.targets:
        return False
    width, height = sequence.size
    for mask in sequence.frame(0).target_masks:
        rows, cols = np.nonzero(mask)
        if len(rows) < 30:
            return False
        if not (0.15 * width < cols.mean() < 0.85 * width and 0.15 * height < rows.mean() < 0.85 * height):
            return False
    return True


def track_sequence(segmenter, sequence, frames: int, rule, rate_hz: float) -> dict | None:
    """All chains of one sequence; None when frame 0's answer has no mask."""
    from lisa_ros.core.tracking import requery_reason_for

    question = question_for(sequence.scene)
    first = sequence.frame(0)
    answer = segmenter.segment(first.image, question, frame_key=f"{first.name}")
    if not answer.masks:
        return None
    record = {"name": sequence.scene.name, "family": sequence.scene.family, "answer": answer.answer,
              "masks": len(answer.masks), "targets": len(first.target_masks),
              "iou": {"full": {0: _target_ious(answer.masks, first)}, **{h: {} for h in HELPERS}, "node": {}},
              "agree": {h: {} for h in HELPERS}, "scores": [], "rule": {}, "node_llm_frames": [],
              "node_stopped_at": None}
    previous = {h: None for h in HELPERS}
    node_answer, node_previous, node_answer_frame, node_on = answer, None, 0, True
    for f in range(1, frames + 1):
        frame = sequence.frame(f)
        full = segmenter.segment(frame.image, question, frame_key=frame.name)
        record["iou"]["full"][f] = _target_ious(full.masks, frame)
        for helper in HELPERS:
            tracked = segmenter.reprompt(frame.image, answer, frame_key=frame.name, helper=helper,
                                         previous=previous[helper], seconds_since_answer=f / rate_hz)
            previous[helper] = tracked
            record["iou"][helper][f] = _target_ious(tracked.masks, frame)
            record["agree"][helper][f] = _agreement(tracked, full)
        plain = previous["none"]
        record["scores"].append({"frame": f, "scores": [m.score for m in plain.masks],
                                 "answer_scores": [m.score for m in answer.masks],
                                 "areas": [m.area for m in plain.masks], "answer_areas": [m.area for m in answer.masks],
                                 "iou": record["iou"]["none"][f]})
        record["rule"][f] = requery_reason_for(answer, plain, rule)
        # the node's loop: track from its last answer; the rule decides when LISA answers again
        if not node_on:
            record["iou"]["node"][f] = _target_ious([], frame)
            continue
        tracked = segmenter.reprompt(frame.image, node_answer, frame_key=frame.name, previous=node_previous,
                                     seconds_since_answer=(f - node_answer_frame) / rate_hz)
        reason = requery_reason_for(node_answer, tracked, rule)
        if reason is None:
            node_previous, published = tracked, tracked
        else:
            record["node_llm_frames"].append([f, reason])
            published = full
            if full.masks:
                node_answer, node_previous, node_answer_frame = full, None, f
            else:
                node_on, record["node_stopped_at"] = False, f
        record["iou"]["node"][f] = _target_ious(published.masks, frame)
    return record


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def _reason_kind(text: str) -> str:
    for kind in ("left", "score", "area"):
        if kind in text:
            return kind
    return "age"


def summarise(records: list[dict], frames: int, rule, rate_hz: float) -> dict:
    checkpoints = [c for c in CHECKPOINTS if c <= frames]
    chains = ["full", *HELPERS, "node"]
    miou = {chain: {c: _mean([v for r in records for v in r["iou"][chain][c]]) for c in [0, *checkpoints]
                    if all(c in r["iou"][chain] for r in records)} for chain in chains}
    agree = {h: {c: _mean([v for r in records for v in r["agree"][h][c]]) for c in checkpoints} for h in HELPERS}
    keeps = {h: {c: (round(miou[h][c] / miou["full"][c], 3) if miou["full"].get(c) else None) for c in checkpoints}
             for h in HELPERS}
    fired = [next((f for f in range(1, frames + 1) if r["rule"][f]), None) for r in records]
    reason_kinds = Counter(_reason_kind(r["rule"][f]) for r in records for f in range(1, frames + 1) if r["rule"][f])
    llm_frames = sum(len(r["node_llm_frames"]) for r in records)
    node_reasons = Counter(_reason_kind(text) for r in records for _, text in r["node_llm_frames"])
    # does a firing rule point at bad masks? mean plain IoU on frames where it fired vs not
    fired_ious = [v for r in records for f in range(1, frames + 1) if r["rule"][f] for v in r["iou"]["none"][f]]
    quiet_ious = [v for r in records for f in range(1, frames + 1) if not r["rule"][f] for v in r["iou"]["none"][f]]
    scores = [(s, iou) for r in records for row in r["scores"] for s, iou in zip(row["scores"], row["iou"])
              if iou is not None]
    correlation = None
    if len(scores) > 3:  # Spearman: Pearson of the ranks (ties are rare in float scores and IoUs)
        ranks = [np.argsort(np.argsort(np.asarray(column, float))) for column in zip(*scores)]
        correlation = round(float(np.corrcoef(ranks[0], ranks[1])[0, 1]), 3)
    # the same for sequences whose frame-0 answer hit every target (IoU >= 0.5): drift of good masks
    hits = [r for r in records if all(v is not None and v >= 0.5 for v in r["iou"]["full"][0])]
    miou_hits = {chain: {c: _mean([v for r in hits for v in r["iou"][chain][c]]) for c in checkpoints}
                 for chain in chains}
    return {
        "sequences": len(records),
        "targets_tracked": sum(r["masks"] for r in records),
        "miou": miou,
        "hit_sequences": len(hits),
        "miou_when_frame0_hit": miou_hits,
        "agreement_with_fresh_answer": agree,
        "tracked_over_full": keeps,
        "rule": {"max_age_s": rule.max_age_s, "min_score": rule.min_score, "max_area_factor": rule.max_area_factor,
                 "rate_hz": rate_hz},
        "plain_chain_rule_fired_frames": sum(reason_kinds.values()),
        "plain_chain_frames": len(records) * frames,
        "plain_chain_reasons": dict(reason_kinds),
        "plain_chain_first_fire_median_frame": median([f for f in fired if f is not None]),
        "plain_chain_never_fired": sum(f is None for f in fired),
        "plain_iou_when_fired": _mean(fired_ious),
        "plain_iou_when_quiet": _mean(quiet_ious),
        "score_iou_spearman": correlation,
        "node_llm_frames": llm_frames,
        "node_frames": len(records) * frames,
        "node_reasons": dict(node_reasons),
        "node_stopped": sum(r["node_stopped_at"] is not None for r in records),
    }


def measure_quality(segmenter, args) -> dict:
    from lisa_ros.core.tracking import RequeryRule
    from lisa_ros.data.synth import FAMILIES
    from lisa_ros.data.synth.sequence import render_sequence

    rule = RequeryRule(max_age_s=args.max_age, min_score=args.min_score, max_area_factor=args.area_factor)
    families = [f for f in FAMILIES if f != "absent"]
    records, skipped, declined = [], 0, 0
    index = args.first_index
    start = time.perf_counter()
    while len(records) < args.sequences and index < args.first_index + 20 * args.sequences:
        sequence = render_sequence(args.seed, index, args.quality_size, args.motion, families=families)
        index += 1
        if not _usable(sequence):
            skipped += 1
            continue
        record = track_sequence(segmenter, sequence, args.frames, rule, args.rate)
        if record is None:
            declined += 1
            continue
        records.append(record)
        if not args.quiet:
            print(f"\r{len(records)}/{args.sequences} sequences ({time.perf_counter() - start:.0f} s)",
                  end="", file=sys.stderr, flush=True)
    if not args.quiet:
        print(file=sys.stderr)
    summary = summarise(records, args.frames, rule, args.rate)
    summary.update(motion=args.motion, frames=args.frames, frame_size=list(args.quality_size),
                   skipped_target_near_edge=skipped, skipped_no_answer_mask=declined,
                   seconds=round(time.perf_counter() - start, 1))
    return {"summary": summary, "records": records}
