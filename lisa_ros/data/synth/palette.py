"""Named colours of the synthetic scenes.

Colour names are part of the instructions ("the red mug"), so each name maps to one RGB base
and objects only jitter it a little (:func:`jitter`), never enough to be mistaken for a
neighbouring name. Non-nameable materials (metal, wood, paper) have their own constants.
"""
from __future__ import annotations

import numpy as np

__all__ = ["COLOURS", "COLOUR_NAMES", "METAL", "DARK_METAL", "WOOD", "PAPER", "jitter",
           "shade_of"]

# name -> RGB (0..255). Chosen to stay distinct from each other under the lighting changes
# of :mod:`lisa_ros.data.synth.background` (brightness 0.8..1.15, mild tint).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 38, 38),
    "green": (46, 150, 62),
    "blue": (40, 84, 196),
    "yellow": (236, 204, 42),
    "orange": (240, 128, 28),
    "purple": (124, 58, 164),
    "pink": (236, 128, 172),
    "white": (236, 236, 230),
    "black": (38, 38, 44),
    "brown": (122, 76, 40),
    "grey": (142, 142, 148),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

METAL = (188, 192, 200)       # steel parts: blades, hammer heads, shafts
DARK_METAL = (96, 98, 106)    # pivots, rivets
WOOD = (176, 124, 72)         # wooden handles that are not the object's named colour
PAPER = (238, 230, 208)       # book pages, labels


def jitter(rgb: tuple[int, int, int], rng: np.random.Generator,
           amount: float = 0.07) -> np.ndarray:
    """``rgb`` with a small per-object variation: one brightness factor in 1 +- amount and a
    per-channel wobble of a third of that. Returns float32 (3,) in 0..255."""
    base = np.asarray(rgb, np.float32)
    gain = 1.0 + rng.uniform(-amount, amount)
    wobble = 1.0 + rng.uniform(-amount / 3, amount / 3, size=3)
    return np.clip(base * gain * wobble, 0, 255).astype(np.float32)


def shade_of(rgb, factor: float) -> np.ndarray:
    """Darker (factor < 1) or lighter (factor > 1, blended toward white) version of ``rgb``."""
    c = np.asarray(rgb, np.float32)
    if factor <= 1.0:
        return c * factor
    return c + (255.0 - c) * min(1.0, factor - 1.0)
