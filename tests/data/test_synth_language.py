"""Categories, concepts, templates and the tokenizer corpus."""
from __future__ import annotations

import re
import string

import pytest

from lisa_ros.data.synth import CATEGORIES, COLOUR_NAMES, instruction_corpus
from lisa_ros.data.synth import templates as T
from lisa_ros.data.synth.categories import describe, indefinite
from lisa_ros.data.synth.knowledge import CONCEPTS, FUNCTIONAL, WORLD_KNOWLEDGE


def test_categories_have_valid_colours_and_builders():
    assert len(CATEGORIES) >= 10
    for cat in CATEGORIES.values():
        assert cat.colours and set(cat.colours) <= set(COLOUR_NAMES)
        assert cat.pose in ("upright", "flat") and cat.size > 0


@pytest.mark.parametrize("cat, colour, phrase, article", [
    ("mug", "red", "red mug", "a red mug"), ("apple", None, "apple", "an apple"),
    ("orange", "orange", "orange", "an orange"), ("ball", "orange", "orange ball",
                                                   "an orange ball"),
    ("scissors", "blue", "blue scissors", "a pair of blue scissors"),
])
def test_naming(cat, colour, phrase, article):
    assert describe(cat, colour) == phrase and indefinite(cat, colour) == article


def test_concepts_are_consistent():
    keys = [c.key for c in CONCEPTS]
    assert len(keys) == len(set(keys))
    kinds = {c.kind for c in CONCEPTS}
    assert kinds == {FUNCTIONAL, WORLD_KNOWLEDGE}
    for c in CONCEPTS:
        assert c.members and set(c.members) <= set(CATEGORIES)
        assert set(c.reasons) == set(c.members), c.key
        assert c.phrases and c.sentences
        assert all(s[0].isupper() and s.endswith((".", "?")) for s in c.sentences), c.key
        assert all(r[0].islower() and not r.endswith(".") for r in c.reasons.values()), c.key
    covered = {m for c in CONCEPTS for m in c.members}
    assert covered == set(CATEGORIES)  # every category can be asked for by what it is for


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def test_templates_use_known_slots_only():
    known = {"desc", "a_desc", "be", "noun", "thing", "ref", "rel", "a", "b", "be_a", "be_b",
             "reason", "Reason", "colour"}
    pools = [T.GENERIC_ANSWERS, T.DESCRIBED_ANSWERS, T.EXPLICIT_PHRASES, T.EXPLICIT_SENTENCES,
             T.FUNCTIONAL_ANSWERS, T.KNOWLEDGE_ANSWERS, T.SPATIAL_PHRASES, T.SPATIAL_SENTENCES,
             T.MULTI_PHRASES, T.MULTI_SENTENCES, T.MULTI_ANSWERS, T.ABSENT_ANSWERS,
             T.ABSENT_COLOUR_ANSWERS, T.EXPLAIN_FUNCTIONAL, T.EXPLAIN_KNOWLEDGE]
    pools += [p for pair in T.COMPARATIVE.values() for p in pair]
    for pool in pools:
        assert len(set(pool)) == len(pool)
        for t in pool:
            assert _fields(t) <= known, t
    assert all(t.count("[SEG]") == 1 for t in T.GENERIC_ANSWERS + T.DESCRIBED_ANSWERS)
    assert all(t.count("[SEG]") == 2 for t in T.MULTI_ANSWERS)
    assert all("[SEG]" not in t for t in T.ABSENT_ANSWERS + T.ABSENT_COLOUR_ANSWERS)


def test_phrasing_counts_per_family():
    explicit = len(T.EXPLICIT_PHRASES) + len(T.EXPLICIT_SENTENCES)
    functional = sum(len(c.phrases) + len(c.sentences) for c in CONCEPTS if c.kind == FUNCTIONAL)
    knowledge = sum(len(c.phrases) + len(c.sentences) for c in CONCEPTS
                    if c.kind == WORLD_KNOWLEDGE)
    spatial = len(T.SPATIAL_PHRASES) + len(T.SPATIAL_SENTENCES)
    comparative = sum(len(a) + len(b) for a, b in T.COMPARATIVE.values())
    multi = len(T.MULTI_PHRASES) + len(T.MULTI_SENTENCES)
    for n in (explicit, functional, knowledge, spatial, comparative, multi):
        assert n >= 12
    assert len(T.ABSENT_ANSWERS) >= 8 and len(T.EXPLAIN_SUFFIXES) >= 5


def test_corpus_covers_every_word_the_generator_says(synth_samples):
    corpus = instruction_corpus()
    assert corpus == instruction_corpus()            # deterministic
    assert len(corpus) > 5000 and len(set(corpus)) == len(corpus)
    assert any("[SEG]" in line for line in corpus)
    words = {w for line in corpus for w in re.findall(r"[A-Za-z']+", line.lower())}
    for s in synth_samples:
        for text in s.texts + [s.answer] + s.answers:
            missing = set(re.findall(r"[A-Za-z']+", text.lower())) - words
            assert not missing, (text, missing)
