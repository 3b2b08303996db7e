"""Tools lying on the table: hammer, screwdriver, knife, scissors.

Local units along +x (nominal length 1, x in about [-0.5, 0.5]); the named colour is the
handle's. See :mod:`lisa_ros.data.synth.geometry`.
"""
from __future__ import annotations

import math

import numpy as np

from lisa_ros.data.synth.geometry import Part, ellipse, rect, rounded_rect
from lisa_ros.data.synth.palette import DARK_METAL, METAL, shade_of

__all__ = ["build_hammer", "build_screwdriver", "build_knife", "build_scissors"]

ALONG_X = 0.0
ACROSS = math.pi / 2
_METAL = np.asarray(METAL, np.float32)
_BLADE = np.array([212, 216, 224], np.float32)


def _rotated(points: np.ndarray, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return points @ np.array([[c, s], [-s, c]])


def build_hammer(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Hammer: long handle, steel head across its end with a striking face and a claw."""
    hw = 0.045 * rng.uniform(0.9, 1.15)
    parts = [Part(rounded_rect(-0.5, -hw, 0.28, hw, 0.035), rgb, "cyl", ALONG_X, (0.0, 0.0),
                  hw, gloss=0.3, outline=0.35)]
    if rng.random() < 0.5:  # rubber grip
        parts.append(Part(rounded_rect(-0.5, -hw * 1.15, -0.2, hw * 1.15, 0.04),
                          shade_of(rgb, 0.6), "cyl", ALONG_X, (0.0, 0.0), hw * 1.15,
                          gloss=0.15, outline=0.3))
    claw = np.array([[0.26, 0.05], [0.36, 0.05], [0.35, 0.15], [0.33, 0.25], [0.315, 0.255],
                     [0.305, 0.17], [0.295, 0.255], [0.28, 0.25], [0.268, 0.15]])
    parts += [
        Part(rect(0.26, -0.15, 0.36, 0.07), _METAL, "cyl", ACROSS, (0.31, 0.0), 0.05,
             gloss=0.6, outline=0.35),
        Part(claw, _METAL, "cyl", ACROSS, (0.31, 0.0), 0.05, gloss=0.6, outline=0.35),
        Part(rounded_rect(0.245, -0.24, 0.375, -0.14, 0.015), shade_of(_METAL, 0.9), "cyl",
             ACROSS, (0.31, 0.0), 0.065, gloss=0.7, outline=0.35),
    ]
    return parts


def build_screwdriver(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Screwdriver: ridged handle, metal ferrule, thin shaft with a flat tip."""
    hw = 0.075 * rng.uniform(0.9, 1.1)
    parts = [Part(rounded_rect(-0.5, -hw, -0.08, hw, 0.05), rgb, "cyl", ALONG_X, (0.0, 0.0),
                  hw, gloss=0.4, outline=0.35)]
    for y in (-0.5 * hw, 0.0, 0.5 * hw):
        parts.append(Part(np.array([[-0.45, y], [-0.13, y]]), shade_of(rgb, 0.7), width=0.012,
                          closed=False))
    parts += [
        Part(rect(-0.09, -0.05, -0.03, 0.05), _METAL, "cyl", ALONG_X, (0.0, 0.0), 0.05,
             gloss=0.6, outline=0.3),
        Part(rect(-0.04, -0.018, 0.44, 0.018), _METAL, "cyl", ALONG_X, (0.0, 0.0), 0.018,
             gloss=0.7, outline=0.35),
        Part(np.array([[0.44, -0.018], [0.5, -0.008], [0.5, 0.008], [0.44, 0.018]]), _METAL,
             outline=0.35),
    ]
    return parts


def build_knife(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Kitchen knife: handle with two rivets, bolster, pointed blade."""
    blade = np.array([[-0.07, -0.06], [0.38, -0.06], [0.5, -0.045], [0.44, -0.01],
                      [0.25, 0.035], [-0.07, 0.05]])
    blade[:, 1] *= rng.uniform(0.85, 1.15)
    metal = np.asarray(METAL, np.float32)
    return [
        Part(rounded_rect(-0.5, -0.055, -0.1, 0.055, 0.04), rgb, "cyl", ALONG_X, (0.0, 0.0),
             0.055, gloss=0.3, outline=0.35),
        Part(ellipse(-0.4, 0.0, 0.018, 0.018), metal),
        Part(ellipse(-0.2, 0.0, 0.018, 0.018), metal),
        Part(rect(-0.11, -0.062, -0.07, 0.062), metal, "cyl", ALONG_X, (0.0, 0.0), 0.062,
             gloss=0.5, outline=0.35),
        Part(blade, _BLADE, "cyl", ALONG_X, (0.2, -0.005), 0.055, gloss=0.5, outline=0.35),
        Part(np.array([[-0.06, blade[0, 1] + 0.01], [0.37, blade[1, 1] + 0.01]]),
             shade_of(_BLADE, 1.3), width=0.008, closed=False),
    ]


def build_scissors(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Scissors: two steel blades crossing at a pivot, two coloured finger rings."""
    opening = rng.uniform(4.0, 14.0)  # degrees each blade turns away from the axis
    blade = np.array([[-0.06, -0.03], [0.1, -0.035], [0.5, -0.004], [0.5, 0.004],
                      [0.1, 0.025], [-0.06, 0.02]])
    parts: list[Part] = []
    for sign in (1.0, -1.0):
        deg = sign * opening
        ring_c = _rotated(np.array([[-0.3, -0.13 * sign]]), deg)[0]
        arm = _rotated(np.array([[-0.04, -0.015 * sign], [-0.17, -0.09 * sign]]), deg)
        b = _rotated(blade * np.array([1.0, sign]), -deg)
        parts += [
            Part(ellipse(ring_c[0], ring_c[1], 0.13, 0.085, rot=deg), rgb, width=0.045,
                 outline=0.3),
            Part(arm, rgb, width=0.05, closed=False),
            Part(b, _METAL, "cyl", math.radians(-deg), (0.2, 0.0), 0.03, gloss=0.6,
                 outline=0.35),
        ]
    parts.append(Part(ellipse(0.0, 0.0, 0.025, 0.025), np.asarray(DARK_METAL, np.float32)))
    return parts
