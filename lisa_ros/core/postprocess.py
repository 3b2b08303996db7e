"""From SAM's low-resolution logits to masks and boxes in the source image frame; phrases from the answer's ids."""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .preprocess import SamResize

__all__ = ["upscale_mask_logits", "mask_box", "drop_small_components", "seg_phrases"]


def upscale_mask_logits(low_res: torch.Tensor, resize: SamResize) -> torch.Tensor:
    """Mask logits at the source resolution, as SAM's ``postprocess_masks`` (LISA variant).

    Args:
        low_res: ``[K, 1, 4g, 4g]`` decoder logits.
        resize: where the source sits in SAM's input.
    Returns:
        ``float32 [K, H, W]`` logits; threshold at 0 for masks.

    Bilinear (align_corners=False) up to the padded input size, crop to the resized image,
    bilinear to the source size; all in float32 (LISA casts before interpolating).
    """
    masks = F.interpolate(
        low_res.float(), (resize.input_size, resize.input_size), mode="bilinear", align_corners=False
    )
    height, width = resize.resized_size
    masks = masks[..., :height, :width]
    masks = F.interpolate(masks, resize.original_size, mode="bilinear", align_corners=False)
    return masks[:, 0]


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight box ``(x_min, y_min, x_max, y_max)`` (max exclusive) of a ``bool [H, W]`` mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def drop_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` without its connected parts smaller than ``min_area`` pixels (a new ``bool [H, W]``).

    Parts are 8-connected. The largest part is always kept, however small: this removes stray
    patches that would stretch a grasp planner's box, it does not decide whether the target is
    there (the answer does). ``min_area <= 1`` returns the mask unchanged (a copy). Not part of
    the official computation: off unless asked for.
    """
    import cv2

    mask = np.asarray(mask, dtype=bool)
    if min_area <= 1 or not mask.any():
        return mask.copy()
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]  # label 0 is the background
    keep = areas >= min_area
    keep[int(np.argmax(areas))] = True
    return np.concatenate(([False], keep))[labels]


_LEADING_JOINER = re.compile(r"^(and|or|then|also)\s+", re.IGNORECASE)


def seg_phrases(answer_ids: Sequence[int], tokenizer) -> list[str]:
    """The answer text before each ``[SEG]`` token (since the previous one), without joining words.

    Args:
        answer_ids: generated token ids (EOS may be included).
        tokenizer: the :class:`~lisa_ros.core.tokenizer.LisaTokenizer` (its ``seg_token_id``
            and ``decode_answer``).
    Returns:
        one phrase per ``[SEG]`` token, in order: "The mug [SEG] and the cup [SEG]." gives
        ["The mug", "the cup"]; "Sure, [SEG]." gives ["Sure"].

    Split at the token ids, never at the decoded text: the characters "[SEG]" written as
    ordinary text stay inside their phrase (escaped, as in the answer) and open no new one.
    """
    phrases, segment = [], []
    for index in answer_ids:
        if int(index) == tokenizer.seg_token_id:
            text = tokenizer.decode_answer(segment)
            phrases.append(_LEADING_JOINER.sub("", text.strip(" ,;:.")).strip())
            segment = []
        else:
            segment.append(int(index))
    return phrases
