"""Kitchen objects seen from the side: mug, cup, bottle, can, bowl, plate.

Each builder returns parts in local units (nominal size 1, origin at the object centre, y
down; see :mod:`lisa_ros.data.synth.geometry`), back parts first. ``rgb`` is the jittered
named colour; secondary colours come from ``rng``.
"""
from __future__ import annotations

import math

import numpy as np

from lisa_ros.data.synth.geometry import Part, arc, ellipse, rect, rounded_rect
from lisa_ros.data.synth.palette import COLOURS, METAL, PAPER, shade_of

__all__ = ["build_mug", "build_cup", "build_bottle", "build_can", "build_bowl", "build_plate"]

VERTICAL = math.pi / 2  # cylinder axis of upright objects
_COFFEE = np.array([70, 42, 24], np.float32)


def _upright_body(half_w: float, top: float, bottom: float, bottom_w: float | None = None,
                  curve: float = 0.04) -> np.ndarray:
    """Side view of a (possibly tapered) cylinder: flat top edge, elliptical bottom edge."""
    bw = half_w if bottom_w is None else bottom_w
    return np.concatenate([[[-half_w, top], [half_w, top]],
                           arc(0.0, bottom - curve, bw, curve, 0, 180, 16)])


def build_mug(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Mug: cylinder body, handle ring on the right (mirroring puts it left), dark inside."""
    bw = 0.30 * rng.uniform(0.9, 1.1)
    bh = 0.36
    inside = _COFFEE if rng.random() < 0.4 else shade_of(rgb, 0.35)
    return [
        Part(arc(bw * 0.95, -0.02, 0.17, 0.2, -75, 75), shade_of(rgb, 0.9), width=0.075,
             closed=False, outline=0.25),
        Part(_upright_body(bw, -bh, bh), rgb, "cyl", VERTICAL, (0.0, 0.0), bw, gloss=0.35,
             outline=0.3),
        Part(ellipse(0.0, -bh, bw, 0.065), shade_of(rgb, 1.12), outline=0.25),
        Part(ellipse(0.0, -bh + 0.006, bw * 0.86, 0.048), inside),
    ]


def build_cup(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Paper cup: tapered body without a handle, optional cardboard sleeve."""
    tw, bwid, top, bot = 0.3, 0.21 * rng.uniform(0.92, 1.08), -0.4, 0.4
    parts = [Part(_upright_body(tw, top, bot, bwid, 0.03), rgb, "cyl", VERTICAL, (0.0, 0.0),
                  (tw + bwid) / 2, gloss=0.2, outline=0.3)]
    if rng.random() < 0.6:
        def half(y: float) -> float:
            return tw + (bwid - tw) * (y - top) / (bot - top)
        y0, y1 = -0.06, 0.16
        sleeve = np.array([[-half(y0), y0], [half(y0), y0], [half(y1), y1], [-half(y1), y1]])
        colour = np.array([172, 128, 84], np.float32) if rng.random() < 0.6 else \
            np.asarray(COLOURS["white"], np.float32)
        parts.append(Part(sleeve, colour, "cyl", VERTICAL, (0.0, 0.05), half(0.05),
                          gloss=0.1, outline=0.25))
    parts += [Part(ellipse(0.0, top, tw, 0.06), shade_of(rgb, 1.15), outline=0.25),
              Part(ellipse(0.0, top + 0.005, tw * 0.88, 0.045), shade_of(rgb, 0.45))]
    return parts


def build_bottle(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Bottle: round shoulder, narrow neck, cap, paper label."""
    bw, nw = 0.16 * rng.uniform(0.9, 1.12), 0.06
    t = np.linspace(0.0, 1.0, 9)
    shoulder = np.stack([-(nw + (bw - nw) * (1 + np.cos(np.pi * t)) / 2), -0.05 - 0.23 * t], 1)
    left = np.concatenate([[[-bw, 0.45]], shoulder, [[-nw, -0.43]]])
    right = left[::-1] * np.array([-1.0, 1.0])
    outline = np.concatenate([left, right, arc(0.0, 0.45, bw, 0.03, 0, 180, 12)])
    cap_name = rng.choice(["white", "black", "red", "blue", "grey"])
    label_y = rng.uniform(0.02, 0.1)
    stripe = shade_of(rgb, 0.6) if rng.random() < 0.5 else np.asarray(COLOURS["red"],
                                                                        np.float32)
    return [
        Part(outline, rgb, "cyl", VERTICAL, (0.0, 0.1), bw, gloss=0.55, outline=0.35),
        Part(rect(-bw, label_y, bw, label_y + 0.24), np.asarray(PAPER, np.float32), "cyl",
             VERTICAL, (0.0, 0.15), bw, gloss=0.15, outline=0.2),
        Part(rect(-bw, label_y + 0.09, bw, label_y + 0.14), stripe, "cyl", VERTICAL,
             (0.0, 0.15), bw, gloss=0.1),
        Part(rounded_rect(-0.072, -0.5, 0.072, -0.41, 0.015),
             np.asarray(COLOURS[str(cap_name)], np.float32), "cyl", VERTICAL, (0.0, -0.45),
             0.072, gloss=0.3, outline=0.3),
    ]


def build_can(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Drink can: metal lid and base, coloured body with a light band."""
    hw, top, bot = 0.25 * rng.uniform(0.92, 1.06), -0.34, 0.37
    band = np.asarray(COLOURS["white"] if rng.random() < 0.7 else COLOURS["yellow"],
                      np.float32)
    metal = np.asarray(METAL, np.float32)
    by = rng.uniform(-0.12, 0.04)
    return [
        Part(_upright_body(hw, top, bot, curve=0.035), rgb, "cyl", VERTICAL, (0.0, 0.0), hw,
             gloss=0.6, outline=0.3),
        Part(rect(-hw, by, hw, by + 0.16), band, "cyl", VERTICAL, (0.0, 0.0), hw, gloss=0.4),
        Part(np.concatenate([[[-hw, bot - 0.07], [hw, bot - 0.07]],
                             arc(0.0, bot - 0.035, hw, 0.035, 0, 180, 12)]),
             metal, "cyl", VERTICAL, (0.0, 0.0), hw, gloss=0.6),
        Part(ellipse(0.0, top, hw, 0.05), metal, outline=0.3),
        Part(ellipse(0.0, top, hw * 0.8, 0.038), shade_of(metal, 0.8), width=0.015),
        Part(ellipse(0.05, top - 0.004, 0.05, 0.016), shade_of(metal, 0.6)),
    ]


def build_bowl(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Bowl: half-ellipse body on a small foot, open rim showing the inside."""
    ry = 0.42 * rng.uniform(0.85, 1.05)
    rim_y = -0.12
    body = arc(0.0, rim_y, 0.5, ry, 0, 180, 28)
    foot_y = rim_y + ry - 0.03
    return [
        Part(np.array([[-0.17, foot_y - 0.04], [0.17, foot_y - 0.04], [0.15, foot_y + 0.05],
                       [-0.15, foot_y + 0.05]]), shade_of(rgb, 0.8), outline=0.3),
        Part(body, rgb, "cyl", VERTICAL, (0.0, rim_y), 0.5, gloss=0.3, outline=0.3),
        Part(ellipse(0.0, rim_y, 0.5, 0.12), shade_of(rgb, 1.1), outline=0.25),
        Part(ellipse(0.0, rim_y + 0.006, 0.45, 0.095), shade_of(rgb, 0.7), gloss=0.0),
    ]


def build_plate(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Plate seen obliquely: flat ellipse with a visible edge and a sunken well."""
    ry = 0.17 * rng.uniform(0.9, 1.1)
    return [
        Part(ellipse(0.0, 0.025, 0.5, ry), shade_of(rgb, 0.7), outline=0.3),
        Part(ellipse(0.0, 0.0, 0.5, ry), rgb, outline=0.15),
        Part(ellipse(0.0, 0.01, 0.33, ry * 0.64), shade_of(rgb, 0.93)),
        Part(ellipse(0.0, 0.01, 0.33, ry * 0.64), shade_of(rgb, 0.8), width=0.01),
    ]
