"""Text-only question answering about synthetic scenes: the VQA part of LISA's data mixture.

LISA trains on segmentation conversations *and* on LLaVA-Instruct VQA conversations (no
``[SEG]``, cross-entropy only; about 3 samples in 16 of the official mixture). A model trained
from scratch has no LLaVA behind it, so it must learn from somewhere to name what it sees; these
conversations teach that directly, with dense text supervision and no mask-decoder cost:

* "What objects are on the table?" -> "I can see a red mug, a banana and a knife." (left to right)
* "What colour is the mug?" -> "The mug is red." (a category present once)
* "Is there a blue bowl in this image?" -> "Yes, there is a blue bowl in this image." / "No, ..."
* "Which object is on the far left?" / "... the largest?" -> "The red mug is on the far left."
  (only when one object clearly wins)
* checklists (:func:`checklist_extras`): "Which of these are in the image: a cup, a knife and a
  banana?" -> "The cup is not here. The knife is here. The banana is here." Each deciding word
  ("here" / "not") follows the name it decides, so one sequence carries several presence labels.

Questions carry no segmentation request, so they also teach when not to answer with a mask.
"""

from __future__ import annotations

import numpy as np

from ..conversations import Conversation
from ..sources import SceneRecord
from .extras import describable_objects

__all__ = ["vqa_extras", "vqa_kind", "checklist_extras", "exist_conversation", "VQA_KINDS"]

_LIST_QUESTIONS = ("What objects are on the table?", "What can you see in this image?",
                   "List the objects in this image.", "What is on the table?")
_COLOUR_QUESTIONS = ("What colour is the {noun}?", "Which colour does the {noun} have?")
_EXIST_QUESTIONS = ("Is there {a_desc} in this image?", "Can you see {a_desc} here?")
_CHECKLIST_QUESTIONS = ("Which of these are in the image: {items}?", "Check the table for {items}.",
                        "Are these here: {items}?")
# (question, answer tail, which statistic, sign): the object with the highest sign * statistic
_EXTREMES = (
    ("Which object is on the far left?", "on the far left", "x", -1.0),
    ("Which object is on the far right?", "on the far right", "x", 1.0),
    ("Which object is the largest?", "the largest object", "area", 1.0),
    ("Which object is the smallest?", "the smallest object", "area", -1.0),
)
# The winner of an extreme question must beat the runner-up clearly: by this share of the
# image width (position) or this area ratio (size).
_X_MARGIN = 0.08
_AREA_RATIO = 1.5


VQA_KINDS = ("list", "colour", "exist", "extreme", "checklist")


def vqa_kind(question: str) -> str | None:
    """Which of :data:`VQA_KINDS` a question of :func:`vqa_extras` is (None: not one of them)."""
    groups = (("list", _LIST_QUESTIONS), ("colour", _COLOUR_QUESTIONS), ("exist", _EXIST_QUESTIONS),
              ("extreme", tuple(q for q, *_ in _EXTREMES)), ("checklist", _CHECKLIST_QUESTIONS))
    for kind, templates in groups:
        for template in templates:
            head, brace, tail = template.partition("{")
            if question == template or (brace and question.startswith(head) and question.endswith(tail.split("}")[-1])):
                return kind
    return None


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _stats(record: SceneRecord) -> list[dict[str, float]]:
    """Centre x (share of the width) and visible area (pixels) per object."""
    out = []
    for mask in record.object_masks:
        cols = np.flatnonzero(mask.any(axis=0))
        out.append({"x": float(cols.mean()) / mask.shape[1] if cols.size else 0.5, "area": float(mask.sum())})
    return out


def _extreme(record: SceneRecord, rng: np.random.Generator) -> Conversation | None:
    from lisa_ros.data.synth.language import be, capitalise

    if len(record.object_masks) < 2:
        return None
    question, tail, key, sign = _EXTREMES[int(rng.integers(len(_EXTREMES)))]
    values = [sign * s[key] for s in _stats(record)]
    order = np.argsort(values)[::-1]
    best, runner = values[int(order[0])], values[int(order[1])]
    if key == "x" and best - runner < _X_MARGIN:
        return None
    if key == "area" and max(abs(best), abs(runner)) < _AREA_RATIO * max(1.0, min(abs(best), abs(runner))):
        return None
    winner = record.object_masks[int(order[0])]
    named = [(names, category) for names, mask, category in describable_objects(record) if mask is winner]
    if not named:
        return None
    names, category = named[0]
    name = names[int(rng.integers(len(names)))]
    return Conversation(question, capitalise(f"The {name} {be(category)} {tail}."), [])


def exist_conversation(category: str, colour: str | None, present: bool, template: int = 0) -> Conversation:
    """An exist question ("Is there a red mug in this image?", question template number
    ``template``), answered "Yes, there is ..." or "No, there is no ..." as ``present`` says."""
    from lisa_ros.data.synth.language import capitalise, slots_for

    slots = slots_for(category, colour)
    question = _EXIST_QUESTIONS[template % len(_EXIST_QUESTIONS)].format(**slots)
    if present:
        answer = f"Yes, there {slots['be']} {slots['a_desc']} in this image."
    else:
        answer = f"No, there {slots['be']} no {slots['desc']} in this image."
    return Conversation(question, capitalise(answer), [])


def vqa_extras(record: SceneRecord, rng: np.random.Generator, count: int) -> list[Conversation]:
    """Up to ``count`` text-only conversations about a synthetic scene (none for folders)."""
    if count <= 0 or not record.object_masks:
        return []
    from lisa_ros.data.synth.categories import CATEGORIES, CATEGORY_NAMES, get_category, indefinite
    from lisa_ros.data.synth.language import be

    out: list[Conversation] = []
    stats = _stats(record)
    for kind in rng.permutation(4)[:count]:
        if kind == 0:
            order = np.argsort([st["x"] for st in stats], kind="stable")
            things = [indefinite(*record.objects[int(k)]) for k in order]
            question = _LIST_QUESTIONS[int(rng.integers(len(_LIST_QUESTIONS)))]
            out.append(Conversation(question, f"I can see {_join(things)}.", []))
        elif kind == 1:
            categories = [c for c, _ in record.objects]
            single = [(c, colour) for c, colour in record.objects
                      if categories.count(c) == 1 and get_category(c).colour_adjective]
            if not single:
                continue
            category, colour = single[int(rng.integers(len(single)))]
            question = _COLOUR_QUESTIONS[int(rng.integers(len(_COLOUR_QUESTIONS)))].format(noun=category)
            out.append(Conversation(question, f"The {category} {be(category)} {colour}.", []))
        elif kind == 2:
            present = rng.random() < 0.5
            if present:
                category, colour = record.objects[int(rng.integers(len(record.objects)))]
                colour = colour if get_category(category).colour_adjective and rng.random() < 0.5 else None
            else:
                have = {c for c, _ in record.objects}
                missing = [c for c in CATEGORY_NAMES if c not in have]
                if not missing:
                    continue
                category = missing[int(rng.integers(len(missing)))]
                cat = CATEGORIES[category]
                colour = cat.colours[int(rng.integers(len(cat.colours)))] if cat.colour_adjective and rng.random() < 0.5 else None
            out.append(exist_conversation(category, colour, present, int(rng.integers(len(_EXIST_QUESTIONS)))))
        else:
            conversation = _extreme(record, rng)
            if conversation is not None:
                out.append(conversation)
    return out


def checklist_extras(record: SceneRecord, rng: np.random.Generator, count: int,
                     items: tuple[int, int] = (3, 6)) -> list[Conversation]:
    """Up to ``count`` checklist questions: several categories, about half of them in the scene.

    The answer takes the categories in the question's order, one sentence each ("The knife is
    here." / "The cup is not here."). An exist question gives one presence label per sequence at
    its first answer token; a checklist gives one per item, each right after the item's name, so a
    from-scratch LLM gets many more chances to learn to look the name up among its image tokens.

    Args:
        record: a synthetic scene (none for folders, which carry no object list).
        rng: source of every choice.
        count: how many checklists.
        items: the inclusive range of categories per checklist.
    """
    if count <= 0 or not record.objects:
        return []
    from lisa_ros.data.synth.categories import CATEGORY_NAMES, indefinite
    from lisa_ros.data.synth.language import be, capitalise

    have = sorted({c for c, _ in record.objects})
    missing = [c for c in CATEGORY_NAMES if c not in set(have)]
    out = []
    for _ in range(count):
        size = int(rng.integers(items[0], items[1] + 1))
        n_present = min(len(have), int(rng.binomial(size, 0.5)))
        n_absent = min(len(missing), size - n_present)
        chosen = [(c, True) for c in rng.choice(have, n_present, replace=False)]
        chosen += [(c, False) for c in rng.choice(missing, n_absent, replace=False)]
        if not chosen:
            continue
        chosen = [chosen[int(k)] for k in rng.permutation(len(chosen))]
        question = _CHECKLIST_QUESTIONS[int(rng.integers(len(_CHECKLIST_QUESTIONS)))]
        question = question.format(items=_join([indefinite(str(c), None) for c, _ in chosen]))
        answer = " ".join(capitalise(f"the {c} {be(str(c))} {'here' if here else 'not here'}.") for c, here in chosen)
        out.append(Conversation(question, answer, []))
    return out
