"""Training conversations: one image, several question/answer pairs (LISA's ``offset`` batching).

:func:`make_conversations` turns one :class:`~lisa_ros.train.sources.SceneRecord` into up to
``count`` conversations, each from a different text of the record (the official ReasonSeg loader
samples up to 3 texts per image). Each text gets a random LISA question template
(:func:`~lisa_ros.data.lisa_templates.training_question`) and an answer: one of the record's own
answers (with one mask per ``[SEG]``), or, for official samples without answers, a random
:data:`~lisa_ros.data.lisa_templates.ANSWER_LIST` entry with the record's single target mask.
A :class:`~lisa_ros.train.extension.DataHooks` may add conversations after these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lisa_ros.data.lisa_templates import official_answer, training_question

from .extension import DataHooks
from .sources import SceneRecord

__all__ = ["Conversation", "TrainItem", "make_conversations"]

_OFFICIAL = DataHooks()


@dataclass
class Conversation:
    """One training conversation: the user turn, the answer and one mask per ``[SEG]``.

    ``absent_target`` marks a question about an object the image does not show (its answer says
    so, without ``[SEG]``), as opposed to a maskless question about the scene (VQA); an extra
    loss term may treat the two differently.
    """

    question: str
    answer: str
    masks: list[np.ndarray] = field(default_factory=list)
    absent_target: bool = False


@dataclass
class TrainItem:
    """An image with its conversations (all share the image's encoder passes).

    ``extras`` holds per-image data that data hooks attach for extra loss terms, by name (for
    example per-pixel labels of a synthetic scene); ``collate`` gathers each name per image into
    ``Batch.extras``.
    """

    name: str
    image: np.ndarray
    family: str | None
    conversations: list[Conversation]
    extras: dict[str, Any] = field(default_factory=dict)


def make_conversations(record: SceneRecord, rng: np.random.Generator, count: int, phrase_long_prob: float = 0.0,
                       hooks: DataHooks = _OFFICIAL) -> list[Conversation]:
    """Up to ``count`` conversations of one record, each from a different text, then the
    ``hooks``' extra conversations (drawn from the same ``rng``, after these).

    Args:
        phrase_long_prob: probability that a phrase gets a LONG question template (official: 0).
        hooks: which own answer to train on (:meth:`~lisa_ros.train.extension.DataHooks.pick_answer`)
            and what to add; the default is LISA's data alone.
    Raises:
        ValueError: an answer's ``[SEG]`` count differs from the record's target masks.
    """
    from lisa_ros.data.reasonseg import count_seg

    texts = list(record.texts)
    chosen = rng.choice(len(texts), size=min(count, len(texts)), replace=False)
    conversations = []
    for text_index in chosen:
        question = training_question(texts[int(text_index)], record.is_sentence, rng, phrase_long_prob)
        if record.answers:
            answer = hooks.pick_answer(record.answers, rng)
            masks = list(record.target_masks)
        else:
            answer = official_answer(rng)
            masks = list(record.target_masks[:1])
        if count_seg(answer) != len(masks):
            raise ValueError(
                f"{record.name}: answer {answer!r} has {count_seg(answer)} [SEG] but {len(masks)} masks"
            )
        absent = record.family == "absent" and not masks
        conversations.append(Conversation(question, answer, masks, absent_target=absent))
    return conversations + hooks.extra_conversations(record, rng)
