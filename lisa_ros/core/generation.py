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
        passes: LLM forward passes (prompt pass included).
        drafted, accepted: guessed tokens verified and kept (draft decoding; else 0).
    """

    answer_ids: list[int]
    seg_states: torch.Tensor
    finished: bool
    prefill_ms: float
    decode_ms: float
    passes: int = 0
    drafted: int = 0
    accepted: int = 0

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


def greedy_choices(model, states: torch.Tensor) -> list[int]:
    """Greedy choice from each of ``states [n, H]`` (one lm_head call)."""
    return model.llm.lm_head(states).float().argmax(dim=-1).tolist()


def _stack(states: list[torch.Tensor], model) -> torch.Tensor:
    if states:
        return torch.cat(states, dim=0)
    weight = model.llm.lm_head.weight
    return torch.zeros((0, model.config.hidden_size), dtype=weight.dtype, device=weight.device)


def forced_or_greedy(forced_ids, step: int, predicted: int):
    """The token at ``step``: the greedy prediction, or the forced one (None once it has ended)."""
    if forced_ids is None:
        return predicted
    return forced_ids[step] if step < len(forced_ids) else None


class AnswerSoFar:
    """The tokens emitted so far, the ``[SEG]`` states, and the rules that end an answer
    (shared by :func:`generate_fast` and draft decoding)."""

    def __init__(self, model, eos_id: int, seg_id: int, stop_after_masks: int | None, on_token):
        self.model, self.eos_id, self.seg_id = model, eos_id, seg_id
        self.stop_after_masks, self.on_token = stop_after_masks, on_token
        self.ids: list[int] = []
        self.seg_states: list[torch.Tensor] = []
        self.finished = False

    def take(self, token, state: torch.Tensor) -> bool:
        """Emit ``token`` predicted by ``state [1, H]``; True when the answer ends with it
        (EOS, a forced answer's end, or the ``[SEG]`` that ``stop_after_masks`` waits for)."""
        if token is None:
            return True
        if token == self.eos_id:
            self.finished = True
            return True
        self.ids.append(token)
        if self.on_token is not None:
            self.on_token(token)
        if token == self.seg_id:
            self.seg_states.append(state)
            return self.stop_after_masks is not None and len(self.seg_states) >= self.stop_after_masks
        return False

    def result(self, prefill_ms: float, decode_ms: float, **counts) -> "GenerationResult":
        return GenerationResult(self.ids, _stack(self.seg_states, self.model), self.finished, prefill_ms, decode_ms,
                                **counts)


def embed_ids(model, ids: list[int]) -> torch.Tensor:
    """Input embeddings ``[1, len(ids), H]`` of answer token ids."""
    return model.embed_tokens(torch.tensor([ids], device=model.embed_tokens.weight.device))


class _DynamicDecoder:
    """Prefill and decode steps over transformers' growing ``DynamicCache`` (any length, any
    device; the interface of :class:`~lisa_ros.core.static_decoding.StaticDecoder`).

    ``start``/``extend``/``rollback`` serve draft decoding (:mod:`lisa_ros.core.draft_decoding`):
    they feed several tokens at once and drop the cache entries of rejected guesses.
    """

    def __init__(self, model):
        from transformers import DynamicCache

        self.model = model
        self.cache = DynamicCache(config=model.llm.config)

    def prefill(self, embeds: torch.Tensor) -> torch.Tensor:
        return _run_llm(self.model, embeds, self.cache)[:, -1]

    def step(self, token: int) -> tuple[torch.Tensor, int]:
        state = _run_llm(self.model, embed_ids(self.model, [token]), self.cache)[:, -1]
        return state, _next_token(self.model, state)

    def start(self, embeds: torch.Tensor, draft: list[int]) -> tuple[torch.Tensor, list[int]]:
        """The prompt ``[1, L, H]`` and guesses in one pass: the last ``1 + len(draft)`` states
        ``[n, H]`` and their greedy choices."""
        if draft:
            embeds = torch.cat([embeds, embed_ids(self.model, draft)], dim=1)
        states = _run_llm(self.model, embeds, self.cache)[0, -(1 + len(draft)):]
        return states, greedy_choices(self.model, states)

    def extend(self, ids: list[int], width: int | None = None) -> tuple[torch.Tensor, list[int]]:
        """Feed ``ids`` in one pass: their states ``[n, H]`` and greedy choices (``width``, the
        static decoder's padded pass width, does not apply here)."""
        states = _run_llm(self.model, embed_ids(self.model, ids), self.cache)[0]
        return states, greedy_choices(self.model, states)

    def rollback(self, count: int) -> None:
        """Drop the cache entries of the last ``count`` tokens."""
        if count > 0:
            self.cache.crop(-count)  # a negative count removes that many (every 5.x transformers)


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
    drafter=None,
    prompt_ids=(),
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
        drafter: an :class:`~lisa_ros.core.draft_decoding.AnswerDrafter`: verify guessed tokens
            several per pass (:func:`~lisa_ros.core.draft_decoding.generate_drafted`; same
            tokens); ``prompt_ids`` (the prompt's token ids) feed its n-gram look-up.
    """
    if drafter is not None:
        from .draft_decoding import generate_drafted

        return generate_drafted(
            model, prompt_embeds, eos_id=eos_id, seg_id=seg_id, max_new_tokens=max_new_tokens, drafter=drafter,
            prompt_ids=prompt_ids, stop_after_masks=stop_after_masks, on_token=on_token, forced_ids=forced_ids,
            decoder=decoder,
        )
    watch = Stopwatch(prompt_embeds.device)
    fits = decoder is not None and decoder.fits(prompt_embeds.shape[1], max_new_tokens)
    runner = decoder if fits else _DynamicDecoder(model)
    state = runner.prefill(prompt_embeds)
    predicted = _next_token(model, state)
    prefill_ms = watch.lap()
    passes = 1
    answer = AnswerSoFar(model, eos_id, seg_id, stop_after_masks, on_token)
    for step in range(max_new_tokens):
        token = forced_or_greedy(forced_ids, step, predicted)
        if answer.take(token, state) or step + 1 == max_new_tokens:
            break
        state, predicted = runner.step(token)
        passes += 1
    return answer.result(prefill_ms, watch.lap(), passes=passes)


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
    passes = 0
    for step in range(max_new_tokens):
        if forced_ids is not None and step >= len(forced_ids):
            break
        passes += 1
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
    return GenerationResult(answer, seg_states, finished, prefill_ms or 0.0, watch.lap(), passes)


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
