"""From SAM prompt embeddings and a frame's image embedding to masks in the source image.

This is the last stage of every answer, and the whole work of a frame that re-uses an earlier
answer's prompts: the mask decoder (torch or an exported runner), the official upscaling, and
per-mask boxes. Phrases are given by the caller (they come from the answer).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .postprocess import mask_box, upscale_mask_logits
from .preprocess import SamResize
from .results import MaskResult
from .timing import Stopwatch

__all__ = ["decode_prompts", "decode_seg_states", "LowResRecorder"]


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


class LowResRecorder:
    """Wraps a mask decoder ``(embedding, prompts) -> (low_res, iou)`` and keeps its last
    ``low_res`` (``[K, 1, 4g, 4g]``), so callers of :func:`decode_prompts` get it too."""

    def __init__(self, decoder: Callable):
        self.decoder = decoder
        self.low_res = None

    def __call__(self, image_embedding, prompts):
        low_res, iou = self.decoder(image_embedding, prompts)
        self.low_res = low_res
        return low_res, iou

    def low_res_numpy(self) -> np.ndarray | None:
        """``float32 [K, 4g, 4g]`` of the last call (None before any)."""
        if self.low_res is None:
            return None
        return self.low_res.detach().float()[:, 0].cpu().numpy()


def decode_seg_states(model, mask_decoder: Callable, features, seg_states, phrases: Sequence[str], device: str,
                      keep_logits: bool = False):
    """Masks of an answer's ``[SEG]`` states ``[K, hidden]`` on a frame's features.

    Returns:
        the masks and timings of :func:`decode_prompts`, and what continuous mode re-uses:
        the prompts ``float32 [K, C]`` (projected states) and the decoder's low-res logits
        ``float32 [K, 4g, 4g]`` as numpy (both None when K = 0).
    """
    import torch

    if seg_states.shape[0] == 0:
        return [], {"mask_decoder": 0.0, "postprocess": 0.0}, None, None
    with torch.inference_mode():
        prompts = model.project_seg_states(seg_states)
    recorder = LowResRecorder(mask_decoder)
    masks, timings = decode_prompts(recorder, features.sam_embedding.get(), prompts, features.sam_resize,
                                    phrases, device, keep_logits)
    return masks, timings, prompts.float().cpu().numpy(), recorder.low_res_numpy()
