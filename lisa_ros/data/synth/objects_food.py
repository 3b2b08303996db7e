"""Fruit: apple, orange, banana (local units, see :mod:`lisa_ros.data.synth.geometry`)."""
from __future__ import annotations

import math

import numpy as np

from lisa_ros.data.synth.geometry import Part, ellipse
from lisa_ros.data.synth.palette import shade_of

__all__ = ["build_apple", "build_orange", "build_banana"]

_STEM = np.array([96, 62, 30], np.float32)
_LEAF = np.array([62, 142, 52], np.float32)


def build_apple(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Apple: round body with a dimple at the top, narrower bottom, stem and maybe a leaf."""
    r = 0.5
    t = np.linspace(0.0, 2 * math.pi, 48, endpoint=False)
    x, y = np.sin(t), -np.cos(t)  # t = 0 at the top
    y = np.where(y < 0, y + 0.2 * np.exp(-(x / 0.3) ** 2), y)   # the dimple around the stem
    x = x * (1.0 - 0.1 * np.clip(y, 0, None))                    # slightly narrower bottom
    body = np.stack([x * r * rng.uniform(0.97, 1.06), y * r], 1)
    parts = [
        Part(np.array([[0.0, -0.36], [0.03, -0.5], [0.07, -0.57]]), _STEM, width=0.045,
             closed=False),
        Part(body, rgb, "sphere", center=(0.0, 0.03), radius=r, gloss=0.3, outline=0.3),
    ]
    if rng.random() < 0.6:
        parts.append(Part(ellipse(0.14, -0.51, 0.12, 0.045, rot=-25), _LEAF, outline=0.3))
    return parts


def build_orange(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Orange: dimpled sphere with a small stem scar."""
    r = 0.5
    parts = [
        Part(ellipse(0.0, 0.0, r, r * rng.uniform(0.94, 1.0), n=48), rgb, "sphere",
             center=(0.0, 0.0), radius=r, gloss=0.18, outline=0.25, texture="pores"),
        Part(ellipse(0.02, -0.39, 0.045, 0.03), np.array([118, 112, 44], np.float32)),
    ]
    if rng.random() < 0.3:
        parts.append(Part(ellipse(0.13, -0.46, 0.11, 0.04, rot=-20), _LEAF, outline=0.3))
    return parts


def build_banana(rng: np.random.Generator, rgb: np.ndarray) -> list[Part]:
    """Banana: a curved band thick in the middle, with a stem at one end and a dark tip."""
    bend = rng.uniform(0.65, 0.85)                 # radius of the centre line
    span = math.radians(rng.uniform(62, 78))
    th = math.pi / 2 + np.linspace(-span / 2, span / 2, 25)
    cx, cy = bend * np.cos(th), -bend * 0.72 + bend * np.sin(th)
    centre = np.stack([cx, cy], 1)
    centre -= centre.mean(axis=0)
    normal = np.stack([np.cos(th), np.sin(th)], 1)
    u = np.linspace(0.0, 1.0, len(th))
    half = 0.1 * np.sin(np.pi * u) ** 0.6 + 0.012
    outer = centre + normal * half[:, None]
    inner = centre - normal * (0.85 * half)[:, None]
    ridge = centre + normal * (0.35 * half)[:, None]
    tangent = centre[0] - centre[1]
    tangent /= np.linalg.norm(tangent)
    stem = np.stack([centre[0], centre[0] + tangent * 0.08])
    mid = centre[len(th) // 2]
    return [
        Part(stem, np.array([112, 96, 44], np.float32), width=0.04, closed=False),
        Part(np.concatenate([outer, inner[::-1]]), rgb, "cyl", 0.0, (mid[0], mid[1] + 0.02),
             0.12, gloss=0.15, outline=0.3),
        Part(ridge[3:-3], shade_of(rgb, 0.82), width=0.012, closed=False),
        Part(ellipse(centre[-1][0], centre[-1][1], 0.018, 0.018), np.array([60, 44, 24],
                                                                           np.float32)),
    ]
