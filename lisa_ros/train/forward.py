"""LISA's training forward pass (official ``model_forward``, LISA.py:164-343), batched.

For a :class:`~lisa_ros.train.batching.Batch` of B images and C conversations:

1. CLIP and SAM encoders once per image (no graph through a frozen tower);
2. every conversation's embeddings with its image's N CLIP tokens spliced in, right-padded
   with zeros to the longest, with an attention mask (the official code pads the same way);
3. one LLaMA pass; CE on the answer tokens (the state at expanded position ``p + N - 2``
   predicts id ``p``, since the image placeholder became N positions);
4. the states that predict each ``[SEG]`` (the official ``[:, 1:]`` shift and ``N - 1``
   prefix), projected by ``text_hidden_fcs``, prompt SAM's mask decoder on their image's
   embedding; logits are upsampled to the original image size (SAM postprocess) for the loss.

A batch without conversations (``--conversations-per-image 0`` and no extra questions: the
encoder pretraining stage of a from-scratch model) stops after step 1; only extra loss terms on
the encoders' outputs then train.

:func:`lisa_loss` is LISA's objective on that output, plus any extra
:class:`~lisa_ros.train.extension.LossTerm` (none in an official run).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from lisa_ros.core.postprocess import upscale_mask_logits
from lisa_ros.core.prompt import IMAGE_TOKEN_INDEX

from .batching import Batch
from .extension import ForwardWatch, LossTerm
from .losses import LossParts, LossWeights, combine, mask_losses

__all__ = ["ForwardOutput", "answer_logits", "lisa_forward", "lisa_loss"]


@dataclass
class ForwardOutput:
    """Result of :func:`lisa_forward`.

    Attributes:
        ce: mean next-token CE over all answer tokens (fp32 scalar).
        num_answer_tokens: tokens CE was averaged over.
        pred_masks: per image, ``float32 [K_i, H_i, W_i]`` logits at the original resolution.
        seg_counts: per conversation, ``[SEG]`` tokens found.
        image_tokens: ``[B, N, hidden]`` projected CLIP tokens (with their graph).
        sam_embeddings: ``[B, C, g, g]`` SAM image embeddings (with their graph).
        prompts: per image, ``[K_i, C]`` projected ``[SEG]`` states that prompted its masks.
        decision_states: ``[C, hidden]`` per conversation, the state that predicts the first
            answer token (where the model commits to answering with a mask or without one).
        decision_columns: per conversation, the column of its decision state in the LLM's
            sequence (N image tokens in place of the placeholder; empty without conversations).
        conversation_images: per conversation, the index of its image in the batch.
        readings: what :class:`~lisa_ros.train.extension.ForwardWatch` objects found, by name.
    """

    ce: torch.Tensor
    num_answer_tokens: int
    pred_masks: list[torch.Tensor]
    seg_counts: list[int]
    image_tokens: torch.Tensor | None = None
    sam_embeddings: torch.Tensor | None = None
    prompts: list[torch.Tensor] | None = None
    decision_states: torch.Tensor | None = None
    decision_columns: list[int] = field(default_factory=list)
    conversation_images: list[int] = field(default_factory=list)
    readings: dict[str, torch.Tensor] = field(default_factory=dict)


def _requires_grad(module: torch.nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def _encode_images(model, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    clip_grad = _requires_grad(model.vision_tower) or _requires_grad(model.mm_projector)
    with torch.set_grad_enabled(clip_grad and torch.is_grad_enabled()):
        image_tokens = model.encode_clip(batch.clip_pixels)
    with torch.set_grad_enabled(_requires_grad(model.sam.image_encoder) and torch.is_grad_enabled()):
        sam_embeddings = model.encode_sam(batch.sam_pixels)
    return image_tokens, sam_embeddings


def _shared_prefix_length(batch: Batch) -> int:
    """Ids every conversation of the batch starts with, the image placeholder included (0: none)."""
    first = batch.input_ids[0]
    length = min(len(ids) for ids in batch.input_ids) - 1  # keep one id for the suffix
    for ids in batch.input_ids[1:]:
        common = 0
        while common < length and ids[common] == first[common]:
            common += 1
        length = common
    if IMAGE_TOKEN_INDEX not in first[:length]:
        return 0
    return length


def _pad(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``[L_i, H]`` sequences with zeros: ``[N, L, H]`` and the 0/1 mask ``[N, L]``."""
    lengths = [s.shape[0] for s in sequences]
    longest = max(lengths)
    embeds = sequences[0].new_zeros((len(sequences), longest, sequences[0].shape[-1]))
    mask = torch.zeros((len(sequences), longest), dtype=torch.long, device=embeds.device)
    for row, sequence in enumerate(sequences):
        embeds[row, : lengths[row]] = sequence
        mask[row, : lengths[row]] = 1
    return embeds, mask


def _conversation_images(batch: Batch) -> list[int]:
    return [i for i in range(batch.num_images) for _ in range(batch.offset[i], batch.offset[i + 1])]


def _llm_states(model, batch: Batch, image_tokens: torch.Tensor) -> torch.Tensor:
    """Post-norm last-layer states ``[C, L, H]`` of every conversation, right-padded."""
    images = _conversation_images(batch)
    sequences = [model.embed_with_image(ids, image_tokens[images[row]])[0] for row, ids in enumerate(batch.input_ids)]
    embeds, attention = _pad(sequences)
    return model.llm.model(inputs_embeds=embeds, attention_mask=attention).last_hidden_state


def _llm_states_shared(model, batch: Batch, image_tokens: torch.Tensor, prefix_ids: int) -> torch.Tensor:
    """Same result as :func:`_llm_states`, computing the shared prefix (system prompt, image,
    ``<im_end>``) once per image: one pass over the B prefixes, their KV cache gathered per
    conversation, one pass over the C suffixes. Exact up to float rounding (causal attention:
    prefix states do not depend on what follows)."""
    from transformers import DynamicCache

    from lisa_ros.core.generation import _cache_kwarg

    images = _conversation_images(batch)
    llm = model.llm.model
    first = batch.input_ids[0]
    prefixes = torch.cat([model.embed_with_image(first[:prefix_ids], image_tokens[i]) for i in range(batch.num_images)])
    cache = DynamicCache(config=model.llm.config)
    cache_kwarg = _cache_kwarg(type(llm).forward)
    prefix_states = llm(inputs_embeds=prefixes, use_cache=True, **{cache_kwarg: cache}).last_hidden_state
    rows = torch.tensor(images, device=prefixes.device)
    cache.batch_select_indices(rows)
    device = prefixes.device
    suffixes = [model.embed_tokens(torch.tensor(ids[prefix_ids:], device=device)) for ids in batch.input_ids]
    embeds, suffix_mask = _pad(suffixes)
    length = prefixes.shape[1]
    attention = torch.cat([suffix_mask.new_ones((len(suffixes), length)), suffix_mask], dim=1)
    positions = torch.arange(length, length + embeds.shape[1], device=device).unsqueeze(0)
    suffix_states = llm(
        inputs_embeds=embeds, attention_mask=attention, position_ids=positions, use_cache=True, **{cache_kwarg: cache}
    ).last_hidden_state
    return torch.cat([prefix_states[rows], suffix_states], dim=1)


def _encoders_only(model, batch: Batch, image_tokens: torch.Tensor, sam_embeddings: torch.Tensor) -> ForwardOutput:
    """The output of a batch without conversations (an encoder pretraining stage: only the
    dense losses on the encoders' outputs train). No LLM or mask decoder pass; ``ce`` is a zero
    that keeps the encoders' graph, so a loss made of it alone still back-propagates."""
    ce = (image_tokens.float().sum() + sam_embeddings.float().sum()) * 0.0
    device = image_tokens.device
    pred_masks = [torch.zeros((0, *resize.original_size), device=device) for resize in batch.sam_resizes]
    prompts = [torch.zeros((0, model.config.out_dim), device=device) for _ in batch.sam_resizes]
    decision_states = image_tokens.new_zeros((0, image_tokens.shape[-1]))
    return ForwardOutput(ce, 0, pred_masks, [], image_tokens, sam_embeddings, prompts, decision_states)


def _answer_start(ids: list[int], prompt_length: int) -> int:
    """Index in ``ids`` of the first answer token that has a label: the answer's first token,
    never the image placeholder or anything before it. The state predicting ids position ``p``
    sits at column ``p + N - 2`` of the LLM's states (N image tokens replace the one placeholder)."""
    return max(prompt_length, ids.index(IMAGE_TOKEN_INDEX) + 1)


def lisa_forward(model, batch: Batch, seg_token_id: int, share_prefix: bool = True,
                 watches: list[ForwardWatch] = ()) -> ForwardOutput:
    """Teacher-forced forward pass of a batch (see the module docstring).

    ``share_prefix`` runs the prefix all conversations share once per image (exact; not with
    gradient checkpointing, which disables the KV cache). ``watches`` are entered around the LLM
    pass and read the finished output (:class:`~lisa_ros.train.extension.ForwardWatch`).
    """
    image_tokens, sam_embeddings = _encode_images(model, batch)
    if not batch.input_ids:
        return _encoders_only(model, batch, image_tokens, sam_embeddings)
    num_image_tokens = image_tokens.shape[1]
    shift = num_image_tokens - 1
    prefix_ids = _shared_prefix_length(batch) if share_prefix else 0
    checkpointing = any(getattr(m, "gradient_checkpointing", False) for m in model.llm.model.layers)
    with ExitStack() as watching:
        for watch in watches:
            watching.enter_context(watch)
        if prefix_ids and not checkpointing:
            states = _llm_states_shared(model, batch, image_tokens, prefix_ids)
        else:
            states = _llm_states(model, batch, image_tokens)

    # Gather answer positions (CE) and [SEG] positions (masks) in one pass over the ids.
    ce_rows, ce_cols, ce_targets = [], [], []
    seg_rows, seg_cols, seg_counts = [], [], []
    decision_cols = []
    for row, ids in enumerate(batch.input_ids):
        start = _answer_start(ids, batch.prompt_lengths[row])
        decision_cols.append(start + shift - 1)
        count = 0
        for position in range(start, len(ids)):
            ce_rows.append(row)
            ce_cols.append(position + shift - 1)
            ce_targets.append(ids[position])
            if ids[position] == seg_token_id:
                seg_rows.append(row)
                seg_cols.append(position + shift - 1)
                count += 1
        seg_counts.append(count)
    device = states.device
    if ce_rows:
        answer_states = states[torch.tensor(ce_rows, device=device), torch.tensor(ce_cols, device=device)]
        logits = model.llm.lm_head(answer_states).float()
        ce = F.cross_entropy(logits, torch.tensor(ce_targets, device=device))
    else:
        ce = states.sum() * 0.0

    pred_masks: list[torch.Tensor] = []
    image_prompts: list[torch.Tensor] = []
    if seg_rows:
        seg_states = states[torch.tensor(seg_rows, device=device), torch.tensor(seg_cols, device=device)]
        prompts = model.project_seg_states(seg_states)
    cursor = 0
    for image_index in range(batch.num_images):
        convs = range(batch.offset[image_index], batch.offset[image_index + 1])
        count = sum(seg_counts[c] for c in convs)
        height, width = batch.sam_resizes[image_index].original_size
        if count == 0:
            pred_masks.append(torch.zeros((0, height, width), device=device))
            image_prompts.append(torch.zeros((0, model.config.out_dim), device=device))
            continue
        image_prompts.append(prompts[cursor : cursor + count])
        low_res, _ = model.decode_masks(sam_embeddings[image_index : image_index + 1], prompts[cursor : cursor + count])
        cursor += count
        pred_masks.append(upscale_mask_logits(low_res, batch.sam_resizes[image_index]))
    decision_states = states[torch.arange(len(decision_cols), device=device), torch.tensor(decision_cols, device=device)]
    out = ForwardOutput(ce, len(ce_rows), pred_masks, seg_counts, image_tokens, sam_embeddings, image_prompts,
                        decision_states, decision_cols, _conversation_images(batch))
    for watch in watches:
        watch.read(out)
    return out


def answer_logits(model, batch: Batch) -> list[torch.Tensor]:
    """Teacher-forced next-token logits of every answer token, for probes.

    Returns, per conversation, ``float32 [A, V]``: row ``k`` is the distribution the model gives
    answer token ``k`` (``ids[prompt_length + k]``) having read everything before it.
    """
    image_tokens, _ = _encode_images(model, batch)
    states = _llm_states(model, batch, image_tokens)
    shift = image_tokens.shape[1] - 1
    out = []
    for row, ids in enumerate(batch.input_ids):
        start = _answer_start(ids, batch.prompt_lengths[row])
        cols = torch.arange(start, len(ids), device=states.device) + shift - 1
        out.append(model.llm.lm_head(states[row, cols]).float())
    return out


def lisa_loss(model, batch: Batch, seg_token_id: int, weights: LossWeights, share_prefix: bool = True,
              terms: list[LossTerm] = ()) -> LossParts:
    """The LISA objective of one batch (CE + BCE + Dice, weighted), plus ``terms``.

    Each :class:`~lisa_ros.train.extension.LossTerm` adds ``weight * value`` to the total, in the
    order given (LISA's own parts are unchanged by them); its unweighted value is reported in
    ``LossParts.extras`` under its name, unless the batch had nothing for it.
    """
    watches = [watch for watch in (term.watch(model) for term in terms) if watch is not None]
    out = lisa_forward(model, batch, seg_token_id, share_prefix, watches)
    bce, dice, count = mask_losses(out.pred_masks, batch.gt_masks)
    parts = combine(out.ce, bce, dice, count, weights)
    for term in terms:
        value = term.loss(model, batch, out, weights)
        if value is not None:
            parts.total = parts.total + term.weight * value
            parts.extras[term.name] = value.detach()
    return parts
