"""Box and point prompts on every object: SAM's own training signal, for a from-scratch SAM.

Real LISA starts from a SAM that was trained on a billion masks with point and box prompts; its
mask decoder already draws object boundaries, and LISA only teaches it a new kind of prompt (the
projected ``[SEG]`` state). lisa-tiny's SAM starts from random weights, and a ``[SEG]`` mask is a
costly example: one LLM pass for a handful of masks. This term gives it, at the price of a mask
decoder pass, one mask per visible object of the scene (synthetic scenes know every object's
mask), prompted the way SAM is trained: a box around the object, jittered, or one point inside it.
It is training-only: the prompt encoder's box and point embeddings it trains are part of the
official layout already, and LISA's objective is unchanged (the term is added to it).

Prompts are drawn in the data pipeline (:func:`draw_object_prompts`, from the stream's seeded
generator, so a run is reproducible and the draws happen in the prefetch workers); the loss
(:func:`sam_prompt_loss`) maps them into SAM's input frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lisa_ros.core.postprocess import mask_box, upscale_mask_logits
from lisa_ros.core.preprocess import SamResize

from ..losses import LossWeights, mask_losses

__all__ = ["ObjectPrompt", "draw_object_prompts", "prompted_mask_logits", "sam_prompt_loss"]

# SAM's box noise (Kirillov et al. 2023, appendix): each coordinate moves by a normal draw with a
# standard deviation of 10 % of the box side, at most 20 pixels
BOX_NOISE = 0.1
BOX_NOISE_MAX = 20.0
# objects with fewer visible pixels are left out: nearly hidden, a mask of a few pixels teaches
# the decoder nothing about boundaries
MIN_PIXELS = 24


@dataclass
class ObjectPrompt:
    """One prompted object of an image.

    Attributes:
        mask: ``bool [H, W]`` the object's visible mask, in source image pixels.
        box: ``float32 [4]`` ``(x0, y0, x1, y1)`` in source pixels, or None (a point prompt).
        point: ``float32 [2]`` ``(x, y)`` in source pixels, or None (a box prompt).
    """

    mask: np.ndarray
    box: np.ndarray | None = None
    point: np.ndarray | None = None


def _jittered_box(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = mask_box(mask)  # max exclusive
    box = np.array([x0, y0, x1 - 1, y1 - 1], np.float64)
    sides = np.array([box[2] - box[0] + 1, box[3] - box[1] + 1] * 2)
    noise = np.clip(rng.normal(0.0, BOX_NOISE * sides), -BOX_NOISE_MAX, BOX_NOISE_MAX)
    height, width = mask.shape
    box = np.clip(box + noise, 0, [width - 1, height - 1, width - 1, height - 1])
    # noise may cross the corners over: keep (x0, y0) the top left
    return np.array([min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])], np.float32)


def draw_object_prompts(object_masks: list[np.ndarray], rng: np.random.Generator, max_objects: int,
                        box_prob: float = 0.5) -> list[ObjectPrompt]:
    """Up to ``max_objects`` of an image's objects, each with a box (probability ``box_prob``) or
    a point prompt (a pixel of its mask, uniformly).

    Args:
        object_masks: ``bool [H, W]`` visible mask of every object (source pixels).
    Returns:
        the prompts, in a random order of the objects with at least ``MIN_PIXELS`` pixels.
    """
    usable = [mask for mask in object_masks if int(mask.sum()) >= MIN_PIXELS]
    order = rng.permutation(len(usable))[:max_objects]
    prompts = []
    for index in order:
        mask = usable[int(index)]
        if rng.random() < box_prob:
            prompts.append(ObjectPrompt(mask, box=_jittered_box(mask, rng)))
        else:
            rows, cols = np.nonzero(mask)
            pick = int(rng.integers(len(rows)))
            prompts.append(ObjectPrompt(mask, point=np.array([cols[pick], rows[pick]], np.float32)))
    return prompts


def _sam_frame_scale(resize: SamResize) -> np.ndarray:
    """``float32 [2]`` (x, y) factors from source pixels to SAM input pixels."""
    return np.array([resize.resized_size[1] / resize.original_size[1],
                     resize.resized_size[0] / resize.original_size[0]], np.float32)


def _sparse_embeddings(prompt_encoder, image_prompts: list[ObjectPrompt], resize: SamResize,
                       device) -> tuple[torch.Tensor, list[int]]:
    """SAM's prompt encoder on an image's prompts, in SAM input pixels.

    Returns:
        ``[K, 2, C]`` sparse embeddings (a box is two corner tokens; a point is the point and
        SAM's padding token, so both kinds decode in one call) and, per row, the index of its
        prompt in ``image_prompts`` (boxes come first).
    """
    scale = _sam_frame_scale(resize)
    boxes = [i for i, prompt in enumerate(image_prompts) if prompt.box is not None]
    points = [i for i, prompt in enumerate(image_prompts) if prompt.box is None]
    parts = []
    if boxes:
        corners = np.stack([image_prompts[i].box.reshape(2, 2) * scale for i in boxes]).reshape(-1, 4)
        parts.append(prompt_encoder(points=None, boxes=torch.from_numpy(corners).to(device), masks=None)[0])
    if points:
        coords = np.stack([image_prompts[i].point * scale for i in points])[:, None, :]
        labels = torch.ones((len(points), 1), device=device)
        parts.append(prompt_encoder(points=(torch.from_numpy(coords).to(device), labels), boxes=None, masks=None)[0])
    return torch.cat(parts), boxes + points


def prompted_mask_logits(model, sam_embedding: torch.Tensor, image_prompts: list[ObjectPrompt],
                         resize: SamResize) -> tuple[torch.Tensor, list[int]]:
    """SAM's masks for one image's prompts.

    Args:
        model: a :class:`~lisa_ros.core.modeling.LisaModel`.
        sam_embedding: ``[1, C, g, g]`` the image's SAM embedding.
        image_prompts: at least one :class:`ObjectPrompt`.
    Returns:
        ``float32 [K, H, W]`` logits at the source resolution and, per row, the index of its prompt
        in ``image_prompts`` (boxes come first).
    """
    sparse, order = _sparse_embeddings(model.sam.prompt_encoder, image_prompts, resize, sam_embedding.device)
    low_res, _ = model.decode_masks(sam_embedding, sparse)
    return upscale_mask_logits(low_res, resize), order


def sam_prompt_loss(model, sam_embeddings: torch.Tensor, prompts: list[list[ObjectPrompt]],
                    resizes: list[SamResize], weights: LossWeights) -> torch.Tensor | None:
    """LISA's mask loss (``weights.bce`` BCE + ``weights.dice`` Dice, averaged over masks) of the
    masks SAM draws for box and point prompts.

    Args:
        model: a :class:`~lisa_ros.core.modeling.LisaModel`.
        sam_embeddings: ``[B, C, g, g]`` SAM image embeddings (with their graph).
        prompts: per image, its :class:`ObjectPrompt` list (may be empty).
        resizes: per image, where it sits in SAM's input.
    Returns:
        the fp32 scalar, or None when no image has a prompt.
    """
    predicted, targets = [], []
    for index, image_prompts in enumerate(prompts):
        if not image_prompts:
            continue
        logits, order = prompted_mask_logits(model, sam_embeddings[index : index + 1], image_prompts, resizes[index])
        predicted.append(logits)
        masks = np.stack([image_prompts[i].mask for i in order]).astype(np.float32)
        targets.append(torch.from_numpy(masks).to(logits.device))
    if not predicted:
        return None
    bce, dice, _ = mask_losses(predicted, targets)
    return weights.bce * bce + weights.dice * dice
