"""Greedy generation that verifies guessed tokens in one pass (draft-and-verify decoding).

LISA's answers are short and formulaic: "Sure, [SEG].", "It is [SEG].", or an explanation that
repeats words of the question. One decode step per token costs a full pass over the weights
(on a GPU) or a full Python round through the layers (on a CPU), whatever the number of tokens
in it. So the continuation is guessed (answer templates, the model's recent answers, n-gram
look-up: :mod:`lisa_ros.core.answer_drafter`), the guess is fed together with the last token in
one pass, and the longest prefix of the guess that greedy decoding would have produced is kept:

* the pass over ``[t, d1 .. dk]`` gives the states that predict the tokens after ``t``, ``d1``,
  ..., ``dk``; the first prediction is the true next token ``t1``; if ``d1 == t1`` the second
  prediction is the true ``t2``, and so on up to the first wrong guess;
* the cache entries of the rejected guesses are dropped (``rollback``), so the cache holds
  exactly what step-by-step decoding would have put there;
* the very first guess rides along with the prompt pass (a template answer costs one pass).

Tokens, ``[SEG]`` states (the states that predict each ``[SEG]``), ``on_token`` calls, ``forced_ids``,
``stop_after_masks`` and ``max_new_tokens`` behave as in
:func:`~lisa_ros.core.generation.generate_fast`; the states differ from step-by-step decoding
only by floating-point summation order (tests: tokens equal, masks within 1e-4 in fp32). With
``forced_ids`` the forced token plays the greedy choice's part in the acceptance test, so a
forced answer measures the acceptance a model with that answer would get (forced answers are
not remembered as the model's own).
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import torch

from .answer_drafter import AnswerDrafter
from .generation import AnswerSoFar, GenerationResult, _DynamicDecoder, forced_or_greedy
from .timing import Stopwatch

__all__ = ["generate_drafted"]

@torch.inference_mode()
def generate_drafted(
    model,
    prompt_embeds: torch.Tensor,
    *,
    eos_id: int,
    seg_id: int,
    max_new_tokens: int,
    drafter: AnswerDrafter,
    prompt_ids: Sequence[int] = (),
    stop_after_masks: int | None = None,
    on_token=None,
    forced_ids: list[int] | None = None,
    decoder=None,
) -> GenerationResult:
    """Greedy generation with guessed tokens verified in one pass each (module docstring).

    Args: as :func:`~lisa_ros.core.generation.generate_fast`, plus ``drafter`` and the prompt's
    ``prompt_ids`` (for the n-gram look-up). The result also counts LLM passes and guessed and
    accepted tokens.
    """
    watch = Stopwatch(prompt_embeds.device)
    drafter.start(prompt_ids)
    width = 1 + drafter.max_draft
    fits = decoder is not None and decoder.fits(prompt_embeds.shape[1], max_new_tokens + width)
    runner = decoder if fits else _DynamicDecoder(model)
    counts = {"passes": 0, "drafted": 0, "accepted": 0}
    observe = getattr(drafter, "observe", None)  # feedback for drafters that adapt

    def verify(states: torch.Tensor, predicted: list[int], draft: list[int], first_step: int) -> deque:
        """The (state, token) pairs a pass has settled, its rejected guesses dropped from the cache."""
        counts["passes"] += 1
        counts["drafted"] += len(draft)
        settled = deque()
        accepted = 0
        for index in range(len(draft) + 1):
            token = forced_or_greedy(forced_ids, first_step + index, predicted[index])
            settled.append((states[index : index + 1], token))
            if index == len(draft) or token is None or draft[index] != token:
                break
            accepted += 1  # the guess was the greedy choice: the next state is valid too
            if token == eos_id:
                break
        counts["accepted"] += accepted
        runner.rollback(len(draft) - accepted)
        if observe is not None:
            observe(len(draft), accepted)
        return settled

    draft = drafter.propose([], max_new_tokens - 1)
    states, predicted = runner.start(prompt_embeds, draft)
    settled = verify(states, predicted, draft, 0)
    prefill_ms = watch.lap()
    answer = AnswerSoFar(model, eos_id, seg_id, stop_after_masks, on_token)
    while True:
        if not settled:
            step = len(answer.ids)  # the step whose token the next pass predicts first
            draft = drafter.propose(answer.ids, max_new_tokens - 1 - step)
            states, predicted = runner.extend([answer.ids[-1], *draft], width)
            settled = verify(states, predicted, draft, step)
        state, token = settled.popleft()
        if answer.take(token, state) or len(answer.ids) == max_new_tokens:
            break
    remember = getattr(drafter, "remember", None)
    if remember is not None and answer.finished and forced_ids is None:  # the model's own answers only
        remember([*answer.ids, eos_id])
    return answer.result(prefill_ms, watch.lap(), **counts)
