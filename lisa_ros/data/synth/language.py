"""Small language helpers shared by the instruction families: unique referring expressions,
agreement, and drawing several phrasings from a template pool."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from lisa_ros.data.synth.categories import describe, get_category, indefinite
from lisa_ros.data.synth.layout import Layout

__all__ = ["MAX_TEXTS", "be", "capitalise", "unique_desc", "fill_many", "answer_set", "slots_for"]

MAX_TEXTS = 4  # ReasonSeg keeps 1..5 phrasings per image; we write 1..4


def be(category: str) -> str:
    """The verb that agrees with the category noun ("is", or "are" for scissors)."""
    return "are" if get_category(category).plural else "is"


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def slots_for(category: str, colour: str | None) -> dict[str, str]:
    """``desc``, ``a_desc``, ``be`` and ``noun`` slots for an object description."""
    return {"desc": describe(category, colour), "a_desc": indefinite(category, colour),
            "be": be(category), "noun": category}


def unique_desc(layout: Layout, i: int, rng: np.random.Generator,
                colour_prob: float = 0.4) -> str | None:
    """A noun phrase (no article) that picks out object ``i`` alone, or None.

    The bare category noun when the category occurs once (with the colour added anyway with
    probability ``colour_prob``, still unique); colour + noun when only that pair is unique.
    """
    obj = layout.objects[i]
    cat = get_category(obj.category)
    if layout.count(obj.category) == 1:
        if cat.colour_adjective and rng.random() < colour_prob:
            return describe(obj.category, obj.colour)
        return obj.category
    if cat.colour_adjective and layout.count(obj.category, obj.colour) == 1:
        return describe(obj.category, obj.colour)
    return None


def fill_many(rng: np.random.Generator, templates: Sequence[str], slots: dict[str, str],
              sentence: bool, k: int | None = None) -> list[str]:
    """``k`` (default: 1..4 at random) different templates filled with ``slots``, distinct
    after filling, in random order; sentences get a capital first letter."""
    if k is None:
        k = int(rng.integers(1, MAX_TEXTS + 1))
    k = max(1, min(k, len(templates)))
    out: list[str] = []
    for j in rng.permutation(len(templates)):
        text = templates[j].format(**slots)
        text = capitalise(text) if sentence else text
        if text not in out:
            out.append(text)
        if len(out) == k:
            break
    return out


def answer_set(rng: np.random.Generator, specific: Sequence[str], generic: Sequence[str],
               slots: dict[str, str], specific_prob: float = 0.6,
               n_alternatives: int = 3) -> tuple[str, list[str]]:
    """Primary answer plus up to ``n_alternatives`` other phrasings (all with the same
    ``[SEG]`` count), capitalised. The primary comes from ``specific`` with probability
    ``specific_prob``, else from ``generic``; the alternatives mix both pools."""
    use_specific = bool(specific) and (not generic or rng.random() < specific_prob)
    first_pool = specific if use_specific else generic
    primary = capitalise(first_pool[int(rng.integers(len(first_pool)))].format(**slots))
    rest = [capitalise(t.format(**slots)) for t in list(specific) + list(generic)]
    rest = [t for t in dict.fromkeys(rest) if t != primary]
    pick = rng.permutation(len(rest))[:n_alternatives]
    return primary, [rest[j] for j in sorted(pick)]
