"""How the from-scratch recipes word answers: described answers, stated answers, a lead word for
"not there".

* Described answers (``--described-answers P``): with probability P, train on an answer that names
  its target before the ``[SEG]`` ("It is the red mug [SEG]."), so the ``[SEG]`` state can build on
  the generated name (:func:`pick_answer`).
* Stated answers (``--stated-answers P``): the verdict right after the name, in the words of the
  checklists of :mod:`.vqa` (:data:`STATED_PRESENT`, :data:`STATED_ABSENT`), so that deciding
  whether to answer with a mask is the same look-up those drill, made at the same place.
* An absent lead (``--absent-lead WORD``): every absent-target answer begins with one word that no
  answer with a mask begins with (:func:`lead_absent_answer`, :func:`present_answer_openings`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["names_target_first", "pick_answer", "STATED_PRESENT", "STATED_ABSENT", "present_answer_openings",
           "lead_absent_answer"]

# Words that do not describe a target ("Sure, it is [SEG]." names nothing).
_GENERIC_WORDS = frozenset(
    "sure it is the segmentation result they are here this and that i found a an there".split()
)


def names_target_first(answer: str) -> bool:
    """True when the text before the first ``[SEG]`` names something ("It is the mug [SEG].")."""
    head = answer.split("[SEG]", 1)[0]
    words = "".join(ch.lower() if ch.isalnum() or ch.isspace() else " " for ch in head).split()
    return any(word not in _GENERIC_WORDS for word in words)


def pick_answer(answers: list[str], rng: np.random.Generator, described_prob: float) -> str:
    """One of ``answers``; with probability ``described_prob`` one that names its target before
    the ``[SEG]`` (when there is one), so the ``[SEG]`` state can build on the generated name."""
    if described_prob > 0 and rng.random() < described_prob:
        named = [a for a in answers if names_target_first(a)]
        if named:
            return named[int(rng.integers(len(named)))]
    return answers[int(rng.integers(len(answers)))]


# Stated answers (see the module docstring).
STATED_PRESENT = "The {desc} {be} here: [SEG]."
STATED_ABSENT = "The {desc} {be} not here."


def present_answer_openings() -> frozenset[str]:
    """First words of every answer template that carries a ``[SEG]`` (the synthetic data's own,
    the official ``ANSWER_LIST`` and :data:`STATED_PRESENT`), template slots stripped of their
    braces: the words an absent-target lead word must differ from."""
    from lisa_ros.data.synth import templates as T

    from lisa_ros.data.lisa_templates import ANSWER_LIST

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)

    texts = [t for v in vars(T).values() for t in strings(v)] + list(ANSWER_LIST) + [STATED_PRESENT]
    return frozenset(t.split(" ", 1)[0].rstrip(",.:;").strip("{}") for t in texts if "[SEG]" in t)


def lead_absent_answer(answer: str, lead: str) -> str:
    """``answer`` with ``lead`` as its first word: "I can't find a mug here." -> "No, I can't find a
    mug here."; "There is no mug." -> "No, there is no mug.". An answer that already begins with
    ``lead`` is kept. Empty ``lead``: unchanged.

    Why: absent-target answers otherwise begin with several words, two of which ("I", "The") also
    begin answers with a mask, so the "not there" probability at the first answer token is split
    and greedy decoding picks a present-target opening unless it is very sure. With one lead word
    that no present-target answer uses, the decision is made by one token (lisa-train --absent-lead).
    """
    if not lead or answer.split(" ", 1)[0].rstrip(",.") == lead:
        return answer
    if answer != "I" and not answer.startswith(("I ", "I'")):  # "I" keeps its capital
        answer = answer[:1].lower() + answer[1:]
    return f"{lead}, {answer}"

