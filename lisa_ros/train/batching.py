"""Turn :class:`~lisa_ros.train.conversations.TrainItem` lists into model-ready tensors.

One :class:`Batch` holds B images and C >= B conversations. ``offset`` maps images to their
conversations (conversations ``offset[i]:offset[i+1]`` belong to image ``i``), as the official
``offset`` does; the image encoders run on B images, the LLM on C right-padded sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from lisa_ros.core.preprocess import ClipPreprocessConfig, SamResize, preprocess_clip, preprocess_sam
from lisa_ros.core.prompt import build_prompt_ids

from .conversations import TrainItem

__all__ = ["Batch", "collate"]


@dataclass
class Batch:
    """Tensors of one micro-batch.

    Attributes:
        clip_pixels: ``float32 [B, 3, h, w]`` CLIP input.
        sam_pixels: ``float32 [B, 3, S, S]`` SAM input.
        sam_resizes: per image, where it sits in SAM's input.
        input_ids: per conversation, token ids with one image placeholder.
        prompt_lengths: per conversation, ids before the answer (labels start there).
        offset: ``B + 1`` conversation boundaries.
        gt_masks: per image, ``float32 [K_i, H_i, W_i]`` targets of all its ``[SEG]`` in
            conversation order (``K_i`` may be 0).
        families: per image, its family (or None).
        absent_targets: per conversation, whether it asks for an object the image does not show.
        extras: per name of ``TrainItem.extras``, one value per image (None where an item lacks
            it); what data hooks attached for extra loss terms
            (:mod:`lisa_ros.train.extension`).
    """

    clip_pixels: torch.Tensor
    sam_pixels: torch.Tensor
    sam_resizes: list[SamResize]
    input_ids: list[list[int]]
    prompt_lengths: list[int]
    offset: list[int]
    gt_masks: list[torch.Tensor]
    families: list[str | None]
    absent_targets: list[bool] = field(default_factory=list)
    extras: dict[str, list] = field(default_factory=dict)

    @property
    def num_images(self) -> int:
        return len(self.sam_resizes)

    @property
    def num_conversations(self) -> int:
        return len(self.input_ids)

    def to(self, device) -> "Batch":
        self.clip_pixels = self.clip_pixels.to(device)
        self.sam_pixels = self.sam_pixels.to(device)
        self.gt_masks = [m.to(device) for m in self.gt_masks]
        return self


def collate(
    items: list[TrainItem],
    tokenizer,
    clip_preprocess: ClipPreprocessConfig,
    sam_size: int,
    use_im_start_end: bool = True,
    max_length: int | None = None,
) -> Batch:
    """Preprocess images and tokenize conversations.

    Args:
        tokenizer: a :class:`~lisa_ros.core.tokenizer.LisaTokenizer`.
        sam_size: SAM's input side (``SamShape.img_size``).
        max_length: truncate ids to this many (the image counted as one id); the official
            training truncates to ``model_max_length - 255``. A truncated answer loses its
            masks only if a ``[SEG]`` was cut, which raises (it would misalign the masks).
    """
    clip, sam, resizes, ids, lengths, offset, masks, families, absent = [], [], [], [], [], [0], [], [], []
    for item in items:
        clip.append(preprocess_clip(item.image, clip_preprocess))
        pixels, resize = preprocess_sam(item.image, sam_size)
        sam.append(pixels)
        resizes.append(resize)
        image_masks = []
        for conversation in item.conversations:
            prompt = build_prompt_ids(tokenizer, conversation.question, answer=conversation.answer,
                                      use_im_start_end=use_im_start_end)
            sequence = prompt.ids
            if max_length is not None and len(sequence) > max_length:
                kept = sum(1 for t in sequence[:max_length] if t == tokenizer.seg_token_id)
                if kept != len(conversation.masks):
                    raise ValueError(f"{item.name}: truncation to {max_length} ids cuts a [SEG]")
                sequence = sequence[:max_length]
            ids.append(sequence)
            lengths.append(min(prompt.prompt_length, len(sequence)))
            absent.append(conversation.absent_target)
            image_masks.extend(conversation.masks)
        offset.append(len(ids))
        height, width = item.image.shape[:2]
        if image_masks:
            masks.append(torch.from_numpy(np.stack(image_masks).astype(np.float32)))
        else:
            masks.append(torch.zeros((0, height, width), dtype=torch.float32))
        families.append(item.family)
    return Batch(
        clip_pixels=torch.from_numpy(np.stack(clip)),
        sam_pixels=torch.from_numpy(np.stack(sam)),
        sam_resizes=resizes,
        input_ids=ids,
        prompt_lengths=lengths,
        offset=offset,
        gt_masks=masks,
        families=families,
        absent_targets=absent,
        extras={name: [item.extras.get(name) for item in items] for name in _extra_names(items)},
    )


def _extra_names(items: list[TrainItem]) -> list[str]:
    """Every name of the items' ``extras``, in order of first appearance."""
    return list(dict.fromkeys(name for item in items for name in item.extras))
