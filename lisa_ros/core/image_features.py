"""Image features of one frame: CLIP tokens for the LLM and SAM's image embedding for masks.

Two encoders see every new frame. CLIP (224 px, the LLM's view of the image) is on the answer's
critical path; SAM's ViT (1024 px) is needed only when masks are decoded, so on CUDA it can run
beside the answer (:mod:`lisa_ros.core.encoder_schedule` says when, :mod:`lisa_ros.core.streams`
how). Preprocessing runs with PIL on the CPU, or, with ``device_preprocess``, on the model's
device from one upload of the ``uint8`` frame, with the same bytes
(:mod:`lisa_ros.core.device_preprocess`). Callers that only need masks for known prompts
(re-prompting an earlier answer on a new frame) skip CLIP.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from .frame_cache import FrameFeatures
from .preprocess import ClipPreprocessConfig, normalize_and_pad_for_sam, preprocess_clip, resize_for_sam
from .streams import DeferredTensor, run_on_side_stream
from .timing import Stopwatch

__all__ = ["encode_frame", "add_clip", "NO_ENCODER_TIMINGS"]

log = logging.getLogger(__name__)

# Stage timings of a frame whose features came from the cache.
NO_ENCODER_TIMINGS = {"preprocess": 0.0, "clip": 0.0, "sam_encoder": 0.0}


def _preprocess(image: np.ndarray, clip_preprocess: ClipPreprocessConfig, input_size: int, device: str,
                with_clip: bool, on_device: bool):
    """Both encoders' inputs on ``device``: CLIP pixels ``[1, 3, h, w]`` (or None), SAM's
    ``uint8 [h, w, 3]`` resized frame and its placement."""
    import torch

    if on_device:
        from .device_preprocess import clip_pixels_on_device, sam_resized_on_device

        frame = torch.from_numpy(np.ascontiguousarray(image)).to(device)  # the one upload, 1 byte per pixel
        sam_part = sam_resized_on_device(frame, input_size)
        clip_pixels = clip_pixels_on_device(frame, clip_preprocess) if with_clip else None
        if sam_part is not None and (clip_pixels is not None or not with_clip):
            return clip_pixels, sam_part[0], sam_part[1]
        log.warning("frame size %s cannot be resized on the device exactly; using PIL", image.shape[:2])
    resized, sam_resize = resize_for_sam(image, input_size)
    clip_pixels = None
    if with_clip:
        clip_pixels = torch.from_numpy(preprocess_clip(image, clip_preprocess)).unsqueeze(0).to(device)
    # Normalising on the model's device: uploads 1 byte per pixel instead of 4.
    return clip_pixels, torch.from_numpy(np.ascontiguousarray(resized)).to(device), sam_resize


def encode_frame(
    model,
    clip_preprocess: ClipPreprocessConfig,
    image: np.ndarray,
    image_encoder: Callable,
    device: str,
    *,
    side_stream=None,
    with_clip: bool = True,
    schedule: str = "concurrent",
    device_preprocess: bool = False,
) -> tuple[FrameFeatures, dict[str, float]]:
    """Both encoders' outputs for one ``HxWx3 uint8`` RGB frame (the caller validated it).

    Args:
        model: the :class:`~lisa_ros.core.modeling.LisaModel` (CLIP tower and projector).
        clip_preprocess: CLIP's resize/crop/normalise settings.
        image_encoder: SAM's image encoder, ``pixels float32 [1, 3, S, S] -> [1, C, g, g]``
            (torch, or an exported backend's runner).
        device: torch device of the model.
        side_stream: a CUDA stream to run a torch SAM encoder on while the caller generates
            (``None``: run in order, whatever the schedule).
        with_clip: False computes SAM's embedding only (``clip_tokens`` and ``clip_pixels`` are
            then None).
        schedule: one of :data:`~lisa_ros.core.encoder_schedule.ENCODER_SCHEDULES`.
            ``interleaved`` applies to the torch encoder only (``model.encode_sam``).
        device_preprocess: resize and normalise on ``device`` (exactly PIL's bytes).
    Returns:
        the features and stage timings in ms (``preprocess``, ``clip``, and ``sam_encoder``
        when it ran in order; an overlapped encoder is timed when its output is used).
    """
    import torch

    watch = Stopwatch(device)
    input_size = model.sam_shape.img_size
    clip_tokens = None
    with torch.inference_mode():
        clip_pixels, resized, sam_resize = _preprocess(image, clip_preprocess, input_size, device, with_clip,
                                                       device_preprocess)
        sam_input = normalize_and_pad_for_sam(resized, input_size)
        timings = {"preprocess": watch.lap()}
        if schedule == "interleaved" and image_encoder == model.encode_sam:
            from .encoder_schedule import StagedSamEncoding

            if with_clip:
                clip_tokens = model.encode_clip(clip_pixels)
            sam_embedding = StagedSamEncoding(model, sam_input, side_stream)
            sam_embedding.pump()  # patch embedding and the first blocks, behind CLIP
            timings["clip"] = watch.lap()
        elif side_stream is not None and with_clip and schedule in ("concurrent", "after_clip"):
            # Queued now, waited for when masks are decoded (see lisa_ros.core.streams). The
            # side stream starts after the work queued on this stream so far: before CLIP in
            # the "concurrent" schedule, after it in "after_clip".
            if schedule == "concurrent":
                sam_embedding = run_on_side_stream(side_stream, image_encoder, sam_input)
            clip_tokens = model.encode_clip(clip_pixels)
            if schedule == "after_clip":
                sam_embedding = run_on_side_stream(side_stream, image_encoder, sam_input)
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
