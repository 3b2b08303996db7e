"""Greedy answer generation and the ``[SEG]`` states that become mask prompts.

Two implementations of the same computation:

* :func:`generate_fast`: one prefill pass over the prompt, then one token per step with a KV
  cache. The state that predicts each ``[SEG]`` is kept as it is produced, so the prompt pass
  and the decode steps together provide every ``[SEG]`` state.
* :func:`generate_reference`: the official LISA v1 flow, literally (docs/model-reference.md
  §6.2-§6.3): no cache, CLIP re-run and the whole sequence recomputed at every step, and the
  ``[SEG]`` states picked from the final step's states with the official index shift
  (``ids[1:] == seg`` after ``N - 1`` prepended ``False`` for the expanded image). Slow on
  purpose; tests prove both give the same tokens and masks, benchmarks measure the gap.

The "[SEG] state" is the post-norm last-layer hidden state at the position *before* each
``[SEG]`` token: the state whose next-token prediction is ``[SEG]``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache

import torch

from .timing import Stopwatch

__all__ = ["GenerationResult", "generate_fast", "generate_reference", "teacher_forced_states"]


@dataclass
class GenerationResult:
    """Outcome of one generation.

    Attributes:
        answer_ids: generated token ids, EOS excluded.
        seg_states: ``[K, hidden]`` states that predicted the K ``[SEG]`` tokens, in order.
        finished: True when EOS ended the answer (False: a token limit did).
        prefill_ms: time of the prompt pass (fast path) or of the first step (reference).
        decode_ms: time of all later steps.
    """

    answer_ids: list[int]
    seg_states: torch.Tensor
    finished: bool
    prefill_ms: float
    decode_ms: float

    @property
    def num_tokens(self) -> int:
        return len(self.answer_ids) + (1 if self.finished else 0)


@lru_cache(maxsize=None)
def _cache_kwarg(forward) -> str:
    # transformers renamed ``past_key_values`` to ``cache`` during 5.x; the GPU machine runs
    # an older 5.x than this one.
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def _run_llm(model, embeds: torch.Tensor, cache=None) -> torch.Tensor:
    """Post-norm last-layer states ``[1, L, H]`` of ``embeds`` (extending ``cache`` if given)."""
    llm = model.llm.model
    kwargs = {"inputs_embeds": embeds, "use_cache": cache is not None}
    if cache is not None:
        kwargs[_cache_kwarg(type(llm).forward)] = cache
    return llm(**kwargs).last_hidden_state


def _next_token(model, state: torch.Tensor) -> int:
    """Greedy choice from one state ``[1, H]`` (logits in fp32, as transformers 4.31)."""
    return int(model.llm.lm_head(state).float().argmax(dim=-1).item())


def _stack(states: list[torch.Tensor], model) -> torch.Tensor:
    if states:
        return torch.cat(states, dim=0)
    weight = model.llm.lm_head.weight
    return torch.zeros((0, model.config.hidden_size), dtype=weight.dtype, device=weight.device)


class _DynamicDecoder:
    """Prefill and decode steps over transformers' growing ``DynamicCache`` (any length, any
    device; the interface of :class:`~lisa_ros.core.static_decoding.StaticDecoder`)."""

    def __init__(self, model):
        from transformers import DynamicCache

        self.model = model
        self.cache = DynamicCache(config=model.llm.config)

    def prefill(self, embeds: torch.Tensor) -> torch.Tensor:
        return _run_llm(self.model, embeds, self.cache)[:, -1]

    def step(self, token: int) -> tuple[torch.Tensor, int]:
        embed = self.model.embed_tokens(torch.tensor([[token]], device=self.model.embed_tokens.weight.device))
        state = _run_llm(self.model, embed, self.cache)[:, -1]
        return state, _next_token(self.model, state)


@torch.inference_mode()
def generate_fast(
    model,
    prompt_embeds: torch.Tensor,
    *,
    eos_id: int,
    seg_id: int,
    max_new_tokens: int,
    stop_after_masks: int | None = None,
    on_token=None,
    forced_ids: list[int] | None = None,
    decoder=None,
) -> GenerationResult:
    """Greedy generation with a KV cache.

    Args:
        model: a :class:`~lisa_ros.core.modeling.LisaModel`.
        prompt_embeds: ``[1, L, H]`` prompt embeddings with the image expanded.
        eos_id, seg_id: ids of ``</s>`` and ``[SEG]``.
        max_new_tokens: most tokens to produce, EOS included (as transformers counts).
        stop_after_masks: stop right after this many ``[SEG]`` tokens (early exit for callers
            that need masks, not the rest of the answer); ``None`` runs to EOS or the limit.
        on_token: optional callable ``(token_id) -> None`` after each answer token (EOS
            excluded), before the next decode step: streaming, and the place where a caller
            stops a generation within one step by raising (cancellation, shutdown).
        forced_ids: feed these answer ids instead of the greedy choices (same computation,
            fixed answer: for benchmarks with random weights and for teacher forcing).
        decoder: a :class:`~lisa_ros.core.static_decoding.StaticDecoder` (static cache, CUDA
            graph) used when the request fits it; otherwise a dynamic cache is used.
    """
    watch = Stopwatch(prompt_embeds.device)
    fits = decoder is not None and decoder.fits(prompt_embeds.shape[1], max_new_tokens)
    runner = decoder if fits else _DynamicDecoder(model)
    state = runner.prefill(prompt_embeds)
    predicted = _next_token(model, state)
    prefill_ms = watch.lap()
    answer: list[int] = []
    seg_states: list[torch.Tensor] = []
    finished = False
    for step in range(max_new_tokens):
        token = predicted
        if forced_ids is not None:
            if step >= len(forced_ids):
                break
            token = forced_ids[step]
        if token == eos_id:
            finished = True
            break
        answer.append(token)
        if on_token is not None:
            on_token(token)
        if token == seg_id:
            seg_states.append(state)
            if stop_after_masks is not None and len(seg_states) >= stop_after_masks:
                break
        if step + 1 == max_new_tokens:
            break
        state, predicted = runner.step(token)
    return GenerationResult(answer, _stack(seg_states, model), finished, prefill_ms, watch.lap())


def _official_seg_states(model, ids: list[int], states: torch.Tensor, seg_id: int) -> torch.Tensor:
    """The official selection: ``ids[1:] == seg`` with ``N - 1`` ``False`` prepended.

    ``states`` are ``[1, len(ids) - 1 + N - 1, H]`` when the last id was not fed (generation)
    or ``[1, len(ids) + N - 1, H]`` when it was (teacher forcing; the final position then
    gets no mask entry, like the official evaluate path).
    """
    shift = model.num_image_tokens - 1
    mask = [False] * shift + [token == seg_id for token in ids[1:]]
    mask = mask[: states.shape[1]] + [False] * max(0, states.shape[1] - len(mask))
    return states[0][torch.tensor(mask, device=states.device)]


@torch.inference_mode()
def generate_reference(
    model,
    prompt_ids: list[int],
    clip_pixels: torch.Tensor,
    *,
    eos_id: int,
    seg_id: int,
    max_new_tokens: int,
    forced_ids: list[int] | None = None,
    on_token=None,
) -> GenerationResult:
    """The official LISA v1 generation: no cache, everything recomputed per token.

    Args:
        prompt_ids: prompt ids with one image placeholder.
        clip_pixels: ``[1, 3, h, w]`` CLIP input (re-encoded every step, as the official code).
        forced_ids, on_token: as in :func:`generate_fast`.
    """
    watch = Stopwatch(clip_pixels.device)
    sequence = list(prompt_ids)
    final_states = None
    prefill_ms = None
    finished = False
    for step in range(max_new_tokens):
        if forced_ids is not None and step >= len(forced_ids):
            break
        image_tokens = model.encode_clip(clip_pixels)
        final_states = _run_llm(model, model.embed_with_image(sequence, image_tokens))
        token = _next_token(model, final_states[:, -1])
        if forced_ids is not None:
            token = forced_ids[step]
        sequence.append(token)
        if prefill_ms is None:
            prefill_ms = watch.lap()
        if token == eos_id:
            finished = True
            break
        if on_token is not None:
            on_token(token)
    answer = sequence[len(prompt_ids):]
    if finished:
        answer = answer[:-1]
    seg_states = _official_seg_states(model, sequence, final_states, seg_id) if final_states is not None else _stack([], model)
    return GenerationResult(answer, seg_states, finished, prefill_ms or 0.0, watch.lap())


def teacher_forced_states(
    model, ids: list[int], image_tokens: torch.Tensor, seg_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass over a whole conversation (the official validation mode,
    docs/model-reference.md §9.1).

    Args:
        ids: conversation ids (prompt and answer) with one image placeholder.
        image_tokens: ``[1, N, H]`` projected CLIP tokens.
        seg_id: id of ``[SEG]``.
    Returns:
        all post-norm states ``[1, len(ids) - 1 + N, H]`` and the ``[SEG]`` states ``[K, H]``.
    """
    states = _run_llm(model, model.embed_with_image(ids, image_tokens))
    return states, _official_seg_states(model, ids, states, seg_id)
