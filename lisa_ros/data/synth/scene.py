"""Render one synthetic sample in memory: :func:`render_scene`.

Determinism: scene ``index`` of seed ``seed`` draws from its own generators, derived from
``SeedSequence([SEED_DOMAIN, seed, index])`` and split three ways:

- *layout*: the family's scene request, object choice and placement, the query text, and
  which targets get an ignore shadow; all decided at canonical resolution;
- *look*: table, wall, light, shadows, global lighting (a fixed number of draws);
- *noise*: per-pixel sensor noise (the only draws that depend on the output size).

So scene ``i`` does not depend on how many scenes are generated, the family of ``i`` depends
only on ``i`` and the family list (:func:`~lisa_ros.data.synth.families.family_for_index`),
and one seed and index give the same scene and query at every resolution of the same aspect.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import cv2
import numpy as np

from lisa_ros.data.synth.background import finish, render_table, sample_appearance, tone_at
from lisa_ros.data.synth.families import FAMILY_SPECS, family_for_index
from lisa_ros.data.synth.geometry import CANON_HEIGHT
from lisa_ros.data.synth.layout import Layout, canonical_size, sample_layout
from lisa_ros.data.synth.raster import draw_object

__all__ = ["SEED_DOMAIN", "DEFAULT_SIZE", "SceneObject", "SynthSample", "render_scene",
           "sample_name", "render_layout", "scene_appearance"]

SEED_DOMAIN = 0x115A5EED     # keeps our streams apart from other SeedSequence([seed, ...]) users
DEFAULT_SIZE = (320, 240)    # (W, H)
MAX_ATTEMPTS = 300           # layouts tried per scene before giving up (a bug if reached)
SHADOW_IGNORE_PROB = 0.3     # share of targets whose cast shadow is marked "ignore"
_SHADOW_LEVEL = 0.35         # shadow density above which a pixel is "in the shadow"
_SHADOW_MIN_AREA = 40        # canonical px; smaller shadow regions are not worth an ignore


@dataclass
class SceneObject:
    """One object as the JSON ``objects`` list records it.

    Attributes:
        category, colour: names (see :mod:`~lisa_ros.data.synth.categories`).
        bbox: (x0, y0, x1, y1) of the visible part, inclusive pixel indices of the image.
        visible_fraction: unoccluded share of the object (canonical measure).
        group_id: index of the ``[SEG]`` this object answers, or None.
    """

    category: str
    colour: str
    bbox: tuple[int, int, int, int]
    visible_fraction: float
    group_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "colour": self.colour, "bbox": list(self.bbox),
                "visible_fraction": round(self.visible_fraction, 3),
                "group_id": self.group_id}


@dataclass
class SynthSample:
    """A rendered scene with its query.

    Attributes:
        name: file stem, ``synth_s<seed>_<index:06d>``.
        seed, index: where it came from (seed None when rendered from a caller's generator).
        family: instruction family.
        image: (H, W, 3) uint8 RGB.
        texts: 1..4 phrasings of the query; is_sentence: sentence (True) or noun phrase.
        answer: target answer, one ``[SEG]`` per target; answers: alternatives.
        explanation: reason sentence of explanatory samples, else None.
        target_masks: one (H, W) bool visible mask per ``[SEG]``, in answer order.
        ignore_masks: per target, None or an (H, W) bool region to ignore (its cast shadow).
        objects: every object, back to front.
        object_masks: (n, H, W) bool visible mask per object, same order.
        targets: indices into ``objects``, one per ``[SEG]``.
        info: family details (concept, relation, criterion, reference, ...).
        layout: the object layout the scene was drawn from (in memory only, never written):
            training asks more questions of it (:func:`~lisa_ros.data.synth.families.phrase_on_layout`).
    """

    name: str
    seed: int | None
    index: int
    family: str
    image: np.ndarray
    texts: list[str]
    is_sentence: bool
    answer: str
    answers: list[str]
    explanation: str | None
    target_masks: list[np.ndarray]
    ignore_masks: list[np.ndarray | None]
    objects: list[SceneObject]
    object_masks: np.ndarray
    targets: list[int]
    info: dict[str, Any] = field(default_factory=dict)
    layout: Layout | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H)."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @property
    def ignore_mask(self) -> np.ndarray:
        """(H, W) bool union of the ignore regions."""
        out = np.zeros(self.image.shape[:2], bool)
        for m in self.ignore_masks:
            if m is not None:
                out |= m
        return out


def sample_name(seed: int | None, index: int) -> str:
    """File stem of scene ``index`` of ``seed``."""
    return f"synth_s{seed}_{index:06d}" if seed is not None else f"synth_rng_{index:06d}"


def _generators(seed, index: int) -> list[np.random.Generator]:
    if isinstance(seed, np.random.Generator):
        return seed.spawn(3)
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be >= 0, got {seed}, {index}")
    ss = np.random.SeedSequence([SEED_DOMAIN, int(seed), int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(3)]


def _shadow_maps(layout: Layout, light) -> list[np.ndarray]:
    """Per-object cast shadow density, canonical (H, W) float32 in [0, 1] (unblurred)."""
    norm = max(np.hypot(light.x, light.y), 1e-6)
    ux, uy = -light.x / norm, -light.y / norm  # shadows fall away from the light
    maps = []
    for obj, full in zip(layout.objects, layout.full_masks):
        m = np.float32([[1, 0, ux * obj.lift], [0, 1, uy * obj.lift]])
        maps.append(cv2.warpAffine(full.astype(np.float32), m, (layout.width, layout.height)))
    return maps


def _toned(parts, app, cx: float, cy: float):
    """The object's parts with the global tone at its centre (fractions of the image) baked
    into their colours (see :func:`~lisa_ros.data.synth.background.tone_at`)."""
    gain, offset = tone_at(app, cx, cy)
    return [replace(p, rgb=np.clip(p.rgb * gain + offset, 0, 255).astype(np.float32))
            for p in parts]


def scene_appearance(seed: int, index: int):
    """The look (:class:`~lisa_ros.data.synth.background.Appearance`: table, light, tone,
    noise level) that scene ``index`` of ``seed`` is drawn with."""
    return sample_appearance(_generators(seed, index)[1])


def render_layout(layout: Layout, app, size: tuple[int, int], want_shadow: Sequence[int] = ()):
    """Draw ``layout`` with look ``app`` at ``size`` (W, H), before sensor noise.

    :returns: ``float32 (H, W, 3)`` RGB 0..255, ``bool (n, H, W)`` visible mask per object,
        and ``{object index: bool (H, W)}`` cast-shadow regions of the objects in
        ``want_shadow`` that have one. :func:`~lisa_ros.data.synth.background.finish` adds the
        noise (scene sequences add it per frame, after moving the camera).
    """
    w, h = size
    scale = h / CANON_HEIGHT
    sigma = app.shadow_blur
    raw = _shadow_maps(layout, app.light)
    union = cv2.GaussianBlur(np.max(np.stack(raw), axis=0), (0, 0), sigma)
    image = render_table(app, size, scale, layout.horizon, union)
    full = np.empty((len(layout), h, w), bool)
    for k, o in enumerate(layout.objects):
        x0, y0, x1, y1 = o.bbox
        parts = _toned(o.parts, app, (x0 + x1) / (2 * layout.width),
                       (y0 + y1) / (2 * layout.height))
        full[k] = draw_object(image, parts, scale, app.light) >= 128
    visible = full.copy()
    covered = np.zeros((h, w), bool)
    for k in range(len(full) - 1, -1, -1):
        visible[k] &= ~covered
        covered |= full[k]
    shadows = {}
    for k in want_shadow:
        dens = cv2.GaussianBlur(raw[k], (0, 0), sigma)
        region = cv2.resize(dens, (w, h), interpolation=cv2.INTER_LINEAR) > _SHADOW_LEVEL
        region &= ~covered
        if np.count_nonzero(region) >= _SHADOW_MIN_AREA * scale * scale:
            shadows[k] = region
    return image, visible, shadows


def _render(layout: Layout, app, size: tuple[int, int], noise_rng, want_shadow: Sequence[int]):
    image, visible, shadows = render_layout(layout, app, size, want_shadow)
    return finish(image, app, noise_rng), visible, shadows


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return (0, 0, 0, 0)
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def render_scene(seed: int | np.random.Generator, index: int = 0,
                 size: tuple[int, int] = DEFAULT_SIZE,
                 families: Sequence[str] | None = None, family: str | None = None,
                 weights: dict[str, int] | None = None) -> SynthSample:
    """Render scene ``index`` of ``seed`` (or draw from a caller's generator) in memory.

    :param seed: non-negative int (reproducible per index), or a ``numpy.random.Generator``
        (the scene then follows that generator's state; ``index`` only names it).
    :param size: (W, H) of the image; any size works, 320x240 and 640x480 show the same
        scene.
    :param families: families to cycle through (default: all); ``family`` forces one.
    :param weights: integer weight per family for the cycle (default: equal).
    :returns: the sample; no files are written.
    :raises ValueError: unknown family, negative seed/index, non-positive size.
    :raises RuntimeError: no valid scene after many attempts (a generator bug).
    """
    w, h = (int(v) for v in size)
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive (W, H), got {size}")
    fam = family if family is not None else family_for_index(index, families, weights)
    if fam not in FAMILY_SPECS:
        raise ValueError(f"unknown family {fam!r}; known: {', '.join(FAMILY_SPECS)}")
    spec = FAMILY_SPECS[fam]
    layout_rng, look_rng, noise_rng = _generators(seed, index)
    cw, ch = canonical_size((w, h))
    for _ in range(MAX_ATTEMPTS):
        req, state = spec.plan(layout_rng)
        layout = sample_layout(layout_rng, req, cw, ch)
        if layout is None:
            continue
        query = spec.phrase(layout_rng, layout, state)
        if query is not None:
            break
    else:
        raise RuntimeError(f"no valid {fam} scene for seed {seed} index {index}")
    shadow_flags = layout_rng.random(len(query.targets)) < SHADOW_IGNORE_PROB
    app = sample_appearance(look_rng)
    want = [t for t, f in zip(query.targets, shadow_flags) if f]
    image, visible, shadows = _render(layout, app, (w, h), noise_rng, want)

    group = {t: k for k, t in enumerate(query.targets)}
    objects = [SceneObject(o.category, o.colour, _bbox(visible[i]),
                           layout.stats[i].visible_fraction, group.get(i))
               for i, o in enumerate(layout.objects)]
    return SynthSample(
        name=sample_name(None if isinstance(seed, np.random.Generator) else int(seed), index),
        seed=None if isinstance(seed, np.random.Generator) else int(seed), index=int(index),
        family=fam, image=image, texts=query.texts, is_sentence=query.is_sentence,
        answer=query.answer, answers=query.answers, explanation=query.explanation,
        target_masks=[visible[t] for t in query.targets],
        ignore_masks=[shadows.get(t) for t in query.targets],
        objects=objects, object_masks=visible, targets=list(query.targets),
        info=dict(query.info), layout=layout,
    )
