"""Each speed lever of the segmenter alone, against the configuration before them, in one process.

Used by ``bench/model_stages.py --levers`` (same model, frames and forced answers as its stage
table). Every configuration is its own :class:`LisaSegmenter` on the one loaded model; SAM's and
the LLM's attention are model-wide, so a configuration's choices are put back in place before
each of its runs. Rows:

* ``before``: the settings before issue 26 (SAM encoder queued beside CLIP on CUDA, SAM attention
  chunked on CUDA / segment-anything's on the CPU, PIL preprocessing, one token per decode step,
  SDPA in the LLM as transformers' default gave it);
* one row per lever, ``before`` with that one option changed;
* ``all``: the segmenter's defaults now (all levers that are on by default on this device),
  plus on CUDA ``all`` with each other encoder schedule.

Per row: medians of the new-frame and cached-frame times (wall, and this process's CPU time) and
of each stage, LLM passes, peak GPU
memory (CUDA: over the row's warm-up runs). ``before`` and the draft rows also give the 63-token
explanatory answer (cached frame), and the draft rows the cost when every guess is wrong at its
first token (``rejected_first``), and every row its outputs against ``before``'s on the same
frames (``vs_before_outputs``: mask logits and IoU of the forced answer, free greedy tokens).
"""

from __future__ import annotations

import time

import numpy as np
from model_stages import INSTRUCTION, LONG_ANSWER, SHORT_ANSWER, _frame, _median, _sync, _timed, answer_of_length
from stage_report import STAGES


class WrongFirstDrafter:
    """Guesses ``max_draft`` copies of a token no forced answer here contains (``<unk>``): every
    verify pass is full width and keeps one token (the worst case of draft decoding)."""

    def __init__(self, max_draft: int, token: int = 0):
        self.max_draft, self.token = max_draft, token

    def start(self, prompt_ids):
        pass

    def propose(self, answer, limit):
        return [self.token] * min(limit, self.max_draft)


def lever_rows(on_cuda: bool) -> list[tuple[str, dict]]:
    """(name, SpeedOptions fields) of every row, ``before`` first."""
    before = {
        "encoder_schedule": "concurrent" if on_cuda else "inline",
        "sam_attention": "chunked" if on_cuda else "official",
        "device_preprocess": False,
        "draft_tokens": 0,
        "llm_attention": "sdpa",
    }
    rows = [("before", before)]
    if on_cuda:
        rows += [(f"schedule={s}", {**before, "encoder_schedule": s}) for s in ("after_clip", "interleaved", "inline")]
    rows += [(f"sam_attention={m}", {**before, "sam_attention": m}) for m in ("sdpa", "sdpa_folded")]
    if not on_cuda:
        rows.append(("sam_attention=chunked", {**before, "sam_attention": "chunked"}))
    rows.append(("device_preprocess", {**before, "device_preprocess": True}))
    rows.append(("draft_tokens=8", {**before, "draft_tokens": 8}))
    rows.append(("llm_attention=eager", {**before, "llm_attention": "eager"}))
    rows.append(("all", {}))
    if on_cuda:
        rows += [(f"all+schedule={s}", {"encoder_schedule": s}) for s in ("after_clip", "interleaved")]
    return rows

def _activate(segmenter):
    """Put this segmenter's model-wide choices (SAM and LLM attention) back in place."""
    segmenter.speed.install(segmenter.model, segmenter.tokenizer)
    return segmenter


def _timed_cpu(segmenter, image, into: dict, key: str, **kwargs):
    """:func:`_timed`, with its wall time and this process's CPU time (all threads) recorded:
    on a shared CPU machine the CPU time is the steadier measure (other processes' load slows
    the wall clock, not the work done)."""
    cpu = time.process_time()
    out, ms = _timed(segmenter, image, **kwargs)
    into.setdefault(key + "_cpu", []).append((time.process_time() - cpu) * 1000.0)
    into.setdefault(key, []).append(ms)
    return out


def _short_answer_round(segmenter, image, into: dict) -> None:
    """One new frame and one cached frame with the short answer; stage times into ``into``."""
    miss = _timed_cpu(segmenter, image, into, "new_frame_ms", forced_answer=SHORT_ANSWER)
    _timed_cpu(segmenter, image, into, "cached_frame_ms", forced_answer=SHORT_ANSWER)
    into.setdefault("llm_passes", []).append(miss.timings.get("llm_passes", 0.0))
    for name in STAGES:
        into.setdefault(name, []).append(miss.timings.get(name, 0.0))


def _cached_answer(segmenter, answer: str, into: dict, key: str) -> None:
    """A forced answer on a frame whose features are cached (generation + masks): time, passes."""
    image = _frame(800)
    features, _, _ = segmenter.encode_image(image)
    features.sam_embedding.get()
    _sync(segmenter.device)
    out = _timed_cpu(segmenter, image, into, key, forced_answer=answer)
    into.setdefault(key + "_passes", []).append(out.timings.get("llm_passes", 0.0))
    into[key + "_tokens"] = int(out.timings["new_tokens"])


def _rejecting(segmenter):
    """The same segmenter with every guess wrong at its first token (a shallow copy)."""
    import copy

    clone = copy.copy(segmenter)
    clone.drafter = WrongFirstDrafter(segmenter.drafter.max_draft)
    return clone


def measure_levers(loaded, device: str, repeats: int, warmup: int, long_tokens: int, compile_sam: bool = False) -> dict:
    """Every row of :func:`lever_rows` on ``loaded`` (see the module docstring); with
    ``compile_sam`` also ``all+compile``: SAM's encoder through ``torch.compile`` (GPU option).

    The rows are measured in rounds, each round one run of every row (a row's attention choices
    put back first), so that a change in machine load affects every row alike.
    """
    import torch

    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.core.speed_options import SpeedOptions

    on_cuda = str(device).startswith("cuda")
    rows = lever_rows(on_cuda) + ([("all+compile", {})] if compile_sam else [])
    segmenters, samples, peaks = {}, {}, {}
    for name, fields in rows:
        segmenter = LisaSegmenter(loaded, device=device, max_new_tokens=128, speed=SpeedOptions(**fields))
        if name == "all+compile":
            # Still "torch" for the segmenter (the side stream applies); compiled on first use.
            segmenter.image_encoder = torch.compile(segmenter.model.encode_sam)
        segmenters[name], samples[name] = segmenter, {}
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()
        _activate(segmenter)
        for warm in range(warmup):  # also CUDA graph capture, under this row's attention choices
            segmenter.segment(_frame(100 + warm), INSTRUCTION, forced_answer=SHORT_ANSWER)
        if on_cuda:
            peaks[name] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    long_answer = answer_of_length(segmenters["before"], LONG_ANSWER, long_tokens)
    for repeat in range(repeats):
        for name, segmenter in segmenters.items():
            _short_answer_round(_activate(segmenter), _frame(700 + repeat), samples[name])
    for repeat in range(max(1, repeats // 2)):  # long answers: fewer rounds
        for name, segmenter in segmenters.items():
            drafts = bool(segmenter.speed.draft_tokens)
            if name == "before" or drafts:
                _cached_answer(_activate(segmenter), long_answer, samples[name], "explanatory")
            if drafts:
                _cached_answer(_rejecting(segmenter), SHORT_ANSWER, samples[name], "rejected_short")
                _cached_answer(_rejecting(segmenter), long_answer, samples[name], "rejected_explanatory")
    agreement = _agreement(segmenters)
    results = {name: _summary(samples[name], segmenters[name], peaks.get(name), samples["before"]) for name in segmenters}
    for name, row in results.items():
        row["vs_before_outputs"] = agreement[name]
    return results


def _agreement(segmenters: dict, frames: int = 2, free_tokens: int = 32) -> dict:
    """Each row's outputs against ``before``'s on the same frames: masks of the forced short
    answer (largest logit difference, smallest IoU) and free greedy answers (same tokens?).
    Exact in fp32; in bf16 the levers that change the arithmetic's order (fused attention,
    drafts verified several per pass) can move near-ties of random weights."""
    outputs = {}
    for name, segmenter in segmenters.items():
        _activate(segmenter)
        outputs[name] = [
            (segmenter.segment(_frame(900 + index), INSTRUCTION, forced_answer=SHORT_ANSWER, keep_logits=True),
             segmenter.segment(_frame(900 + index), INSTRUCTION, max_new_tokens=free_tokens))
            for index in range(frames)
        ]
    report = {}
    for name, pairs in outputs.items():
        diffs, ious, same = [], [], 0
        for (forced, free), (base_forced, base_free) in zip(pairs, outputs["before"]):
            same += free.answer_ids == base_free.answer_ids
            for a, b in zip(forced.masks, base_forced.masks):
                diffs.append(float(np.abs(a.logits - b.logits).max()))
                union = np.logical_or(a.mask, b.mask).sum()
                ious.append(float(np.logical_and(a.mask, b.mask).sum() / union) if union else 1.0)
        report[name] = {"mask_logit_max_abs_diff": round(max(diffs), 6) if diffs else None,
                        "mask_iou_min": round(min(ious), 5) if ious else None,
                        "free_greedy_same_tokens": f"{same}/{frames}"}
    return report


def _summary(sample: dict, segmenter, peak_mb, before: dict) -> dict:
    row = {
        "options": {key: value for key, value in vars(segmenter.speed).items() if key != "draft_answers"},
        "new_frame_ms": _median(sample["new_frame_ms"]),
        "cached_frame_ms": _median(sample["cached_frame_ms"]),
        "new_frame_cpu_ms": _median(sample["new_frame_ms_cpu"]),
        "cached_frame_cpu_ms": _median(sample["cached_frame_ms_cpu"]),
        "stages_ms": {name: _median(sample[name]) for name in STAGES},
        "llm_passes": _median(sample["llm_passes"]),
        "peak_gpu_mb": peak_mb,
    }
    row["new_frame_vs_before"] = round(row["new_frame_ms"] / _median(before["new_frame_ms"]), 3)
    row["cached_frame_vs_before"] = round(row["cached_frame_ms"] / _median(before["cached_frame_ms"]), 3)
    row["new_frame_cpu_vs_before"] = round(row["new_frame_cpu_ms"] / _median(before["new_frame_ms_cpu"]), 3)
    row["cached_frame_cpu_vs_before"] = round(row["cached_frame_cpu_ms"] / _median(before["cached_frame_ms_cpu"]), 3)
    if "explanatory" in sample:
        row["explanatory"] = {"ms": _median(sample["explanatory"]), "cpu_ms": _median(sample["explanatory_cpu"]),
                              "llm_passes": _median(sample["explanatory_passes"]),
                              "new_tokens": sample["explanatory_tokens"]}
    if "rejected_short" in sample:
        row["rejected_first"] = {
            kind: {"ms": _median(sample[f"rejected_{kind}"]), "cpu_ms": _median(sample[f"rejected_{kind}_cpu"]),
                   "llm_passes": _median(sample[f"rejected_{kind}_passes"])}
            for kind in ("short", "explanatory")
        }
    return row
