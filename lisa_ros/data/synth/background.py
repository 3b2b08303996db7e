"""Table surfaces, wall, lighting and sensor noise of the synthetic scenes.

Every random choice is drawn once by :func:`sample_appearance` (fixed number of draws, in
canonical units), so one :class:`Appearance` renders the same look at any resolution. Only
the per-pixel sensor noise of :func:`finish` depends on the output size, and it uses its own
generator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lisa_ros.data.synth.raster import Light

__all__ = ["TABLE_KINDS", "Appearance", "sample_appearance", "render_table", "tone_map",
           "tone_at", "finish"]

TABLE_KINDS = ("wood", "cloth", "plain", "gradient", "checker")

_WOODS = [(196, 152, 104), (122, 82, 52), (152, 92, 62), (214, 186, 140), (160, 150, 138),
          (176, 118, 70)]
_CLOTHS = [(62, 72, 112), (202, 188, 162), (150, 170, 140), (182, 104, 82), (192, 192, 190),
           (84, 84, 90), (62, 122, 122), (230, 222, 202), (120, 60, 70), (96, 126, 170)]
_WALLS = [(232, 230, 222), (200, 204, 208), (186, 204, 222), (232, 222, 184), (190, 206, 184),
          (222, 200, 190)]
_NOISE_GRID = (12, 16)   # low-frequency noise lattice (rows, cols), resized to the image
_BANK = 1024             # side of the shared sensor-noise bank
_BANK_SEED = 20261126
_bank_cache: list[np.ndarray] = []


@dataclass
class Appearance:
    """Everything about a scene's look that is not the objects.

    Colours are float32 RGB 0..255; lengths are canonical pixels (scene height 240).
    """

    table: str
    table_rgb: np.ndarray
    table_rgb2: np.ndarray
    wall_rgb: np.ndarray
    field: np.ndarray              # (12, 16) float32 in [-1, 1], low-frequency variation
    period: float                  # wood grain / weave / checker period
    angle: float                   # gradient direction (radians)
    light: Light
    shadow_strength: float
    shadow_blur: float
    brightness: float
    contrast: float
    tint: np.ndarray               # (3,) channel gains
    vignette: float                # light fall-off toward the side away from the light
    noise_sigma: float             # sensor noise, 0..255 units


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draw a random look (always the same number of draws from ``rng``)."""
    table = TABLE_KINDS[int(rng.integers(len(TABLE_KINDS)))]
    woods_or_cloths = _WOODS if table == "wood" else _CLOTHS
    c1 = np.asarray(woods_or_cloths[int(rng.integers(len(woods_or_cloths)))], np.float32)
    c2 = np.asarray(_CLOTHS[int(rng.integers(len(_CLOTHS)))], np.float32)
    wall = np.asarray(_WALLS[int(rng.integers(len(_WALLS)))], np.float32)
    jit = rng.uniform(0.9, 1.08, size=3).astype(np.float32)
    field = rng.uniform(-1.0, 1.0, size=_NOISE_GRID).astype(np.float32)
    side = 1.0 if rng.random() < 0.5 else -1.0
    light = Light(side * rng.uniform(0.3, 0.8), -rng.uniform(0.3, 0.8))
    return Appearance(
        table=table, table_rgb=np.clip(c1 * jit, 0, 255), table_rgb2=c2, wall_rgb=wall,
        field=field, period=float(rng.uniform(5.0, 9.0) if table != "checker"
                                  else rng.uniform(14.0, 30.0)),
        angle=float(rng.uniform(0, 2 * math.pi)), light=light,
        shadow_strength=float(rng.uniform(0.25, 0.5)), shadow_blur=float(rng.uniform(1.5, 4.0)),
        brightness=float(rng.uniform(0.82, 1.15)), contrast=float(rng.uniform(0.85, 1.15)),
        tint=np.array([1 + rng.uniform(-0.05, 0.05), 1.0, 1 + rng.uniform(-0.05, 0.05)],
                      np.float32),
        vignette=float(rng.uniform(0.0, 0.22)), noise_sigma=float(rng.uniform(1.5, 5.0)),
    )


def _canon_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    w, h = size
    return (np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None])


def _tinted(lum: np.ndarray, rgb: np.ndarray) -> list[np.ndarray]:
    """Three (h, w) channels ``lum * rgb[c]`` (numpy broadcasting over a trailing axis of 3
    is several times slower than three plane products and a cv2.merge)."""
    return [lum * np.float32(c) for c in rgb]


def _mix(t: np.ndarray, rgb1: np.ndarray, rgb2: np.ndarray) -> list[np.ndarray]:
    """Three channels ``rgb1 + (rgb2 - rgb1) * t``."""
    return [np.float32(a) + np.float32(b - a) * t for a, b in zip(rgb1, rgb2)]


def _table_canonical(app: Appearance, size: tuple[int, int]) -> list[np.ndarray]:
    """The table texture at canonical resolution: three (h, w) float32 channels."""
    w, h = size
    xs, ys = _canon_grid(size)
    field = cv2.resize(app.field, (w, h), interpolation=cv2.INTER_CUBIC)
    p = np.float32(app.period)
    two_pi = np.float32(2 * np.pi)
    one = np.float32(1.0)
    if app.table == "wood":
        # Planks run left-right; the grain wobbles with the low-frequency field.
        grain = np.sin(two_pi * (ys / p + np.float32(0.4) * field)) * np.float32(0.06)
        fine = np.sin(two_pi * (ys / (p * np.float32(0.23)) + np.float32(1.1) * field))
        seam_d = np.abs(np.mod(ys, p * np.float32(6.5)) - np.float32(0.5))
        seam = np.maximum(np.float32(0.0), one - seam_d) * np.float32(0.22)
        return _tinted(one + grain + np.float32(0.025) * fine - seam, app.table_rgb)
    if app.table == "cloth":
        weave = np.float32(0.035) * np.sin(two_pi * xs / np.float32(3.0)) * \
            np.sin(two_pi * ys / np.float32(3.0))
        return _tinted(one + np.float32(0.07) * field + weave, app.table_rgb)
    if app.table == "plain":
        return _tinted(one + np.float32(0.03) * field, app.table_rgb)
    if app.table == "gradient":
        t = (xs * np.float32(math.cos(app.angle)) + ys * np.float32(math.sin(app.angle))) \
            / np.float32(max(w, 1))
        t = np.clip(np.float32(0.5) + t, 0.0, 1.0)
        lum = one + np.float32(0.025) * field
        return [c * lum for c in _mix(t, app.table_rgb, app.table_rgb2)]
    # checker: a gingham cloth, stripes of the colour over white
    band_x = np.mod(np.floor(xs / p), 2)
    band_y = np.mod(np.floor(ys / p), 2)
    amount = np.float32(0.25) + np.float32(0.35) * (band_x + band_y)
    white = np.full(3, 238.0, np.float32)
    lum = one + np.float32(0.04) * field
    return [c * lum for c in _mix(amount, white, app.table_rgb2)]


def render_table(app: Appearance, size: tuple[int, int], scale: float, horizon: float,
                 shadow: np.ndarray | None = None) -> np.ndarray:
    """Background image, lit: the table surface, a wall above ``horizon`` (canonical y; 0 =
    no wall), the objects' cast ``shadow`` and the global tone (:func:`tone_map`).

    Everything is computed at canonical resolution and resized once (all of it is smooth,
    and this keeps a 640x480 frame cheap).

    :param size: (W, H) of the output.
    :param scale: output pixels per canonical pixel.
    :param shadow: canonical (h, w) float32 shadow density in [0, 1], or None.
    :returns: (H, W, 3) float32 RGB 0..255.
    """
    w, h = size
    cw, ch = max(1, int(round(w / scale))), max(1, int(round(h / scale)))
    planes = _table_canonical(app, (cw, ch))
    planes = [np.broadcast_to(c, (ch, cw)).copy() for c in planes]
    if horizon > 0:
        top = min(ch, int(round(horizon)))
        fade = np.linspace(1.05, 0.92, top, dtype=np.float32)[:, None]
        for c, wall in zip(planes, app.wall_rgb):
            c[:top] = np.float32(wall) * fade
            c[top:top + 2] *= np.float32(0.6)   # the table's back edge
    ramp, offset = _tone_ramp(app, cw, ch)
    if shadow is not None:
        ramp = ramp * (np.float32(1.0) - np.float32(app.shadow_strength) * shadow)
    img = cv2.merge([c * (ramp * np.float32(t)) + offset for c, t in zip(planes, app.tint)])
    if (cw, ch) != (w, h):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def _tone_ramp(app: Appearance, w: int, h: int) -> tuple[np.ndarray, np.float32]:
    """Tone without the tint: (h, w) gain and the scalar offset (see :func:`tone_map`)."""
    xs = (np.arange(w, dtype=np.float32) / np.float32(max(w - 1, 1)) - np.float32(0.5))[None, :]
    ys = (np.arange(h, dtype=np.float32) / np.float32(max(h - 1, 1)) - np.float32(0.5))[:, None]
    norm = math.hypot(app.light.x, app.light.y)
    lx, ly = np.float32(app.light.x / norm), np.float32(app.light.y / norm)
    ramp = np.float32(1.0) + np.float32(2.0 * app.vignette) * (xs * lx + ys * ly)
    offset = np.float32(128.0 * (1.0 - app.contrast))
    return ramp * np.float32(app.brightness * app.contrast), offset


def tone_map(app: Appearance, w: int, h: int) -> tuple[np.ndarray, np.float32]:
    """Global lighting as ``lit = colour * gain + offset``: brighter toward the light,
    brightness, contrast (about mid-grey) and a colour tint.

    :returns: gain (h, w, 3) float32 and the scalar offset.
    """
    ramp, offset = _tone_ramp(app, w, h)
    return cv2.merge([ramp * np.float32(t) for t in app.tint]), offset


def tone_at(app: Appearance, x_frac: float, y_frac: float) -> tuple[np.ndarray, float]:
    """:func:`tone_map` at one point (fractions of the image size): the gain (3,) and
    offset used for a whole object, whose extent is small against the gradient."""
    norm = math.hypot(app.light.x, app.light.y)
    ramp = 1.0 + 2.0 * app.vignette * ((x_frac - 0.5) * app.light.x / norm
                                       + (y_frac - 0.5) * app.light.y / norm)
    gain = (ramp * app.brightness * app.contrast) * app.tint
    return gain.astype(np.float32), 128.0 * (1.0 - app.contrast)


def _noise_bank() -> np.ndarray:
    """(1024, 1024, 3) float32 standard normal noise, made once per process from a fixed
    seed (deterministic, so samples stay reproducible across processes)."""
    if not _bank_cache:
        _bank_cache.append(np.random.default_rng(_BANK_SEED).standard_normal(
            (_BANK, _BANK, 3), dtype=np.float32))
    return _bank_cache[0]


def finish(image: np.ndarray, app: Appearance, noise_rng: np.random.Generator) -> np.ndarray:
    """Add sensor noise and convert to 8 bits.

    Noise is a window of a fixed bank of Gaussian noise at a random offset: no per-frame
    draw of a million normals, and at these amplitudes no pattern is visible.

    :param image: (H, W, 3) float32 RGB 0..255 (consumed).
    :returns: (H, W, 3) uint8 RGB.
    """
    h, w = image.shape[:2]
    bank = _noise_bank()
    if h > _BANK or w > _BANK:
        bank = np.tile(bank, (h // _BANK + 1, w // _BANK + 1, 1))
    oy = int(noise_rng.integers(0, bank.shape[0] - h + 1))
    ox = int(noise_rng.integers(0, bank.shape[1] - w + 1))
    cv2.scaleAdd(bank[oy:oy + h, ox:ox + w], app.noise_sigma, image, dst=image)
    np.clip(image, 0, 255, out=image)
    return image.astype(np.uint8)
