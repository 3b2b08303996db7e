"""LISA's question and answer templates: how a ReasonSeg text becomes one conversation.

The official loaders wrap each dataset text in a random template: SHORT templates for phrases
(``is_sentence`` false; the phrase lower-cased), LONG templates for sentences. Official samples
carry no answer, so the answer is a random :data:`ANSWER_LIST` entry. Validation uses one fixed
question per sample (:func:`validation_question`) and the answer ``"[SEG]."``.

They live with the data, below both users: training draws from them
(:mod:`lisa_ros.train.conversations`) and evaluation asks with them
(:mod:`lisa_ros.eval.evaluate`). Pure text and numpy; the inference core does not need them (the
segmenter appends :data:`lisa_ros.core.prompt.SEG_PROMPT_SUFFIX` to an instruction itself).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SHORT_QUESTION_LIST",
    "LONG_QUESTION_LIST",
    "EXPLANATORY_QUESTION_LIST",
    "ANSWER_LIST",
    "VALIDATION_ANSWER",
    "training_question",
    "validation_question",
    "official_answer",
]

SHORT_QUESTION_LIST = (
    "Can you segment the {class_name} in this image?",
    "Please segment the {class_name} in this image.",
    "What is {class_name} in this image? Please respond with segmentation mask.",
    "What is {class_name} in this image? Please output segmentation mask.",
)
LONG_QUESTION_LIST = (
    "{sent} Please respond with segmentation mask.",
    "{sent} Please output segmentation mask.",
)
EXPLANATORY_QUESTION_LIST = (
    "Please output segmentation mask and explain why.",
    "Please output segmentation mask and explain the reason.",
    "Please output segmentation mask and give some explanation.",
)
ANSWER_LIST = (
    "It is [SEG].",
    "Sure, [SEG].",
    "Sure, it is [SEG].",
    "Sure, the segmentation result is [SEG].",
    "[SEG].",
)
# The assistant turn of the official teacher-forced validation.
VALIDATION_ANSWER = "[SEG]."


def training_question(text: str, is_sentence: bool, rng: np.random.Generator, phrase_long_prob: float = 0.0) -> str:
    """One training question for ``text`` (the user turn after ``<image>\\n``).

    Args:
        text: one ReasonSeg text (a phrase or a sentence).
        is_sentence: the sample's ``is_sentence``.
        rng: source of the template choice.
        phrase_long_prob: probability that a phrase gets a LONG template instead (0 is the
            official behaviour; a little helps a deployed model answer bare phrases, which the
            segmenter sends as ``"<phrase> Please output segmentation mask."``).
    """
    text = text.strip()
    if not is_sentence and rng.random() >= phrase_long_prob:
        template = SHORT_QUESTION_LIST[int(rng.integers(len(SHORT_QUESTION_LIST)))]
        return template.format(class_name=text.lower())
    template = LONG_QUESTION_LIST[int(rng.integers(len(LONG_QUESTION_LIST)))]
    return template.format(sent=text)


def validation_question(text: str, is_sentence: bool) -> str:
    """The official validation question (dataset.py:388-411), without the ``<image>\\n``."""
    text = text.strip()
    if is_sentence:
        return f"{text} Please output segmentation mask."
    return f"What is {text} in this image? Please output segmentation mask."


def official_answer(rng: np.random.Generator) -> str:
    """A random answer of :data:`ANSWER_LIST` (for samples without their own answer)."""
    return ANSWER_LIST[int(rng.integers(len(ANSWER_LIST)))]
