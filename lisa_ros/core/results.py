"""What a segmentation call returns (plain numpy/Python: no torch objects escape the core)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .tokenizer import ESCAPED_SEG_TEXT, SEG_TOKEN

if TYPE_CHECKING:  # the 3D types stay out of light imports
    from .depth import Intrinsics
    from .objects3d import Object3D, Object3DSettings

__all__ = ["Status", "MaskResult", "SegmentationOutput"]


class Status(IntEnum):
    """Outcome of a call. Values equal the constants of ``lisa_ros/msg/SegmentationResult``."""

    OK = 0
    NO_TARGET = 1  # the answer holds no [SEG]: the model says the target is not there


@dataclass
class MaskResult:
    """One mask, for one ``[SEG]`` of the answer.

    Attributes:
        mask: ``bool [H, W]`` at the source image's resolution (True = object).
        score: SAM's predicted IoU for this mask (its IoU head; higher is better, about 0..1).
        box: ``(x_min, y_min, x_max, y_max)`` in source pixels, max exclusive; all zero when
            the mask is empty.
        phrase: the answer text before this ``[SEG]`` token (since the previous one), as
            the answer writes it (characters "[SEG]" that were text read ``\\[SEG\\]``).
        logits: ``float32 [H, W]`` mask logits (threshold 0), kept only when asked for.
        object3d: the mask's 3D result (:class:`~lisa_ros.core.objects3d.Object3D`: status,
            centroid and size in metres, points), set by :meth:`SegmentationOutput.with_3d`;
            None when 3D was not asked for.
    """

    mask: np.ndarray
    score: float
    box: tuple[int, int, int, int]
    phrase: str
    logits: np.ndarray | None = None
    object3d: Object3D | None = None

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class SegmentationOutput:
    """Result of :meth:`LisaSegmenter.segment`.

    Attributes:
        status: OK when at least one mask, NO_TARGET when the answer has no ``[SEG]``.
        answer: answer text with ``[SEG]`` markers where masks attach ("Sure, [SEG]."): one
            marker per mask. Characters "[SEG]" the model wrote as ordinary text (not the
            token) read ``\\[SEG\\]`` (:data:`~lisa_ros.core.tokenizer.ESCAPED_SEG_TEXT`).
        masks: one per ``[SEG]``, in answer order.
        image_size: (H, W) of the source image.
        timings: milliseconds per stage (``clip``, ``sam_encoder``, ``prefill``, ``decode``,
            ``mask_decoder``, ``postprocess``, ``total``) and ``new_tokens``.
        frame_cache_hit: True when the image encoders were skipped (features reused).
        answer_ids: generated token ids (EOS excluded).
        finished: False when a token limit cut the answer short.
        prompts: ``float32 [K, C]`` SAM prompt embeddings, one per mask (the projected
            ``[SEG]`` states, SAM's sparse prompt space): what re-prompting a later frame
            needs (:meth:`LisaSegmenter.reprompt`); None when there is no mask.
        low_res_logits: ``float32 [K, 4g, 4g]`` SAM decoder logits before upscaling, in SAM's
            padded square input frame (the source's top-left corner at (0, 0), scaled by
            ``4g / input_size``); the mask prompt of the ``"mask"`` tracking helper. None when
            there is no mask.
        tracked: True when the masks came from re-prompting an earlier answer's prompts on
            this frame (no LLM ran); False for an LLM answer.
        frames_since_answer: frames re-prompted since the LLM answer, this one included (1 on
            the first tracked frame); 0 for an LLM answer.
        seconds_since_answer: age of the prompts in seconds: the caller's frame-stamp
            difference, or by default the monotonic clock since the answer was made; 0.0 for
            an LLM answer.
        answered_at: ``time.monotonic()`` seconds when the LLM answer (of this output, or of
            the one a tracked output descends from) was made.
    """

    status: Status
    answer: str
    masks: list[MaskResult]
    image_size: tuple[int, int]
    timings: dict[str, float] = field(default_factory=dict)
    frame_cache_hit: bool = False
    answer_ids: list[int] = field(default_factory=list)
    finished: bool = True
    prompts: np.ndarray | None = None
    low_res_logits: np.ndarray | None = None
    tracked: bool = False
    frames_since_answer: int = 0
    seconds_since_answer: float = 0.0
    answered_at: float | None = None

    def without_small_components(self, min_area: int) -> SegmentationOutput:
        """A copy whose masks lost their parts smaller than ``min_area`` pixels (the largest
        part of each mask stays), with boxes recomputed; scores, logits and text unchanged.
        See :func:`~lisa_ros.core.postprocess.drop_small_components`."""
        from .postprocess import drop_small_components, mask_box

        if min_area <= 1:
            return self
        masks = []
        for result in self.masks:
            kept = drop_small_components(result.mask, min_area)
            masks.append(replace(result, mask=kept, box=mask_box(kept)))
        return replace(self, masks=masks)

    def with_3d(self, depth, encoding: str, intrinsics: Intrinsics | Sequence[float] | None,
                settings: Object3DSettings | None = None, missing_reason: str = "no depth image",
                max_pixels: int | None = None) -> SegmentationOutput:
        """A copy whose masks carry ``object3d`` (centroid, size, points in the camera optical
        frame, metres) from a depth image aligned with the source image. The 2D results are
        unchanged; bad depth or intrinsics are reported per mask, never raised.
        See :func:`~lisa_ros.core.objects3d.with_3d` for the arguments."""
        from .objects3d import with_3d
        from .validation import DEFAULT_MAX_IMAGE_PIXELS

        return with_3d(self, depth, encoding, intrinsics, settings, missing_reason,
                       DEFAULT_MAX_IMAGE_PIXELS if max_pixels is None else max_pixels)

    @property
    def answer_text(self) -> str:
        """The answer without ``[SEG]`` markers, whitespace tidied (for speech or display);
        characters "[SEG]" the model wrote as text read as written."""
        text = self.answer.replace(SEG_TOKEN, " ").replace(ESCAPED_SEG_TEXT, SEG_TOKEN)
        text = " ".join(text.split())
        for mark in (".", ",", "!", "?", ";", ":"):
            text = text.replace(f" {mark}", mark)
        # "Sure, [SEG]." reads "Sure,." once the marker is gone: keep the last mark only.
        text = re.sub(r"[,;:]+([.!?])", r"\1", text)
        return text.strip()
