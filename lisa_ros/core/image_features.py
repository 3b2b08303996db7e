"""Image features of one frame: CLIP tokens for the LLM and SAM's image embedding for masks.

Two encoders see every new frame. CLIP (224 px, the LLM's view of the image) is on the answer's
critical path; SAM's ViT (1024 px) is needed only when masks are decoded, so on CUDA it runs on
a side stream while the answer is generated (:mod:`lisa_ros.core.streams`). Callers that only
need masks for known prompts (re-prompting an earlier answer on a new frame) skip CLIP.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .frame_cache import FrameFeatures
from .preprocess import ClipPreprocessConfig, normalize_and_pad_for_sam, preprocess_clip, resize_for_sam
from .streams import DeferredTensor, run_on_side_stream
from .timing import Stopwatch

__all__ = ["encode_frame", "add_clip", "NO_ENCODER_TIMINGS"]

# Stage timings of a frame whose features came from the cache.
NO_ENCODER_TIMINGS = {"preprocess": 0.0, "clip": 0.0, "sam_encoder": 0.0}


def encode_frame(
    model,
    clip_preprocess: ClipPreprocessConfig,
    image: np.ndarray,
    image_encoder: Callable,
    device: str,
    *,
    side_stream=None,
    with_clip: bool = True,
) -> tuple[FrameFeatures, dict[str, float]]:
    """Both encoders' outputs for one ``HxWx3 uint8`` RGB frame (the caller validated it).

    Args:
        model: the :class:`~lisa_ros.core.modeling.LisaModel` (CLIP tower and projector).
        clip_preprocess: CLIP's resize/crop/normalise settings.
        image_encoder: SAM's image encoder, ``pixels float32 [1, 3, S, S] -> [1, C, g, g]``
            (torch, or an exported backend's runner).
        device: torch device of the model.
        side_stream: a CUDA stream to run a torch SAM encoder on while the caller generates
            (``None``: run in order).
        with_clip: False computes SAM's embedding only (``clip_tokens`` and ``clip_pixels`` are
            then None).
    Returns:
        the features and stage timings in ms (``preprocess``, ``clip``, and ``sam_encoder``
        when it ran in order; an overlapped encoder is timed when its output is used).
    """
    import torch

    watch = Stopwatch(device)
    input_size = model.sam_shape.img_size
    resized, sam_resize = resize_for_sam(image, input_size)
    clip_pixels = None
    if with_clip:
        clip_pixels = torch.from_numpy(preprocess_clip(image, clip_preprocess)).unsqueeze(0).to(device)
    clip_tokens = None
    with torch.inference_mode():
        # Normalising on the model's device: uploads 1 byte per pixel instead of 4.
        resized = torch.from_numpy(np.ascontiguousarray(resized)).to(device)
        sam_input = normalize_and_pad_for_sam(resized, input_size)
        timings = {"preprocess": watch.lap()}
        if side_stream is not None and with_clip:
            # Queued now, waited for when masks are decoded (see lisa_ros.core.streams).
            sam_embedding = run_on_side_stream(side_stream, image_encoder, sam_input)
            clip_tokens = model.encode_clip(clip_pixels)
            timings["clip"] = watch.lap()
        else:
            if with_clip:
                clip_tokens = model.encode_clip(clip_pixels)
            timings["clip"] = watch.lap() if with_clip else 0.0
            sam_embedding = DeferredTensor(image_encoder(sam_input))
            timings["sam_encoder"] = watch.lap()
    return FrameFeatures(clip_tokens, sam_embedding, sam_resize, clip_pixels), timings


def add_clip(model, clip_preprocess: ClipPreprocessConfig, image: np.ndarray, features: FrameFeatures,
             device: str) -> tuple[FrameFeatures, dict[str, float]]:
    """``features`` (computed ``with_clip=False``) completed with CLIP for the same frame.

    A re-prompted frame that then gets an instruction pays CLIP only, not SAM's encoder again.
    Returns new features (the SAM embedding shared) and timings in ms (``preprocess``,
    ``clip``; ``sam_encoder`` 0).
    """
    import torch

    watch = Stopwatch(device)
    clip_pixels = torch.from_numpy(preprocess_clip(image, clip_preprocess)).unsqueeze(0).to(device)
    timings = {"preprocess": watch.lap()}
    with torch.inference_mode():
        clip_tokens = model.encode_clip(clip_pixels)
    timings.update(clip=watch.lap(), sam_encoder=0.0)
    return FrameFeatures(clip_tokens, features.sam_embedding, features.sam_resize, clip_pixels), timings
