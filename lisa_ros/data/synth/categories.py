"""The object categories of the synthetic scenes: how each is drawn and how it is named.

``size`` is the object's nominal size in canonical pixels (scene height 240) at the front of
the table; objects further back are drawn smaller (:mod:`lisa_ros.data.synth.layout`).
``pose`` says how an object may be placed: ``upright`` objects stand (tilted a few degrees,
maybe mirrored), ``flat`` ones lie on the table at any rotation and are squashed in depth.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from lisa_ros.data.synth import objects_food as food
from lisa_ros.data.synth import objects_kitchen as kitchen
from lisa_ros.data.synth import objects_misc as misc
from lisa_ros.data.synth import objects_tools as tools
from lisa_ros.data.synth.geometry import Part

__all__ = ["Category", "CATEGORIES", "CATEGORY_NAMES", "get_category", "describe",
           "indefinite"]

Builder = Callable[[np.random.Generator, np.ndarray], list[Part]]


@dataclass(frozen=True)
class Category:
    """One drawable object kind.

    Attributes:
        name: the noun used in instructions ("mug", "scissors").
        colours: palette names this object plausibly comes in.
        size: nominal size in canonical pixels (see module docstring).
        pose: ``"upright"`` or ``"flat"``.
        build: parts builder in local units.
        plural: the noun takes plural agreement ("the scissors are").
        colour_adjective: False when the colour would sound silly ("the orange orange").
        unit: counting phrase for plural nouns ("pair of").
    """

    name: str
    colours: tuple[str, ...]
    size: float
    pose: str
    build: Builder
    plural: bool = False
    colour_adjective: bool = True
    unit: str = ""


_CATS = [
    Category("mug", ("red", "blue", "green", "yellow", "white", "black", "orange", "purple",
                     "pink"), 62, "upright", kitchen.build_mug),
    Category("cup", ("red", "blue", "green", "yellow", "white", "orange", "pink", "purple"),
             60, "upright", kitchen.build_cup),
    Category("bottle", ("green", "blue", "brown", "red", "white"), 96, "upright",
             kitchen.build_bottle),
    Category("can", ("red", "blue", "green", "yellow", "grey", "orange", "purple", "black"),
             58, "upright", kitchen.build_can),
    Category("bowl", ("red", "blue", "green", "yellow", "white", "orange", "pink",
                      "purple"), 82, "upright", kitchen.build_bowl),
    Category("plate", ("white", "blue", "yellow", "green", "red", "grey"), 104, "upright",
             kitchen.build_plate),
    Category("apple", ("red", "green", "yellow"), 42, "upright", food.build_apple),
    Category("orange", ("orange",), 42, "upright", food.build_orange,
             colour_adjective=False),
    Category("banana", ("yellow", "green"), 78, "flat", food.build_banana),
    Category("hammer", ("red", "black", "yellow", "brown", "blue", "orange"), 110, "flat",
             tools.build_hammer),
    Category("screwdriver", ("red", "yellow", "blue", "green", "black", "orange"), 92,
             "flat", tools.build_screwdriver),
    Category("knife", ("black", "brown", "white", "red", "blue"), 96, "flat",
             tools.build_knife),
    Category("scissors", ("red", "black", "blue", "orange", "green", "purple", "yellow"),
             78, "flat", tools.build_scissors, plural=True, unit="pair of"),
    Category("book", ("red", "blue", "green", "brown", "black", "purple", "yellow",
                      "orange"), 86, "flat", misc.build_book),
    Category("ball", ("red", "blue", "yellow", "green", "white", "orange", "purple", "pink"),
             46, "upright", misc.build_ball),
    Category("sponge", ("yellow", "green", "blue", "pink", "orange"), 64, "upright",
             misc.build_sponge),
]

CATEGORIES: dict[str, Category] = {c.name: c for c in _CATS}
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORIES)


def get_category(name: str) -> Category:
    """The category called ``name``; KeyError names the known ones."""
    try:
        return CATEGORIES[name]
    except KeyError:
        raise KeyError(f"unknown category {name!r}; known: {', '.join(CATEGORY_NAMES)}") \
            from None


def describe(category: str, colour: str | None = None) -> str:
    """Noun phrase without article: ``"mug"``, ``"red mug"``, ``"orange"`` (colour dropped when
    the category does not take a colour adjective)."""
    cat = get_category(category)
    if colour and cat.colour_adjective:
        return f"{colour} {cat.name}"
    return cat.name


def indefinite(category: str, colour: str | None = None) -> str:
    """Phrase with an indefinite article: ``"a red mug"``, ``"an apple"``,
    ``"a pair of scissors"``, ``"an orange ball"``."""
    cat = get_category(category)
    desc = describe(category, colour)
    if cat.unit:
        return f"a {cat.unit} {desc}"
    return ("an " if desc[0] in "aeiou" else "a ") + desc
