"""Extra conversations about a synthetic scene, beyond the texts of its own instruction.

A synthetic record knows every object's category, colour and visible mask, and the scene's
layout, so one image can be asked much more than its own instruction: more mask supervision per
pass of the image encoders, which a model trained from scratch needs (the lisa-tiny recipes).

* :func:`explicit_extras` (``--extra-explicit N``): other objects of the scene, each named by a
  description unique in it ("the red mug");
* :func:`multi_extras` (``--extra-multi P``): two objects at once;
* :func:`absent_extras` (``--extra-absent N``): objects the scene does not show, answered without
  a mask;
* :func:`layout_extras` (``--extra-spatial N``, ``--extra-comparative N``): the spatial and
  comparative families asked of any scene's layout.

Records without these annotations (ReasonSeg folders) give none.
"""

from __future__ import annotations

import numpy as np

from lisa_ros.data.lisa_templates import official_answer, training_question

from ..conversations import Conversation
from ..sources import SceneRecord
from .answers import STATED_ABSENT, STATED_PRESENT, pick_answer

__all__ = ["explicit_extras", "multi_extras", "absent_extras", "layout_extras", "describable_objects"]

# An object gets an extra "explicit" conversation only if this much of it is visible.
_EXTRA_MIN_PIXELS = 24


def explicit_extras(
    record: SceneRecord, rng: np.random.Generator, count: int, described_prob: float = 0.0, *, stated_prob: float = 0.0
) -> list[Conversation]:
    """Up to ``count`` extra conversations about other objects of a synthetic scene.

    Each names one object by a description unique in the scene (its category, else colour and
    category: "the red mug"), in a SHORT question template, with a LISA template answer and
    the object's visible mask (with probability ``described_prob`` an answer that names the
    object, from the synthetic data's own answer templates; with probability ``stated_prob``,
    drawn last, :data:`STATED_PRESENT`). More mask supervision per image-encoder pass; records
    without object masks (folders) give none.
    """
    if count <= 0 or not record.object_masks:
        return []
    from lisa_ros.data.synth import templates as T
    from lisa_ros.data.synth.language import be, capitalise

    options = describable_objects(record)
    extras = []
    for choice in rng.permutation(len(options))[:count]:
        names, mask, category = options[int(choice)]
        name = names[int(rng.integers(len(names)))]
        # SHORT templates carry the article themselves ("Can you segment the {class_name} ...")
        question = training_question(name, False, rng)
        if described_prob > 0 and rng.random() < described_prob:
            template = T.DESCRIBED_ANSWERS[int(rng.integers(len(T.DESCRIBED_ANSWERS)))]
            answer = capitalise(template.format(desc=name, be=be(category)))
        else:
            answer = official_answer(rng)
        if stated_prob > 0 and rng.random() < stated_prob:
            answer = STATED_PRESENT.format(desc=name, be=be(category))
        extras.append(Conversation(question, answer, [mask]))
    return extras


def layout_extras(record: SceneRecord, rng: np.random.Generator, family: str, count: int,
                  described_prob: float = 0.0, phrase_long_prob: float = 0.0) -> list[Conversation]:
    """Up to ``count`` extra conversations of ``family`` (spatial or comparative) about a synthetic
    scene of any family, from its layout: the family's own queries and answers
    (:func:`~lisa_ros.data.synth.families.phrase_on_layout`), one phrasing each, with the targets'
    visible masks.

    The reasoning families are otherwise asked once per scene of their own, an eighth of the
    images, while every image shows a layout they could be asked of. A query whose target is
    (nearly) hidden is skipped; records without a layout (folders) give none.
    """
    if count <= 0 or record.layout is None:
        return []
    from lisa_ros.data.synth.families import phrase_on_layout

    extras, asked = [], set()
    for _ in range(count):
        query = phrase_on_layout(family, rng, record.layout)
        if query is None:
            break
        masks = [record.object_masks[target] for target in query.targets]
        key = (tuple(query.targets), repr(sorted(query.info.items())))
        if key in asked or any(int(mask.sum()) < _EXTRA_MIN_PIXELS for mask in masks):
            continue  # the same question again, or a target too hidden to learn from
        asked.add(key)
        text = query.texts[int(rng.integers(len(query.texts)))]
        question = training_question(text, query.is_sentence, rng, phrase_long_prob)
        answer = pick_answer([query.answer, *query.answers], rng, described_prob)
        extras.append(Conversation(question, answer, masks))
    return extras


def describable_objects(record: SceneRecord) -> list[tuple[list[str], np.ndarray, str]]:
    """(unique names, visible mask, category) of the objects a phrase can single out."""
    from lisa_ros.data.synth.categories import describe

    categories = [c for c, _ in record.objects]
    pairs = [describe(c, colour) for c, colour in record.objects]
    options = []
    for index, (category, colour) in enumerate(record.objects):
        mask = record.object_masks[index]
        if int(mask.sum()) < _EXTRA_MIN_PIXELS:
            continue
        if categories.count(category) == 1:
            names = [describe(category, None), pairs[index]] if pairs[index] != category else [category]
        elif pairs.count(pairs[index]) == 1 and pairs[index] != category:
            names = [pairs[index]]
        else:
            continue
        options.append((names, mask, category))
    return options


def multi_extras(record: SceneRecord, rng: np.random.Generator, prob: float, described_prob: float = 0.0) -> list[Conversation]:
    """With probability ``prob``, one extra conversation asking for two objects of a synthetic
    scene at once (the data's multi-target templates; two ``[SEG]``, two masks in order)."""
    if prob <= 0 or not record.object_masks or rng.random() >= prob:
        return []
    options = describable_objects(record)
    if len(options) < 2:
        return []
    from lisa_ros.data.synth import templates as T
    from lisa_ros.data.synth.language import be, capitalise

    first, second = (options[int(i)] for i in rng.choice(len(options), size=2, replace=False))
    slots = {"a": first[0][-1], "b": second[0][-1], "be_a": be(first[2]), "be_b": be(second[2])}
    if rng.random() < 0.5:
        sentence = T.MULTI_SENTENCES[int(rng.integers(len(T.MULTI_SENTENCES)))].format(**slots)
        question = training_question(sentence, True, rng)
    else:
        phrase = T.MULTI_PHRASES[int(rng.integers(len(T.MULTI_PHRASES)))].format(**slots)
        question = training_question(phrase, False, rng)
    answers = [a.format(**slots) for a in T.MULTI_ANSWERS]
    answer = capitalise(pick_answer(answers, rng, described_prob))
    return [Conversation(question, answer, [first[1], second[1]])]


def absent_extras(record: SceneRecord, rng: np.random.Generator, expected: float, *,
                  stated_prob: float = 0.0) -> list[Conversation]:
    """Extra conversations about objects that are *not* in a synthetic scene (no ``[SEG]``).

    ``expected`` conversations on average (its integer part always, one more with the
    fractional part as probability). Each asks for a category absent from the scene, or for a
    colour of a present category that no object of it has, in a SHORT question template, and
    is answered with the synthetic data's own absent-target answers. They balance the positive
    :func:`explicit_extras`: the model must look at the image to decide whether to answer
    with a mask (with probability ``stated_prob``, drawn last: :data:`STATED_ABSENT`). Records
    without object lists give none.
    """
    if expected <= 0 or not record.objects:
        return []
    from lisa_ros.data.synth import templates as T
    from lisa_ros.data.synth.categories import CATEGORIES, CATEGORY_NAMES, get_category
    from lisa_ros.data.synth.language import capitalise, slots_for

    count = int(expected) + int(rng.random() < expected - int(expected))
    present = {c for c, _ in record.objects}
    colours = {colour for _, colour in record.objects}
    missing = [c for c in CATEGORY_NAMES if c not in present and c not in colours]
    out = []
    for _ in range(count):
        recolour = [c for c in sorted(present) if get_category(c).colour_adjective]
        if recolour and rng.random() < 0.35:
            category = recolour[int(rng.integers(len(recolour)))]
            have = {colour for c, colour in record.objects if c == category}
            options = [colour for colour in CATEGORIES[category].colours if colour not in have]
            if not options:
                continue
            colour = options[int(rng.integers(len(options)))]
        elif missing:
            category = missing[int(rng.integers(len(missing)))]
            cat = get_category(category)
            colour = cat.colours[int(rng.integers(len(cat.colours)))] if cat.colour_adjective and rng.random() < 0.3 else None
        else:
            continue
        slots = slots_for(category, colour)
        answer = capitalise(T.ABSENT_ANSWERS[int(rng.integers(len(T.ABSENT_ANSWERS)))].format(**slots))
        if stated_prob > 0 and rng.random() < stated_prob:
            answer = STATED_ABSENT.format(**slots)
        out.append(Conversation(training_question(slots["desc"], False, rng), answer, [], absent_target=True))
    return out

