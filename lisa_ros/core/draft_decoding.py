"""Greedy generation that verifies guessed tokens in one pass (draft-and-verify decoding).

LISA's answers are short and formulaic: "Sure, [SEG].", "It is [SEG].", or an explanation that
repeats words of the question. One decode step per token costs a full pass over the weights
(on a GPU) or a full Python round through the layers (on a CPU), whatever the number of tokens
in it. So the continuation is guessed (:class:`AnswerDrafter`: answer templates, then n-gram
look-up in the conversation), the guess is fed together with the last token in one pass, and
the longest prefix of the guess that greedy decoding would have produced is kept:

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
forced answer measures the acceptance a model with that answer would get.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import torch

from .generation import AnswerSoFar, GenerationResult, _DynamicDecoder, forced_or_greedy
from .prompt import IMAGE_TOKEN_INDEX, build_prompt_ids
from .timing import Stopwatch

__all__ = ["DEFAULT_DRAFT_ANSWERS", "AnswerDrafter", "generate_drafted"]

# LISA's answer templates (its training answers when a sample has none), most common first
# (the first is also the guess made before the first token is known).
DEFAULT_DRAFT_ANSWERS = (
    "Sure, [SEG].",
    "It is [SEG].",
    "Sure, it is [SEG].",
    "Sure, the segmentation result is [SEG].",
    "[SEG].",
)


class AnswerDrafter:
    """Guesses of the next answer tokens.

    Args:
        tokenizer: the model's :class:`~lisa_ros.core.tokenizer.LisaTokenizer`.
        answers: answer templates; each is tokenized as an answer (EOS included), exactly as the
            prompt builder tokenizes answers after ``ASSISTANT:``.
        max_draft: most tokens guessed per pass.
        ngram: longest n-gram matched by the look-up.
    """

    def __init__(self, tokenizer, answers: Sequence[str] = DEFAULT_DRAFT_ANSWERS, max_draft: int = 8, ngram: int = 3):
        self.max_draft = int(max_draft)
        self.ngram = int(ngram)
        self.templates = []
        for answer in answers:
            prompt = build_prompt_ids(tokenizer, "?", answer=answer)
            self.templates.append(prompt.ids[prompt.prompt_length:])
        self._context: list[int] = []

    def start(self, prompt_ids: Sequence[int]) -> None:
        """Remember the conversation's tokens (the image placeholder left out) for the look-up."""
        self._context = [token for token in prompt_ids if token != IMAGE_TOKEN_INDEX]

    def propose(self, answer: Sequence[int], limit: int) -> list[int]:
        """Up to ``min(limit, max_draft)`` guesses for the tokens after ``answer``.

        First the template whose beginning is the answer so far (templates in their given
        order), else the tokens that followed the latest earlier occurrence of the answer's
        last ``n`` tokens (``n`` from :attr:`ngram` down to 1) in the templates or the
        conversation; empty if nothing matches.
        """
        limit = min(int(limit), self.max_draft)
        if limit <= 0:
            return []
        answer = list(answer)
        for template in self.templates:
            if len(template) > len(answer) and template[: len(answer)] == answer:
                return template[len(answer):][:limit]
        if not answer:
            return []
        history = self._context + answer
        for n in range(min(self.ngram, len(history) - 1), 0, -1):
            suffix = history[-n:]
            for source in [*self.templates, history]:
                # The latest occurrence that has tokens after it (for the history, before its end).
                for start in range(len(source) - n - (1 if source is history else 0), -1, -1):
                    if source[start : start + n] == suffix and start + n < len(source):
                        return source[start + n : start + n + limit]
        return []


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
    return answer.result(prefill_ms, watch.lap(), **counts)
