"""From SAM prompt embeddings and a frame's image embedding to masks in the source image.

This is the last stage of every answer, and the whole work of a frame that re-uses an earlier
answer's prompts: the mask decoder (torch or an exported runner), the official upscaling, and
per-mask boxes. Phrases are given by the caller (they come from the answer).
"""

from __future__ import annotations

from typing import Callable, Sequence

from .postprocess import mask_box, upscale_mask_logits
from .preprocess import SamResize
from .results import MaskResult
from .timing import Stopwatch

__all__ = ["decode_prompts"]


def decode_prompts(
    mask_decoder: Callable,
    sam_embedding,
    prompts,
    sam_resize: SamResize,
    phrases: Sequence[str],
    device: str,
    keep_logits: bool = False,
) -> tuple[list[MaskResult], dict[str, float]]:
    """Masks for ``K`` prompt embeddings on one frame.

    Args:
        mask_decoder: ``(image_embedding [1, C, g, g], prompts [K, C]) -> (low_res logits
            [K, 1, 4g, 4g], iou [K, 1])`` (the model's ``decode_masks`` or a backend runner).
        sam_embedding: the frame's ``[1, C, g, g]`` SAM embedding (a tensor on ``device``).
        prompts: ``[K, C]`` projected ``[SEG]`` states (K >= 1), SAM's sparse prompt space.
        sam_resize: where the frame sits in SAM's input (maps masks back to the source).
        phrases: the answer text before each ``[SEG]``; missing entries become "".
        keep_logits: also keep ``float32 [H, W]`` logits per mask.
    Returns:
        one :class:`MaskResult` per prompt (``bool [H, W]`` masks at the source resolution,
        IoU-head scores, max-exclusive pixel boxes) and timings in ms (``mask_decoder``,
        ``postprocess``).
    """
    import torch

    watch = Stopwatch(device)
    with torch.inference_mode():
        low_res, iou = mask_decoder(sam_embedding, prompts)
        decoder_ms = watch.lap()
        logits = upscale_mask_logits(low_res, sam_resize).cpu().numpy()
    scores = iou.float().reshape(-1).cpu().numpy()
    results = []
    for index in range(logits.shape[0]):
        mask = logits[index] > 0
        results.append(
            MaskResult(
                mask=mask,
                score=float(scores[index]),
                box=mask_box(mask),
                phrase=phrases[index] if index < len(phrases) else "",
                logits=logits[index] if keep_logits else None,
            )
        )
    return results, {"mask_decoder": decoder_ms, "postprocess": watch.lap()}
