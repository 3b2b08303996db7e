"""The eight instruction families: what scene each needs and how it phrases a query whose
answer is unambiguous in that scene.

Every family is a pair of functions:

- ``plan(rng) -> (LayoutRequest, state)``: the objects the scene must (not) contain;
- ``phrase(rng, layout, state) -> Query | None``: the query and answer, or None when this
  layout offers no unambiguous query of the family (the caller draws a new layout).

The geometry behind ``spatial`` and ``comparative`` (what counts as clearly left of, clearly
the largest) lives in :mod:`lisa_ros.data.synth.relations`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from lisa_ros.data.synth import templates as T
from lisa_ros.data.synth.categories import CATEGORY_NAMES, describe, get_category
from lisa_ros.data.synth.knowledge import FUNCTIONAL, WORLD_KNOWLEDGE, Concept, concepts_of
from lisa_ros.data.synth.language import (
    answer_set, be, capitalise, fill_many, slots_for, unique_desc,
)
from lisa_ros.data.synth.layout import MAX_OBJECTS, Layout, LayoutRequest
from lisa_ros.data.synth.relations import comparative_options, unique_hit

__all__ = ["FAMILIES", "Query", "FamilySpec", "FAMILY_SPECS", "family_for_index",
           "DEFAULT_FAMILY_WEIGHTS", "LAYOUT_FAMILIES", "phrase_on_layout"]

FAMILIES = ("explicit", "functional", "world_knowledge", "spatial", "comparative",
            "multi_target", "absent", "explanatory")
# Default mix: every family equally often. Weights are integers; family_for_index cycles
# through a fixed schedule, so any window of sum(weights) consecutive indices holds each
# family exactly `weight` times.
DEFAULT_FAMILY_WEIGHTS: dict[str, int] = {f: 1 for f in FAMILIES}

_SENTENCE_PROB = {"explicit": 0.6, "functional": 0.7, "world_knowledge": 0.6,
                  "spatial": 0.6, "comparative": 0.6, "multi_target": 0.6, "absent": 0.6}
# Object-count weights for n = 1..6 (a family's minimum cuts the low end).
_COUNT_WEIGHTS = np.array([1.0, 2.0, 3.0, 3.0, 2.5, 2.0])


@dataclass
class Query:
    """An instruction for a scene and its target answer.

    Attributes:
        family: one of :data:`FAMILIES`.
        texts: 1..4 phrasings of the same query.
        is_sentence: True for sentence queries, False for noun phrases.
        answer: target answer with one ``[SEG]`` per target (none for ``absent``).
        answers: alternative answers with the same targets.
        targets: layout object indices, one per ``[SEG]``, in answer order.
        explanation: the reason sentence of ``explanatory`` answers, else None.
        info: family details for the JSON: ``concept`` (functional, world_knowledge,
            explanatory); ``relation``, ``reference`` (object index), ``among`` (category the
            comparison is restricted to, or None) for spatial; ``criterion``, ``among`` and
            maybe ``reference`` for comparative; ``absent`` (what was asked for) for absent.
    """

    family: str
    texts: list[str]
    is_sentence: bool
    answer: str
    answers: list[str]
    targets: list[int]
    explanation: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _n_objects(rng: np.random.Generator, lo: int) -> int:
    w = _COUNT_WEIGHTS.copy()
    w[: lo - 1] = 0.0
    return int(rng.choice(np.arange(1, MAX_OBJECTS + 1), p=w / w.sum()))


def _sentence(rng: np.random.Generator, family: str) -> bool:
    return bool(rng.random() < _SENTENCE_PROB[family])


def _clear_unique(layout: Layout, rng: np.random.Generator) -> list[tuple[int, str]]:
    """(index, unique description) of every object that is a clear target."""
    out = []
    for i in range(len(layout)):
        if layout.is_clear_target(i):
            desc = unique_desc(layout, i, rng)
            if desc is not None:
                out.append((i, desc))
    return out


def _any_desc(layout: Layout, i: int, rng: np.random.Generator) -> str:
    """Unique description if there is one, else the bare noun (fine inside an answer)."""
    return unique_desc(layout, i, rng) or layout.objects[i].category


# ------------------------------------------------------------------------------- explicit
def _plan_explicit(rng):
    return LayoutRequest(_n_objects(rng, 1), duplicate_prob=0.35), None


def _phrase_explicit(rng, layout: Layout, _state) -> Query | None:
    options = _clear_unique(layout, rng)
    if not options:
        return None
    i, desc = options[int(rng.integers(len(options)))]
    cat = layout.objects[i].category
    slots = {**slots_for(cat, None), "desc": desc}
    sentence = _sentence(rng, "explicit")
    texts = fill_many(rng, T.EXPLICIT_SENTENCES if sentence else T.EXPLICIT_PHRASES, slots,
                      sentence)
    answer, answers = answer_set(rng, T.DESCRIBED_ANSWERS, T.GENERIC_ANSWERS, slots, 0.5)
    return Query("explicit", texts, sentence, answer, answers, [i])


# ------------------------------------------------------- functional / world knowledge
def _plan_concept(kinds: tuple[str, ...]):
    pool = [c for k in kinds for c in concepts_of(k)]

    def plan(rng):
        concept = pool[int(rng.integers(len(pool)))]
        target = concept.members[int(rng.integers(len(concept.members)))]
        req = LayoutRequest(_n_objects(rng, 1), required=[(target, None)],
                            forbidden=frozenset(concept.members))
        return req, (concept, target)
    return plan


def _concept_target(layout: Layout, concept: Concept) -> int | None:
    hits = [i for i, o in enumerate(layout.objects) if o.category in concept.members]
    if len(hits) != 1 or not layout.is_clear_target(hits[0]):
        return None
    return hits[0]


def _phrase_concept(family: str):
    def phrase(rng, layout: Layout, state) -> Query | None:
        concept, _ = state
        i = _concept_target(layout, concept)
        if i is None:
            return None
        cat = layout.objects[i].category
        slots = slots_for(cat, None)
        sentence = _sentence(rng, family)
        texts = fill_many(rng, concept.sentences if sentence else concept.phrases, slots,
                          sentence)
        specific = T.FUNCTIONAL_ANSWERS if concept.kind == FUNCTIONAL else T.KNOWLEDGE_ANSWERS
        answer, answers = answer_set(rng, specific, T.GENERIC_ANSWERS, slots, 0.6)
        return Query(family, texts, sentence, answer, answers, [i],
                     info={"concept": concept.key})
    return phrase


def _phrase_explanatory(rng, layout: Layout, state) -> Query | None:
    concept, _ = state
    i = _concept_target(layout, concept)
    if i is None:
        return None
    cat = layout.objects[i].category
    reason = concept.reasons[cat]
    slots = {**slots_for(cat, None), "reason": reason, "Reason": capitalise(reason)}
    k = int(rng.integers(1, 4))
    questions = fill_many(rng, concept.sentences, slots, True, k)
    texts = [f"{q} {T.EXPLAIN_SUFFIXES[int(rng.integers(len(T.EXPLAIN_SUFFIXES)))]}"
             for q in questions]
    pool = T.EXPLAIN_FUNCTIONAL if concept.kind == FUNCTIONAL else T.EXPLAIN_KNOWLEDGE
    answer, answers = answer_set(rng, pool, (), slots, 1.0)
    explanation = capitalise(reason) + "."
    answers.append(f"{T.GENERIC_ANSWERS[1]} {explanation}")  # LISA's "Sure, [SEG]. <why>"
    return Query("explanatory", texts, True, answer, answers, [i], explanation,
                 {"concept": concept.key})


# -------------------------------------------------------------------------------- spatial
def _plan_spatial(rng):
    return LayoutRequest(_n_objects(rng, 2), duplicate_prob=0.3), None


def _phrase_spatial(rng, layout: Layout, _state) -> Query | None:
    options = []  # (ref, ref_desc, relation, target, thing noun or None)
    for ref in range(len(layout)):
        ref_desc = unique_desc(layout, ref, rng)
        if ref_desc is None:
            continue
        others = [j for j in range(len(layout)) if j != ref]
        for rel in T.SPATIAL_RELATIONS:
            hit = unique_hit(layout, ref, rel, others)
            if hit is not None:
                options.append((ref, ref_desc, rel, hit, None))
            for cat in sorted({layout.objects[j].category for j in others}):
                same = [j for j in others if layout.objects[j].category == cat]
                if len(same) >= 2 and not get_category(cat).plural:
                    hit = unique_hit(layout, ref, rel, same)
                    if hit is not None:
                        options.append((ref, ref_desc, rel, hit, cat))
    if not options:
        return None
    ref, ref_desc, rel, target, noun = options[int(rng.integers(len(options)))]
    sentence = _sentence(rng, "spatial")
    words = T.SPATIAL_RELATIONS[rel]
    thing = noun or T.THINGS[int(rng.integers(len(T.THINGS)))]
    pool = T.SPATIAL_SENTENCES if sentence else T.SPATIAL_PHRASES
    if noun:  # "whatever is left of ..." would not say it is a mug
        pool = tuple(t for t in pool if "{thing}" in t)
    k = int(rng.integers(1, 5))
    texts = []
    for _ in range(k):
        slots = {"thing": thing, "ref": ref_desc, "rel": words[int(rng.integers(len(words)))]}
        texts += [t for t in fill_many(rng, pool, slots, sentence, 1) if t not in texts]
    tcat = layout.objects[target].category
    aslots = {**slots_for(tcat, None), "desc": _any_desc(layout, target, rng)}
    answer, answers = answer_set(rng, T.DESCRIBED_ANSWERS, T.GENERIC_ANSWERS, aslots, 0.5)
    return Query("spatial", texts, sentence, answer, answers, [target],
                 info={"relation": rel, "reference": ref, "among": noun})


# ---------------------------------------------------------------------------- comparative
def _plan_comparative(rng):
    return LayoutRequest(_n_objects(rng, 2), duplicate_prob=0.35), None


def _phrase_comparative(rng, layout: Layout, _state) -> Query | None:
    options = comparative_options(layout, rng)
    if not options:
        return None
    crit, target, noun, ref = options[int(rng.integers(len(options)))]
    sentence = _sentence(rng, "comparative")
    phrases, sentences = T.COMPARATIVE[crit]
    slots = {"thing": noun or T.THINGS[int(rng.integers(len(T.THINGS)))]}
    if ref is not None:
        slots["ref"] = unique_desc(layout, ref, rng)
    pool = sentences if sentence else phrases
    if noun:
        pool = tuple(t for t in pool if "{thing}" in t)
    texts = fill_many(rng, pool, slots, sentence)
    tcat = layout.objects[target].category
    aslots = {**slots_for(tcat, None), "desc": _any_desc(layout, target, rng)}
    answer, answers = answer_set(rng, T.DESCRIBED_ANSWERS, T.GENERIC_ANSWERS, aslots, 0.5)
    info = {"criterion": crit, "among": noun}
    if ref is not None:
        info["reference"] = ref
    return Query("comparative", texts, sentence, answer, answers, [target], info=info)


# ------------------------------------------------------------------------------ multi_target
def _plan_multi(rng):
    return LayoutRequest(_n_objects(rng, 2), duplicate_prob=0.3), None


def _phrase_multi(rng, layout: Layout, _state) -> Query | None:
    options = _clear_unique(layout, rng)
    if len(options) < 2:
        return None
    pick = rng.choice(len(options), size=2, replace=False)
    (i, a), (j, b) = options[int(pick[0])], options[int(pick[1])]
    slots = {"a": a, "b": b, "be_a": be(layout.objects[i].category),
             "be_b": be(layout.objects[j].category)}
    sentence = _sentence(rng, "multi_target")
    texts = fill_many(rng, T.MULTI_SENTENCES if sentence else T.MULTI_PHRASES, slots, sentence)
    answer, answers = answer_set(rng, T.MULTI_ANSWERS, (), slots, 1.0)
    return Query("multi_target", texts, sentence, answer, answers, [i, j])


# ---------------------------------------------------------------------------------- absent
def _plan_absent(rng):
    return LayoutRequest(_n_objects(rng, 1), duplicate_prob=0.3), None


def _phrase_absent(rng, layout: Layout, _state) -> Query | None:
    present = {o.category for o in layout.objects}
    recolour = []  # (category, missing colour, the colour present if only one instance)
    for cat in sorted(present):
        c = get_category(cat)
        if not c.colour_adjective:
            continue
        have = {o.colour for o in layout.objects if o.category == cat}
        missing = [col for col in c.colours if col not in have]
        if missing:
            only = next(iter(have)) if layout.count(cat) == 1 else None
            recolour.append((cat, str(rng.choice(missing)), only))
    info: dict[str, Any]
    if recolour and rng.random() < 0.35:
        cat, colour, only = recolour[int(rng.integers(len(recolour)))]
        slots = {**slots_for(cat, colour), "colour": only or ""}
        specific = T.ABSENT_COLOUR_ANSWERS if only else ()
        info = {"absent": describe(cat, colour), "present_colour": only}
    else:
        colours = {o.colour for o in layout.objects}
        # "the orange" next to an orange ball reads as a trick question: skip colour names
        missing_cats = [c for c in CATEGORY_NAMES if c not in present and c not in colours]
        cat = missing_cats[int(rng.integers(len(missing_cats)))]
        c = get_category(cat)
        colour = str(rng.choice(c.colours)) if c.colour_adjective and rng.random() < 0.3 \
            else None
        slots, specific = slots_for(cat, colour), ()
        info = {"absent": describe(cat, colour)}
    sentence = _sentence(rng, "absent")
    texts = fill_many(rng, T.EXPLICIT_SENTENCES if sentence else T.EXPLICIT_PHRASES, slots,
                      sentence)
    answer, answers = answer_set(rng, specific, T.ABSENT_ANSWERS, slots, 0.5)
    return Query("absent", texts, sentence, answer, answers, [], info=info)


# ------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class FamilySpec:
    """``plan`` and ``phrase`` of one family (see module docstring)."""

    name: str
    plan: Callable
    phrase: Callable


FAMILY_SPECS: dict[str, FamilySpec] = {
    "explicit": FamilySpec("explicit", _plan_explicit, _phrase_explicit),
    "functional": FamilySpec("functional", _plan_concept((FUNCTIONAL,)),
                             _phrase_concept("functional")),
    "world_knowledge": FamilySpec("world_knowledge", _plan_concept((WORLD_KNOWLEDGE,)),
                                  _phrase_concept("world_knowledge")),
    "spatial": FamilySpec("spatial", _plan_spatial, _phrase_spatial),
    "comparative": FamilySpec("comparative", _plan_comparative, _phrase_comparative),
    "multi_target": FamilySpec("multi_target", _plan_multi, _phrase_multi),
    "absent": FamilySpec("absent", _plan_absent, _phrase_absent),
    "explanatory": FamilySpec("explanatory", _plan_concept((FUNCTIONAL, WORLD_KNOWLEDGE)),
                              _phrase_explanatory),
}


# Families whose queries read nothing but the layout (their plan leaves no state), so that any
# scene's layout can be asked one: training adds such questions to scenes of every family.
LAYOUT_FAMILIES = ("spatial", "comparative")


def phrase_on_layout(family: str, rng: np.random.Generator, layout: Layout) -> Query | None:
    """A query of ``family`` (one of :data:`LAYOUT_FAMILIES`) about ``layout``, whatever family
    the layout was planned for; None when the layout offers none (one object, or no unique
    relation or extreme)."""
    if family not in LAYOUT_FAMILIES:
        raise ValueError(f"{family!r} queries need their own plan; layout-only families: {', '.join(LAYOUT_FAMILIES)}")
    return FAMILY_SPECS[family].phrase(rng, layout, None)


def _schedule(families: tuple[str, ...], weights: dict[str, int]) -> list[str]:
    """Smooth weighted round robin: each family ``weight`` times per cycle, spread out."""
    w = {f: int(weights.get(f, 1)) for f in families}
    if any(v < 0 for v in w.values()) or sum(w.values()) == 0:
        raise ValueError(f"family weights must be >= 0 with a positive sum, got {w}")
    current = {f: 0 for f in families}
    total = sum(w.values())
    cycle = []
    for _ in range(total):
        for f in families:
            current[f] += w[f]
        best = max(families, key=lambda f: current[f])
        current[best] -= total
        cycle.append(best)
    return cycle


def family_for_index(index: int, families: tuple[str, ...] | list[str] | None = None,
                     weights: dict[str, int] | None = None) -> str:
    """The family of scene ``index``: a fixed cycle over ``families`` (default: all, in
    :data:`FAMILIES` order) with integer ``weights`` (default: equal). Independent of the
    seed, so a family filter is deterministic and balanced."""
    fams = tuple(families) if families else FAMILIES
    unknown = [f for f in fams if f not in FAMILY_SPECS]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    cycle = _schedule(fams, weights or DEFAULT_FAMILY_WEIGHTS)
    return cycle[index % len(cycle)]
