"""Guesses of the next answer tokens, for draft-and-verify decoding (:mod:`.draft_decoding`).

A guess costs little (it is checked in a pass that runs anyway) and a right guess saves a pass, so
the drafter guesses from what LISA's answers are made of, most specific first:

1. an answer template whose beginning is the answer so far: LISA's own templates ("Sure,
   [SEG].", ...), any templates the caller adds (``{slots}`` allowed: "The {noun} [SEG] is what
   you need." contributes its fixed pieces), and the model's own recent finished answers (a
   robot asks similar questions; a model answers them with the same few formulas);
2. otherwise n-gram look-up: the tokens that followed the answer's last ``n`` tokens (``n`` = 3, 2,
   1) in those templates, else (``n`` >= 2 only: one repeated token is weak evidence) where they
   last occurred in the conversation itself (the question, and the answer so far).

In free text n-gram guesses are mostly wrong, and a wider pass is not free everywhere (on this
project's CPU a 9-token pass of lisa-tiny costs 1.5 to 2.5 one-token steps). So after an n-gram
guess is rejected at its first token, n-gram guessing pauses for 1, 2, 4, then 8 passes (back to
none after a guess is accepted); template guesses are always made.

Measured on lisa-tiny's greedy answers to 60 held-out scenes (CPU, docs/benchmarks.md §4.2): 1.27
tokens per pass with LISA's templates alone, 1.68 with the answer memory (the default), 1.75 with
our training templates added as well; every answer identical to one-token decoding.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Sequence

from .prompt import IMAGE_TOKEN_INDEX, build_prompt_ids

__all__ = ["DEFAULT_DRAFT_ANSWERS", "AnswerDrafter"]

# LISA's answer templates (its training answers when a sample has none), most common first
# (the first is also the guess made before the first token is known).
DEFAULT_DRAFT_ANSWERS = (
    "Sure, [SEG].",
    "It is [SEG].",
    "Sure, it is [SEG].",
    "Sure, the segmentation result is [SEG].",
    "[SEG].",
)


def _ngram_index(sequences, longest: int) -> dict[tuple, tuple[list[int], int]]:
    """n-gram (1..longest tokens) -> (sequence, where its continuation starts), first occurrence."""
    index: dict[tuple, tuple[list[int], int]] = {}
    for sequence in sequences:
        for end in range(1, len(sequence)):
            for n in range(1, min(longest, end) + 1):
                index.setdefault(tuple(sequence[end - n : end]), (sequence, end))
    return index


class AnswerDrafter:
    """Guesses of the next answer tokens (module docstring for the order).

    Args:
        tokenizer: the model's :class:`~lisa_ros.core.tokenizer.LisaTokenizer`; templates are
            tokenized as answers exactly as the prompt builder tokenizes them after
            ``ASSISTANT:`` (EOS included).
        answers: answer templates, in order of preference.
        max_draft: most tokens guessed per pass.
        ngram: longest n-gram matched by the look-up.
        memory: recent finished answers kept as templates (0: none).
    """

    def __init__(self, tokenizer, answers: Sequence[str] = DEFAULT_DRAFT_ANSWERS, max_draft: int = 8, ngram: int = 3,
                 memory: int = 16):
        self.max_draft = int(max_draft)
        self.ngram = int(ngram)
        self.fixed: list[list[int]] = []  # templates that may start an answer
        self.pieces: list[list[int]] = []  # fixed text after a slot (n-gram look-up only)
        for answer in answers:
            parts = re.split(r"\{[^{}]*\}", answer)
            for index, part in enumerate(parts):
                if not part.strip():
                    continue
                prompt = build_prompt_ids(tokenizer, "?", answer=part.strip())
                ids = prompt.ids[prompt.prompt_length:]
                if index < len(parts) - 1:
                    ids = ids[:-1]  # a slot follows, not the end of the answer
                (self.fixed if index == 0 else self.pieces).append(ids)
        self.recent: deque[list[int]] = deque(maxlen=max(0, int(memory)))
        self._reindex()
        self.start(())

    _LONGEST_PAUSE = 8

    @property
    def templates(self) -> list[list[int]]:
        """The token sequences that may start an answer: the given templates, then recent answers."""
        return self.fixed + list(self.recent)

    def _reindex(self) -> None:
        self._template_index = _ngram_index(self.templates + self.pieces, self.ngram)

    def remember(self, answer_ids: Sequence[int]) -> None:
        """Keep a finished answer (its ids, EOS included) as a template, most recent first."""
        if not self.recent.maxlen:
            return
        answer = list(answer_ids)
        if answer in self.recent:
            self.recent.remove(answer)
        self.recent.appendleft(answer)
        self._reindex()

    def start(self, prompt_ids: Sequence[int]) -> None:
        """Begin an answer: the conversation's tokens (the image placeholder left out) become
        the start of the history the look-up searches."""
        self._history = [token for token in prompt_ids if token != IMAGE_TOKEN_INDEX]
        self._prompt_length = len(self._history)
        self._history_index: dict[tuple, int] = {}
        self._indexed = 0
        self._last_was_ngram = False
        self._pause = 0  # passes left without n-gram guesses
        self._next_pause = 1

    def observe(self, guessed: int, accepted: int) -> None:
        """Feedback on the last guess: ``accepted`` of its ``guessed`` tokens were right."""
        if not (self._last_was_ngram and guessed):
            return
        if accepted:
            self._next_pause = 1
        else:
            self._pause = self._next_pause
            self._next_pause = min(2 * self._next_pause, self._LONGEST_PAUSE)

    def _sync_history(self, answer: list[int]) -> None:
        """Append the answer's new tokens and index the n-grams (2..ngram tokens) now followed by
        a token; the latest occurrence wins, the history's own last tokens are never indexed."""
        known = len(self._history) - self._prompt_length
        if len(answer) < known or answer[:known] != self._history[self._prompt_length:]:
            self.start(self._history[: self._prompt_length])  # another answer: index afresh
            known = 0
        self._history.extend(answer[known:])
        history = self._history
        for end in range(max(self._indexed, 2), len(history)):
            for n in range(2, min(self.ngram, end) + 1):
                self._history_index[tuple(history[end - n : end])] = end
        self._indexed = max(self._indexed, len(history))

    def propose(self, answer: Sequence[int], limit: int) -> list[int]:
        """Up to ``min(limit, max_draft)`` guesses for the tokens after ``answer`` (may be empty)."""
        self._last_was_ngram = False
        limit = min(int(limit), self.max_draft)
        if limit <= 0:
            return []
        answer = list(answer)
        for template in self.templates:
            if len(template) > len(answer) and template[: len(answer)] == answer:
                return template[len(answer):][:limit]
        if not answer:
            return []
        if self._pause:
            self._pause -= 1
            return []
        self._last_was_ngram = True
        self._sync_history(answer)
        history = self._history
        for n in range(min(self.ngram, len(history) - 1), 0, -1):
            suffix = tuple(history[-n:])
            found = self._template_index.get(suffix)
            if found is not None:
                sequence, start = found
                return sequence[start : start + limit]
            start = self._history_index.get(suffix)
            if start is not None:
                return history[start : start + limit]
        return []
