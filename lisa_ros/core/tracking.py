"""Continuous mode: keep an answer's objects segmented on new frames without the LLM.

Each ``[SEG]`` of a LISA answer becomes, once projected, one token in SAM's sparse prompt space
(``SegmentationOutput.prompts``, ``float32 [K, C]``). Those tokens do not depend on the frame
they were computed on: fed to SAM's mask decoder with a *later* frame's image embedding they
draw the same objects there. A tracked frame therefore costs SAM's image encoder and mask
decoder only; CLIP and the LLM do not run. :func:`reprompt_frame` does that (called through
:meth:`LisaSegmenter.reprompt`, which holds the segmenter's lock); re-prompting the very frame
of the answer gives the answer's masks and scores exactly.

The prompts never change while tracking, so nothing follows the object but SAM itself. Two
optional helpers feed the previous tracked mask back as an extra SAM prompt (``helper``):

- ``"box"``: the previous mask's box, as SAM's two box-corner tokens after the ``[SEG]`` token;
- ``"mask"``: the previous mask's low-resolution logits, as SAM's dense mask prompt.

LISA's decoder was trained with the ``[SEG]`` token alone, so neither is known to help. With
lisa-tiny (docs/benchmarks.md §8, "Continuous mode") the box helped only masks that were poor
already and only in the first frames, and the mask helper did not help; the default is
``"none"``, which is also the only one that runs on every backend. The exported decoders
(onnxruntime, TensorRT) take the ``[SEG]`` prompts only, so a helper runs SAM's decoder on
torch whatever backend is installed (the plain re-prompt uses the installed one).

When to ask the LLM again is :func:`requery_reason`: a pure rule on the answer's and the
tracked frame's mask areas and scores and the prompts' age.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .errors import InvalidInputError
from .results import SegmentationOutput, Status
from .timing import Stopwatch

if TYPE_CHECKING:
    from .segmenter import LisaSegmenter

__all__ = ["HELPERS", "MAX_TRACKED_MASKS", "WEAK_ANSWER_MARGIN", "RequeryRule", "requery_reason", "requery_reason_for",
           "reprompt_frame", "HelperDecoder"]

HELPERS = ("none", "box", "mask")
# A tracked answer holds as many prompts as its [SEG] tokens; more than this is not an answer
# the segmenter made (bounds the decoder batch a caller-built output can ask for).
MAX_TRACKED_MASKS = 64
# A mask whose answer already scored under min_score asks again only when its score falls this
# much below the answer's (else a weak answer would be re-queried on every frame).
WEAK_ANSWER_MARGIN = 0.1


# -- when to ask the LLM again ----------------------------------------------------------------

@dataclass(frozen=True)
class RequeryRule:
    """Thresholds of :func:`requery_reason` (the node's ``track_max_age``, ``track_min_score``
    and area factor).

    Attributes:
        max_age_s: prompts older than this many seconds are refreshed by the LLM.
        min_score: a tracked mask whose SAM IoU-head score falls under this asks again.
        max_area_factor: a tracked mask whose area grew or shrank by more than this factor
            against the answer's mask asks again (> 1).
    """

    max_age_s: float = 5.0
    min_score: float = 0.5
    max_area_factor: float = 2.0

    def __post_init__(self):
        if not self.max_age_s > 0:
            raise ValueError(f"max_age_s must be > 0, not {self.max_age_s}")
        if not 0 <= self.min_score <= 1:
            raise ValueError(f"min_score must be in [0, 1], not {self.min_score}")
        if not self.max_area_factor > 1:
            raise ValueError(f"max_area_factor must be > 1, not {self.max_area_factor}")


def requery_reason(
    answer_areas: Sequence[int],
    answer_scores: Sequence[float],
    areas: Sequence[int],
    scores: Sequence[float],
    age_s: float,
    rule: RequeryRule = RequeryRule(),
) -> str | None:
    """Why a tracked frame should be answered by the LLM again, or None to keep tracking.

    Args:
        answer_areas, answer_scores: per mask of the LLM answer, its area (pixels) and SAM
            score, in answer order.
        areas, scores: the same for the tracked frame (same masks, same order).
        age_s: seconds since the answer (``SegmentationOutput.seconds_since_answer``).
        rule: the thresholds.
    Returns:
        the first reason that applies, in this order: a mask left the image (empty now, not
        at answer time); a score under ``rule.min_score`` (for a mask whose answer score was
        already under it: under the answer's own score minus :data:`WEAK_ANSWER_MARGIN`, so a
        weak answer does not ask again on every frame); an area changed by more than ``rule.max_area_factor``
        either way; the age over ``rule.max_age_s``. E.g. ``"mask 0 score 0.41 <
        track_min_score 0.5"``.
    Raises:
        ValueError: the four sequences differ in length, or hold negative / non-finite values.
    """
    counts = {len(answer_areas), len(answer_scores), len(areas), len(scores)}
    if len(counts) != 1:
        raise ValueError("answer_areas, answer_scores, areas and scores must have one entry per mask")
    all_areas = np.asarray([*answer_areas, *areas], dtype=np.float64)
    all_scores = np.asarray([*answer_scores, *scores], dtype=np.float64)
    if not (np.all(np.isfinite(all_areas)) and np.all(all_areas >= 0) and np.all(np.isfinite(all_scores))):
        raise ValueError("areas must be finite and >= 0, scores finite")
    if not (np.isfinite(age_s) and age_s >= 0):
        raise ValueError(f"age_s must be finite and >= 0, not {age_s}")
    for index, (before, now) in enumerate(zip(answer_areas, areas)):
        if before > 0 and now == 0:
            return f"mask {index} left the image"
    for index, (before, now) in enumerate(zip(answer_scores, scores)):
        if before >= rule.min_score and now < rule.min_score:
            return f"mask {index} score {now:.2f} < track_min_score {rule.min_score:.2f}"
        if before < rule.min_score and now < before - WEAK_ANSWER_MARGIN:
            return (f"mask {index} score {now:.2f} < {before - WEAK_ANSWER_MARGIN:.2f} (its answer's "
                    f"score {before:.2f} minus {WEAK_ANSWER_MARGIN:g})")
    for index, (before, now) in enumerate(zip(answer_areas, areas)):
        if before > 0 and now > 0:
            factor = max(now / before, before / now)
            if factor > rule.max_area_factor:
                return f"mask {index} area changed x{factor:.1f} > {rule.max_area_factor:g}"
    if age_s > rule.max_age_s:
        return f"age {age_s:.1f} s > track_max_age {rule.max_age_s:g} s"
    return None


def requery_reason_for(answer: SegmentationOutput, tracked: SegmentationOutput,
                       rule: RequeryRule = RequeryRule()) -> str | None:
    """:func:`requery_reason` of a tracked output against the answer it descends from."""
    return requery_reason(
        [m.area for m in answer.masks], [m.score for m in answer.masks],
        [m.area for m in tracked.masks], [m.score for m in tracked.masks],
        tracked.seconds_since_answer, rule,
    )


# -- decoding with the previous mask as a helper prompt ----------------------------------------

class HelperDecoder:
    """SAM's prompt encoder and mask decoder (torch) with the ``[SEG]`` prompt plus a helper.

    Args:
        model: the :class:`~lisa_ros.core.modeling.LisaModel`.
        boxes: ``float32 [K, 4]`` ``(x0, y0, x1, y1)`` in SAM input pixels, inclusive corners,
            one per prompt; a row of NaN gives that prompt SAM's two "not a point" padding
            tokens instead (its previous mask was empty). None: no box tokens.
        mask_logits: ``float32 [K, 4g, 4g]`` low-resolution logits (SAM's mask prompt). None:
            SAM's "no mask" dense embedding.
    Called as the segmenter's mask decoder: ``(image_embedding [1, C, g, g], prompts [K, C])
    -> (low_res [K, 1, 4g, 4g], iou [K, 1])``.
    """

    def __init__(self, model, boxes: np.ndarray | None = None, mask_logits: np.ndarray | None = None):
        self.model = model
        self.boxes = boxes
        self.mask_logits = mask_logits

    def __call__(self, image_embedding, prompts):
        import torch

        sam = self.model.sam
        encoder = sam.prompt_encoder
        dtype = sam.mask_decoder.iou_token.weight.dtype
        device = encoder.no_mask_embed.weight.device
        count = prompts.shape[0]
        sparse = prompts.to(device, dtype).unsqueeze(1)
        if self.boxes is not None:
            boxes = torch.from_numpy(np.nan_to_num(self.boxes, nan=0.0)).to(device, torch.float32)
            corners = encoder._embed_boxes(boxes).to(dtype)
            empty = torch.from_numpy(np.isnan(self.boxes).any(axis=1)).to(device)
            padding = encoder.not_a_point_embed.weight.to(dtype).expand(count, 2, -1)
            corners = torch.where(empty[:, None, None], padding, corners)
            sparse = torch.cat([sparse, corners], dim=1)
        grid = self.model.sam_shape.embedding_size
        if self.mask_logits is not None:
            logits = torch.from_numpy(self.mask_logits).to(device, dtype).unsqueeze(1)
            dense = encoder._embed_masks(logits)
        else:
            dense = encoder.no_mask_embed.weight.to(dtype).reshape(1, -1, 1, 1).expand(count, -1, grid, grid)
        return sam.mask_decoder(
            image_embeddings=image_embedding.to(dtype),
            image_pe=self.model.dense_positional_encoding().to(dtype),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense.to(dtype),
            multimask_output=False,
        )


def _helper_boxes(previous: SegmentationOutput, sam_resize) -> np.ndarray:
    """``float32 [K, 4]`` previous masks' boxes in SAM input pixels (NaN rows: empty masks)."""
    height, width = previous.image_size
    scale_x = sam_resize.resized_size[1] / width
    scale_y = sam_resize.resized_size[0] / height
    boxes = np.full((len(previous.masks), 4), np.nan, np.float32)
    for index, result in enumerate(previous.masks):
        x0, y0, x1, y1 = result.box
        if x1 > x0 and y1 > y0:
            # max-exclusive source box -> inclusive corners, as SAM's box prompts are
            boxes[index] = (x0 * scale_x, y0 * scale_y, (x1 - 1) * scale_x, (y1 - 1) * scale_y)
    return boxes


# -- one tracked frame ---------------------------------------------------------------------------

def _check_answer(answer, previous, helper: str, channels: int, image_size) -> np.ndarray:
    """The answer's prompts as ``float32 [K, C]``, or InvalidInputError saying what is wrong."""
    if helper not in HELPERS:
        raise InvalidInputError(f"helper must be one of {HELPERS}, not {helper!r}")
    if not isinstance(answer, SegmentationOutput):
        raise InvalidInputError("answer must be the SegmentationOutput of an earlier call")
    prompts = answer.prompts
    if answer.status != Status.OK or prompts is None or not answer.masks:
        raise InvalidInputError("answer has no masks to track (its status is not OK)")
    if not isinstance(prompts, np.ndarray) or prompts.ndim != 2 or prompts.shape[1] != channels:
        raise InvalidInputError(f"answer.prompts must be float32 [K, {channels}] for this model")
    if prompts.shape[0] != len(answer.masks) or prompts.shape[0] > MAX_TRACKED_MASKS:
        raise InvalidInputError(f"answer.prompts must hold one row per mask (at most {MAX_TRACKED_MASKS})")
    prompts = prompts.astype(np.float32, copy=False)
    if not np.all(np.isfinite(prompts)):
        raise InvalidInputError("answer.prompts holds NaN or infinite values")
    if previous is not None and (not isinstance(previous, SegmentationOutput)
                                 or len(previous.masks) != prompts.shape[0]):
        raise InvalidInputError("previous must be an output of the same answer (one mask per prompt)")
    source = previous if previous is not None else answer
    if helper == "mask":
        logits = source.low_res_logits
        if logits is None or logits.shape[0] != prompts.shape[0] or tuple(source.image_size) != tuple(image_size):
            raise InvalidInputError("the mask helper needs a previous output of this image size with low_res_logits")
    return prompts


def reprompt_frame(
    segmenter: LisaSegmenter,
    image: np.ndarray,
    answer: SegmentationOutput,
    *,
    frame_key: str | None = None,
    helper: str = "none",
    previous: SegmentationOutput | None = None,
    seconds_since_answer: float | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> SegmentationOutput:
    """Masks for ``answer``'s objects on ``image``: SAM's encoder and decoder, no CLIP, no LLM.

    Called through :meth:`LisaSegmenter.reprompt`, which validates ``image`` and holds the
    segmenter's lock. The frame's SAM embedding goes through the frame cache (an instruction
    on the same frame later reuses it and adds CLIP then).

    Args:
        segmenter: the loaded segmenter (its installed mask decoder and image encoder run).
        image: ``HxWx3 uint8`` RGB, the new frame.
        answer: an OK output of :meth:`LisaSegmenter.segment` (its ``prompts``; a tracked
            output of it works too).
        frame_key: identity of the frame for the feature cache (default: a pixel hash).
        helper: ``"none"`` | ``"box"`` | ``"mask"``: also prompt SAM with ``previous``'s boxes
            or low-res logits (SAM's decoder then runs on torch, see the module docstring).
        previous: the last tracked output of this answer (default: ``answer``): the helpers'
            source, and ``frames_since_answer`` counts on from it.
        seconds_since_answer: the prompts' age in seconds (e.g. this frame's stamp minus the
            answer frame's); default: ``time.monotonic()`` since the answer was made.
        on_stage: called with ``"encoding_image"`` and ``"decoding_masks"``; may raise to
            cancel between them.
    Returns:
        an OK :class:`SegmentationOutput` at ``image``'s resolution: one mask per prompt, in
        answer order, with its score and box; answer text and phrases of ``answer``;
        ``tracked`` True, ``frames_since_answer`` (1 on the first tracked frame),
        ``seconds_since_answer``, ``prompts``, ``low_res_logits``; timings ``preprocess``,
        ``clip`` (0), ``sam_encoder``, ``mask_decoder``, ``postprocess``, ``total`` (ms).
    Raises:
        InvalidInputError: the answer has no prompts (not OK, or prompts of another model),
            ``previous`` is of another answer, the helper is unknown or lacks its input, or
            the age is negative or not finite. Nothing is computed then.
    """
    import torch

    from .masks import LowResRecorder, decode_prompts

    model = segmenter.model
    prompts = _check_answer(answer, previous, helper, model.sam_shape.prompt_embed_dim, image.shape[:2])
    answered_at = answer.answered_at
    if seconds_since_answer is None:
        seconds_since_answer = time.monotonic() - answered_at if answered_at is not None else 0.0
    if not np.isfinite(seconds_since_answer) or seconds_since_answer < 0:
        raise InvalidInputError(f"seconds_since_answer must be finite and >= 0, not {seconds_since_answer}")
    total = Stopwatch(segmenter.device)
    notify = on_stage or (lambda stage: None)
    notify("encoding_image")
    features, hit, timings = segmenter.encode_image(image, frame_key, with_clip=False)
    notify("decoding_masks")
    source = previous if previous is not None else answer
    decoder = segmenter.mask_decoder
    if helper == "box":
        decoder = HelperDecoder(model, boxes=_helper_boxes(source, features.sam_resize))
    elif helper == "mask":
        decoder = HelperDecoder(model, mask_logits=source.low_res_logits)
    recorder = LowResRecorder(decoder)
    embedding = features.sam_embedding.get()
    masks, mask_timings = decode_prompts(
        recorder, embedding, torch.from_numpy(prompts).to(segmenter.device), features.sam_resize,
        [m.phrase for m in answer.masks], segmenter.device,
    )
    timings.update(mask_timings)
    if not hit and "sam_encoder" not in timings:
        timings["sam_encoder"] = features.sam_embedding.elapsed_ms(wait=True)
    timings["total"] = total.lap()
    return SegmentationOutput(
        status=Status.OK,
        answer=answer.answer,
        masks=masks,
        image_size=image.shape[:2],
        timings=timings,
        frame_cache_hit=hit,
        answer_ids=list(answer.answer_ids),
        finished=answer.finished,
        prompts=prompts,
        low_res_logits=recorder.low_res_numpy(),
        tracked=True,
        frames_since_answer=(previous.frames_since_answer if previous is not None else 0) + 1,
        seconds_since_answer=float(seconds_since_answer),
        answered_at=answered_at,
    )
