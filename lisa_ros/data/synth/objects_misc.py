"""Other household objects: book (lying flat), ball, sponge (local units, see
:mod:`lisa_ros.data.synth.geometry`)."""
from __future__ import annotations

import numpy as np

from lisa_ros.data.synth.geometry import Part, arc, ellipse, rect, rounded_rect
from lisa_ros.data.synth.palette import COLOURS, PAPER, shade_of

__all__ = ["build_book", "build_ball", "build_sponge"]

_PAPER = np.asarray(PAPER, np.float32)
_GOLD = np.array([222, 190, 92], np.float32)


def build_book(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Closed book: cover with a darker spine and a title label, page block peeking out."""
    w, h = 0.31, 0.41 * rng.uniform(0.9, 1.05)
    label = _GOLD if rng.random() < 0.4 else shade_of(rgb, 1.6)
    ly = rng.uniform(-0.3, -0.05) * h / 0.41
    return [
        Part(rect(-w + 0.025, -h + 0.025, w + 0.025, h + 0.025), _PAPER, outline=0.25),
        Part(np.array([[w + 0.013, -h + 0.04], [w + 0.013, h + 0.015]]),
             shade_of(_PAPER, 0.8), width=0.006, closed=False),
        Part(np.array([[-w + 0.04, h + 0.013], [w + 0.015, h + 0.013]]),
             shade_of(_PAPER, 0.8), width=0.006, closed=False),
        Part(rect(-w, -h, w, h), rgb, outline=0.35, gloss=0.1),
        Part(rect(-w, -h, -w + 0.08, h), shade_of(rgb, 0.72)),
        Part(rect(-0.13, ly, 0.23, ly + 0.17), label, outline=0.2),
        Part(np.array([[-0.09, ly + 0.06], [0.19, ly + 0.06]]), shade_of(label, 0.45),
             width=0.018, closed=False),
        Part(np.array([[-0.09, ly + 0.11], [0.11, ly + 0.11]]), shade_of(label, 0.45),
             width=0.014, closed=False),
    ]


def build_ball(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Ball: glossy sphere with two curved seams (tennis-ball style)."""
    r = 0.5
    seam = np.asarray(COLOURS["white"], np.float32)
    if float(np.mean(rgb)) > 190:  # white ball: darker seams
        seam = np.asarray(COLOURS["grey"], np.float32)
    return [
        Part(ellipse(0.0, 0.0, r, r, n=48), rgb, "sphere", center=(0.0, 0.0), radius=r,
             gloss=0.5, outline=0.3),
        Part(arc(-0.62, 0.0, 0.42, 0.46, -48, 48), seam, width=0.03, closed=False),
        Part(arc(0.62, 0.0, 0.42, 0.46, 132, 228), seam, width=0.03, closed=False),
    ]


def build_sponge(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Kitchen sponge from the side: soft porous layer on a dark scouring pad."""
    green = rgb[1] > rgb[0] + 30 and rgb[1] > rgb[2] + 30
    pad = np.array([60, 60, 66] if green else [40, 105, 50], np.float32)
    parts = [
        Part(rounded_rect(-0.375, 0.04, 0.375, 0.17, 0.03), pad, outline=0.3),
        Part(rounded_rect(-0.375, -0.17, 0.375, 0.07, 0.05), rgb, outline=0.3, gloss=0.05),
    ]
    n = int(rng.integers(9, 15))
    xs = rng.uniform(-0.32, 0.32, n)
    ys = rng.uniform(-0.13, 0.03, n)
    rs = rng.uniform(0.014, 0.028, n)
    pore = shade_of(rgb, 0.7)
    parts += [Part(ellipse(x, y, r, r * 0.65, n=10), pore) for x, y, r in zip(xs, ys, rs)]
    return parts
