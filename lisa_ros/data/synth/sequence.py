"""Scene sequences: one synthetic scene seen by a camera that moves a little between frames.

What the continuous mode of the node needs to be measured on: the same objects, frame after
frame, with their ground-truth masks on every frame.

Camera model. The scene is drawn once, larger than a frame (``world_scale`` times the frame
size, the same layout at a higher resolution: the *world image*). Each frame is the view of a
pinhole camera that turns about its centre of projection (pan, tilt) and zooms (changes its
focal length). For such a camera every frame is an exact homography of the world image,
``x_world ~ K_world R K_frame^-1 x_frame``, whatever the depth of what it sees: there is no
parallax to leave out, so warping the world image is the honest way to render these motions
in a 2D renderer. A camera that *translates* would need parallax between objects and table,
which the image-space renderer cannot draw; it is not offered. Frame 0 looks at the centre of
the world image at its resolution (``K_frame = K_world``, focal length ``FOCAL_PER_HEIGHT``
times the frame height, principal point at the centre).

Motion per frame: pan and tilt angles and the zoom follow ``A sin(2 pi f / T)`` from frame 0,
bounded (the camera sways across at most :data:`MAX_PAN_FRACTION` of the frame width and
:data:`MAX_TILT_FRACTION` of its height either way, so the view stays inside the world image)
with a peak speed per frame set by the :class:`Motion` (drawn per sequence between 60 and 100 %
of it). Objects may also be pushed: with probability ``Motion.push_prob`` one target slides
across the table from a drawn frame on, at ``Motion.push`` frame widths per frame for a drawn
number of frames; the world image is then drawn again with the object moved (occlusion and
shadows follow; draw order does not change).

Sensor noise is added per frame after the warp (it belongs to the camera, not the scene).
Ground truth: each object's visible mask is warped with the image (bilinear, threshold 0.5),
so masks and pixels share one geometry; a target that leaves the view has an empty mask.
No depth: :func:`~lisa_ros.data.synth.depth_render.render_depth` derives its camera from one
image's field of view, and a rotated, zoomed view of a larger image would need a camera model
of its own.

Determinism: frame ``f`` of sequence ``index`` of ``seed`` depends only on (seed, index, f,
size, motion, families): the scene is :func:`~lisa_ros.data.synth.scene.render_scene`'s at the
world size, the trajectory is drawn from a stream of its own and evaluated in closed form, and
the noise of frame ``f`` comes from a stream derived from ``f``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from lisa_ros.data.synth.background import finish
from lisa_ros.data.synth.layout import Layout
from lisa_ros.data.synth.raster import silhouette
from lisa_ros.data.synth.scene import (DEFAULT_SIZE, SEED_DOMAIN, SynthSample, render_layout, render_scene,
                                       scene_appearance)
from lisa_ros.data.synth.scene import _bbox  # the JSON's inclusive box convention, same package

__all__ = ["Motion", "MOTIONS", "FrameCamera", "SynthSequence", "render_sequence", "write_sequence",
           "FOCAL_PER_HEIGHT", "WORLD_SCALE", "MAX_PAN_FRACTION", "MAX_TILT_FRACTION", "MAX_FRAMES"]

FOCAL_PER_HEIGHT = 2.0      # frame focal length over frame height (as synth.depth_render's camera)
WORLD_SCALE = 1.3           # world image size over frame size
MAX_PAN_FRACTION = 0.10     # largest pan excursion, fraction of the frame width, either way
MAX_TILT_FRACTION = 0.08    # largest tilt excursion, fraction of the frame height
MAX_ZOOM = 0.05             # largest relative focal change either way
MAX_FRAMES = 10_000         # bounds what a caller can ask for
_SEQUENCE_STREAM = 0x5E9CA3  # keeps the trajectory draws apart from the scene's own streams


@dataclass(frozen=True)
class Motion:
    """How much the camera and objects move per frame (peak values; each sequence draws 60 to
    100 % of them).

    Attributes:
        pan_deg, tilt_deg: peak turning speed, degrees per frame.
        zoom: peak relative focal-length change per frame (0.005: 0.5 %).
        push: speed of a pushed target, fraction of the frame width per frame.
        push_prob: chance that a sequence pushes one of its targets.
    """

    pan_deg: float
    tilt_deg: float
    zoom: float
    push: float
    push_prob: float


MOTIONS = {
    "still": Motion(0.0, 0.0, 0.0, 0.0, 0.0),
    "slow": Motion(0.15, 0.1, 0.002, 0.004, 0.5),
    "moderate": Motion(0.4, 0.25, 0.005, 0.01, 0.5),
    "fast": Motion(1.0, 0.6, 0.012, 0.025, 0.5),
}


@dataclass(frozen=True)
class FrameCamera:
    """The camera of one frame, against frame 0.

    Attributes:
        yaw_deg: pan, degrees, positive to the right (the scene moves left in the image).
        pitch_deg: tilt, degrees, positive downwards (the scene moves up).
        zoom: focal length over frame 0's.
        homography: ``float64 (3, 3)`` from frame pixel (x right, y down, pixel centres at
            integers) to world-image pixel, homogeneous.
    """

    yaw_deg: float
    pitch_deg: float
    zoom: float
    homography: np.ndarray


@dataclass(frozen=True)
class _Swing:
    """``amplitude * sin(2 pi f / period)``: a bounded sway with peak speed amplitude * 2 pi / period."""

    amplitude: float
    period: float

    def at(self, frame: float) -> float:
        if self.amplitude == 0.0:
            return 0.0
        return self.amplitude * math.sin(2.0 * math.pi * frame / self.period)


def _swing(rng: np.random.Generator, excursion: float, peak_speed: float) -> _Swing:
    """A sway of at most ``excursion`` whose peak speed is 60-100 % of ``peak_speed``, random sign."""
    speed = peak_speed * rng.uniform(0.6, 1.0)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if speed <= 0.0:
        return _Swing(0.0, 1.0)
    return _Swing(sign * excursion, 2.0 * math.pi * excursion / speed)


@dataclass(frozen=True)
class _Push:
    target: int            # index into the scene's objects
    start: int             # first frame it moves on
    frames: int            # how long it moves
    velocity: tuple[float, float]  # canonical pixels per frame (x, y)

    def offset(self, frame: int) -> tuple[float, float]:
        steps = min(max(frame - self.start, 0), self.frames)
        return self.velocity[0] * steps, self.velocity[1] * steps


def _shifted(layout: Layout, index: int, dx: float, dy: float) -> Layout:
    """``layout`` with object ``index`` moved by (dx, dy) canonical pixels (silhouette redrawn)."""
    obj = layout.objects[index]
    parts = [replace(p, poly=p.poly + np.array([dx, dy]), center=(p.center[0] + dx, p.center[1] + dy))
             for p in obj.parts]
    x0, y0, x1, y1 = obj.bbox
    objects = list(layout.objects)
    objects[index] = replace(obj, parts=parts, bbox=(x0 + dx, y0 + dy, x1 + dx, y1 + dy))
    full = layout.full_masks.copy()
    full[index] = silhouette(parts, 1.0, (layout.height, layout.width))
    return replace(layout, objects=objects, full_masks=full)


class SynthSequence:
    """Frames of one scene under a moving camera; see the module docstring.

    Build with :func:`render_sequence`. :attr:`scene` is the scene at the world size (its
    query, answer and targets hold for every frame); :meth:`frame` renders one frame.
    """

    def __init__(self, scene: SynthSample, size: tuple[int, int], motion: Motion, seed: int):
        self.scene = scene
        self.size = size
        self.motion = motion
        self.seed = seed
        width, height = size
        self.focal = FOCAL_PER_HEIGHT * height
        rng = np.random.default_rng(np.random.SeedSequence([SEED_DOMAIN, seed, scene.index, _SEQUENCE_STREAM]))
        pan_limit = math.degrees(math.atan(MAX_PAN_FRACTION * width / self.focal))
        tilt_limit = math.degrees(math.atan(MAX_TILT_FRACTION * height / self.focal))
        self._pan = _swing(rng, pan_limit, motion.pan_deg)
        self._tilt = _swing(rng, tilt_limit, motion.tilt_deg)
        self._zoom = _swing(rng, math.log1p(MAX_ZOOM), math.log1p(motion.zoom))
        self._push = None
        pushed = rng.random() < motion.push_prob and motion.push > 0
        start, frames = int(rng.integers(0, 10)), int(rng.integers(5, 16))
        angle = rng.uniform(-0.35, 0.35) + (0.0 if rng.random() < 0.5 else math.pi)  # mostly sideways
        target = int(rng.integers(len(scene.targets))) if scene.targets else 0
        if pushed and scene.targets:
            layout = scene.layout
            speed = motion.push * width * layout.height / scene.size[1]  # canonical px per frame
            self._push = _Push(scene.targets[target], start, frames,
                               (speed * math.cos(angle), speed * math.sin(angle)))
        self._appearance = scene_appearance(seed, scene.index)
        self._want_shadow = [t for t, m in zip(scene.targets, scene.ignore_masks) if m is not None]
        self._world_cache: dict[tuple[float, float], tuple] = {}

    def camera(self, frame: int) -> FrameCamera:
        """The camera of ``frame`` (closed form)."""
        yaw, pitch, zoom = self._pan.at(frame), self._tilt.at(frame), math.exp(self._zoom.at(frame))
        width, height = self.size
        world_w, world_h = self.scene.size
        k_frame = np.array([[self.focal * zoom, 0, (width - 1) / 2], [0, self.focal * zoom, (height - 1) / 2], [0, 0, 1]])
        k_world = np.array([[self.focal, 0, (world_w - 1) / 2], [0, self.focal, (world_h - 1) / 2], [0, 0, 1]])
        a, b = math.radians(yaw), math.radians(pitch)
        turn = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        tilt = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
        # a frame ray (camera coordinates) in world-camera coordinates: turn, then tilt about the turned x axis
        homography = k_world @ turn @ tilt @ np.linalg.inv(k_frame)
        return FrameCamera(yaw, pitch, zoom, homography / homography[2, 2])

    def push_offset(self, frame: int) -> tuple[float, float]:
        """Canonical pixels the pushed target has moved by at ``frame`` ((0, 0) if none)."""
        return self._push.offset(frame) if self._push is not None else (0.0, 0.0)

    def _world(self, frame: int):
        """World image (float32, before noise), visible masks and shadows at ``frame``'s push."""
        offset = self.push_offset(frame)
        if offset not in self._world_cache:
            layout = self.scene.layout
            if offset != (0.0, 0.0):
                layout = _shifted(layout, self._push.target, *offset)
            if len(self._world_cache) > 2:
                self._world_cache.clear()
            self._world_cache[offset] = render_layout(layout, self._appearance, self.scene.size, self._want_shadow)
        return self._world_cache[offset]

    def _warp(self, image: np.ndarray, camera: FrameCamera, border: int) -> np.ndarray:
        return cv2.warpPerspective(image, camera.homography, self.size,
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border)

    def _warp_mask(self, mask: np.ndarray, camera: FrameCamera) -> np.ndarray:
        return self._warp(mask.astype(np.float32), camera, cv2.BORDER_CONSTANT) >= 0.5

    def frame(self, frame: int) -> SynthSample:
        """Frame ``frame`` (>= 0) as a sample: its image, the scene's query and answer, and the
        targets' and objects' visible masks in this frame.

        ``name`` is the scene's with ``_f<frame>``; ``info["sequence"]`` holds the frame index,
        the camera (yaw and pitch in degrees, zoom) and the push offset in canonical pixels.
        Objects' ``visible_fraction`` is the scene's (occlusion, not the frame's cropping).
        """
        if not 0 <= int(frame) <= MAX_FRAMES:
            raise ValueError(f"frame must be in 0..{MAX_FRAMES}, not {frame}")
        frame = int(frame)
        camera = self.camera(frame)
        image, visible, shadows = self._world(frame)
        warped = self._warp(image, camera, cv2.BORDER_REPLICATE)
        noise = np.random.default_rng(np.random.SeedSequence(
            [SEED_DOMAIN, self.seed, self.scene.index, _SEQUENCE_STREAM, frame]))
        pixels = finish(warped, self._appearance, noise)
        object_masks = np.stack([self._warp_mask(m, camera) for m in visible])
        scene = self.scene
        objects = [replace(o, bbox=_bbox(object_masks[i])) for i, o in enumerate(scene.objects)]
        ignore = [self._warp_mask(shadows[t], camera) if t in shadows else None for t in scene.targets]
        info = dict(scene.info)
        info["sequence"] = {"frame": frame, "yaw_deg": round(camera.yaw_deg, 4), "pitch_deg": round(camera.pitch_deg, 4),
                            "zoom": round(camera.zoom, 5), "push": [round(v, 3) for v in self.push_offset(frame)]}
        return replace(scene, name=f"{scene.name}_f{frame:03d}", image=pixels,
                       target_masks=[object_masks[t] for t in scene.targets], ignore_masks=ignore,
                       objects=objects, object_masks=object_masks, info=info)


def render_sequence(seed: int, index: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
                    motion: str | Motion = "moderate", families: Sequence[str] | None = None,
                    family: str | None = None) -> SynthSequence:
    """Sequence ``index`` of ``seed``: the scene :func:`render_scene` draws for that seed and
    index (at ``WORLD_SCALE`` times ``size``), seen by a moving camera.

    :param size: (W, H) of each frame.
    :param motion: a :data:`MOTIONS` name or a :class:`Motion`.
    :returns: the sequence; render frames with :meth:`SynthSequence.frame`.
    :raises ValueError: unknown motion, negative seed/index, non-positive size (and what
        :func:`render_scene` refuses).
    """
    if isinstance(motion, str):
        if motion not in MOTIONS:
            raise ValueError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
        motion = MOTIONS[motion]
    width, height = (int(v) for v in size)
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive (W, H), got {size}")
    world = (int(round(width * WORLD_SCALE)), int(round(height * WORLD_SCALE)))
    scene = render_scene(seed, index, world, families=families, family=family)
    return SynthSequence(scene, (width, height), motion, int(seed))


def write_sequence(folder: str | Path, seed: int, index: int, frames: int, size: tuple[int, int] = DEFAULT_SIZE,
                   motion: str | Motion = "moderate", families: Sequence[str] | None = None,
                   weights: dict[str, int] | None = None) -> SynthSample:
    """Write frames ``0 .. frames-1`` of sequence ``index`` as ReasonSeg samples
    (``<name>_f<frame>.jpg`` + ``.json``; the JSON ``info.sequence`` holds the camera).

    :returns: the scene (at the world size), for its family.
    """
    from lisa_ros.data.synth.families import family_for_index
    from lisa_ros.data.synth.writer import write_synth_sample

    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be in 1..{MAX_FRAMES}, not {frames}")
    sequence = render_sequence(seed, index, size, motion, family=family_for_index(index, families, weights))
    for frame in range(frames):
        write_synth_sample(folder, sequence.frame(frame))
    return sequence.scene
