"""Supervised look-up: one attention head of the LLM is told where the asked-for object is.

Whether to answer with a mask at all ("there is no banana here") needs the LLM to match the
object an instruction asks for against its image tokens. A from-scratch LLaMA learns that match
slowly from the answer alone: the choice is one token of the answer, and it reaches the keys
and queries only through a softmax that starts uniform (docs/benchmarks.md §3: even with the
categories written in the question, a 4-layer model reached a verdict AUC of only 0.75 in
4.5 minutes). This loss states the look-up directly, as the grounding loss of
:mod:`.dense_aux` does for the mask decoder:

* the query is the state that picks the first answer token (where the model commits to a mask
  or none), in one chosen layer and head;
* for a conversation with targets, that head should attend to the image tokens of its targets,
  in proportion to each token's share of the target pixels (CLIP's ``n x n`` grid covers the
  whole frame);
* for an absent target, it should attend to the first position of the sequence (the start of
  the system prompt, the same in every conversation): a "nothing found" sink. What the head
  returns then differs between found and not found, which a later layer can read;
* maskless questions about the scene (VQA) are left free.

The loss is the cross-entropy between that target and the head's attention over every position
it sees (keys ``0 .. q``, as in the model's own causal attention), recomputed from the layer's
inputs with the layer's own projections and rotary embedding, so that it is exactly the
distribution the model uses. No head is added: the checkpoint keeps the official layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lisa_ros.core.prompt import IMAGE_TOKEN_INDEX

from .dense_aux import _cell_index

__all__ = ["AttentionInputs", "LookupQuery", "LookupWatch", "lookup_head", "head_log_attention", "lookup_targets",
           "lookup_loss"]


def lookup_head(config, layer: int | None = None, head: int = 0) -> tuple[int, int]:
    """``(layer, head)`` of the look-up loss, checked against the LLM's ``config``.

    The default layer is the middle one, so that the layers below can bring the asked-for
    object to the decision state and the layers above can read what the head found. Training
    (``lisa-train --lookup-aux-layer/--lookup-aux-head``) and ``bench/probes/lookup_probe.py`` both
    resolve the head here, so that the probe reads the head a run supervised.
    """
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    layer = layers // 2 if layer is None else layer
    if not 0 <= layer < layers:
        raise ValueError(f"--lookup-aux-layer {layer}: the LLM has layers 0..{layers - 1}")
    if not 0 <= head < heads:
        raise ValueError(f"--lookup-aux-head {head}: the LLM has heads 0..{heads - 1}")
    return layer, head


class AttentionInputs:
    """Records what one attention module is called with (a context manager).

    Each call appends ``(hidden_states [b, L, H], (cos, sin))``: the normalised layer inputs and
    the rotary tables of those positions. The shared-prefix forward pass calls a layer twice
    (prefixes, then suffixes); the plain pass once.
    """

    def __init__(self, attention: torch.nn.Module):
        self.attention = attention
        self.calls: list[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]] = []
        self._handle = None

    def _record(self, module, args, kwargs):
        hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        self.calls.append((hidden, kwargs["position_embeddings"]))

    def __enter__(self) -> "AttentionInputs":
        self._handle = self.attention.register_forward_pre_hook(self._record, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


@dataclass
class LookupQuery:
    """Where to look from: the decision column of every conversation and its image's index.

    Attributes:
        columns: per conversation, the column of its decision state in the expanded sequence
            (image tokens in place of the placeholder).
        images: per conversation, the index of its image in the batch.
    """

    columns: list[int]
    images: list[int]


class LookupWatch:
    """A :class:`~lisa_ros.train.extension.ForwardWatch`: records the inputs of one attention layer
    during the forward pass, then puts that layer's ``head`` log attention at every decision
    state into ``out.readings[name]`` (``float32 [C, L]``, :func:`head_log_attention`).

    Raises (on entering) ValueError with gradient checkpointing, which runs the layers twice.
    """

    def __init__(self, model, lookup_head: tuple[int, int], name: str = "lookup"):
        self.model = model
        self.layer, self.head = lookup_head
        self.name = name
        self._recorder: AttentionInputs | None = None

    def __enter__(self) -> "LookupWatch":
        if any(getattr(m, "gradient_checkpointing", False) for m in self.model.llm.model.layers):
            raise ValueError("the look-up loss needs the attention inputs of one pass: no gradient checkpointing")
        self._recorder = AttentionInputs(self.model.llm.model.layers[self.layer].self_attn).__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._recorder.__exit__(*exc)

    def read(self, out) -> None:
        query = LookupQuery(out.decision_columns, out.conversation_images)
        out.readings[self.name] = head_log_attention(self._recorder.attention, self._recorder.calls, query, self.head)


def _projected(attention: torch.nn.Module, hidden: torch.Tensor, rotary) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotated queries and keys ``[b, heads, L, d]`` / ``[b, kv_heads, L, d]`` of one call."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    batch, length = hidden.shape[:2]
    head_dim = attention.head_dim
    queries = attention.q_proj(hidden).view(batch, length, -1, head_dim).transpose(1, 2)
    keys = attention.k_proj(hidden).view(batch, length, -1, head_dim).transpose(1, 2)
    cos, sin = rotary
    return apply_rotary_pos_emb(queries, keys, cos, sin)


def head_log_attention(attention: torch.nn.Module, calls, query: LookupQuery, head: int) -> torch.Tensor:
    """Log attention weights of ``head`` at every conversation's decision column.

    Args:
        calls: :attr:`AttentionInputs.calls` of one forward pass: one call ``[C, L, H]``, or a
            prefix call ``[B, P, H]`` and a suffix call ``[C, S, H]`` (columns count from the
            prefix's start either way).
    Returns:
        ``float32 [C, L]``: row ``r`` is log-softmax over keys ``0 .. columns[r]`` (``-inf``
        after it), the distribution the model's causal attention uses.
    """
    projected = [_projected(attention, hidden, rotary) for hidden, rotary in calls]
    kv_head = head // (attention.config.num_attention_heads // attention.config.num_key_value_heads)
    if len(projected) == 1:
        queries, keys = projected[0][0][:, head], projected[0][1][:, kv_head]
    elif len(projected) == 2:
        # each conversation's sequence is its image's prefix followed by its own suffix (a
        # decision state may lie in the prefix: a batch of one conversation shares all but one id)
        (prefix_queries, prefix_keys), (suffix_queries, suffix_keys) = projected
        images = torch.tensor(query.images, device=prefix_keys.device)
        keys = torch.cat([prefix_keys[images, kv_head], suffix_keys[:, kv_head]], dim=1)
        queries = torch.cat([prefix_queries[images, head], suffix_queries[:, head]], dim=1)
    else:
        raise ValueError(f"expected one or two calls of the attention layer, got {len(projected)}")
    columns = torch.tensor(query.columns, device=keys.device)
    picked = queries[torch.arange(len(columns), device=keys.device), columns]  # [C, d]
    scores = torch.einsum("cd,cld->cl", picked.float(), keys.float()) * attention.scaling
    visible = torch.arange(keys.shape[1], device=keys.device)[None, :] <= columns[:, None]
    return F.log_softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)


def lookup_targets(batch, seg_counts: list[int], num_image_tokens: int,
                   length: int) -> tuple[list[int], torch.Tensor]:
    """Where each conversation's decision head should look.

    Args:
        seg_counts: per conversation, its ``[SEG]`` count (its masks are the next ones of its
            image's ``gt_masks``, in conversation order).
        length: columns of the attention rows (:func:`head_log_attention`).
    Returns:
        the conversations that have a target and ``float32 [T, length]`` their target
        distributions: the targets' pixel shares over the image-token columns, or all weight on
        column 0 for an absent target. Conversations without either (VQA, or masks with no
        pixels) are left out.
    """
    grid = int(round(num_image_tokens ** 0.5))
    if grid * grid != num_image_tokens:
        raise ValueError(f"{num_image_tokens} CLIP tokens are not a square grid")
    kept, targets = [], []
    conversation = 0
    for image in range(batch.num_images):
        masks = batch.gt_masks[image]
        cell = None
        used = 0
        for _ in range(batch.offset[image], batch.offset[image + 1]):
            count = seg_counts[conversation]
            target = torch.zeros(length)
            if count > 0:
                union = masks[used : used + count].amax(0).flatten().cpu()
                used += count
                if cell is None:
                    cell = _cell_index(masks.shape[1], masks.shape[2], grid, None, None).flatten()
                pixels = torch.zeros(num_image_tokens).index_add_(0, cell, union.float())
                if pixels.sum() > 0:
                    # ids before the placeholder are one column each: it is the first image token's
                    start = batch.input_ids[conversation].index(IMAGE_TOKEN_INDEX)
                    target[start : start + num_image_tokens] = pixels / pixels.sum()
            elif batch.absent_targets and batch.absent_targets[conversation]:
                target[0] = 1.0
            if target.sum() > 0:
                kept.append(conversation)
                targets.append(target)
            conversation += 1
    return kept, (torch.stack(targets) if targets else torch.zeros((0, length)))


def lookup_loss(log_attention: torch.Tensor, kept: list[int], targets: torch.Tensor) -> torch.Tensor | None:
    """Mean cross-entropy of the kept rows' attention against their targets (None: no row kept)."""
    if not kept:
        return None
    rows = log_attention[torch.tensor(kept, device=log_attention.device)]
    targets = targets.to(rows.device)
    # -inf where the target is 0 would give nan; the targets never weigh an invisible key
    return -(targets * rows.masked_fill(targets == 0, 0.0)).sum(-1).mean()
