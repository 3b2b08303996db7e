"""What real depth cameras do to a depth image, applied to the exact synthetic one.

- **Registration error**: depth registered to the colour camera is off by about a pixel, so
  an object's depth edge and its colour edge (and mask) do not quite coincide.
- **Noise** growing with the square of the distance (stereo and structured-light cameras:
  the disparity error is about constant, so the depth error grows as z squared).
- **Flying pixels**: within ``flying_band_px`` pixels of a depth edge (a step of more than
  ``edge_jump`` between neighbouring pixels) a pixel sees foreground and background at once
  and reads a depth in between (anywhere between the nearest and farthest depth around it).
- **Holes**: blobs with no reading (reflective, dark or shadowed surfaces).
- **Dropout**: scattered single pixels with no reading.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["DepthDefects", "apply_defects"]


@dataclass(frozen=True)
class DepthDefects:
    """Strength of each defect (lengths in metres).

    Attributes:
        shift_px: largest registration error; the depth image is moved by a vector drawn
            uniformly in a disc of this radius (pixels, nearest-neighbour resampling).
        noise_at_half_metre: standard deviation of the depth noise at 0.5 m; at depth z it is
            ``noise_at_half_metre * (z / 0.5) ** 2`` (1.5 mm at 0.5 m, 6 mm at 1 m).
        flying_probability: share of depth-edge pixels that read a mix of both sides.
        flying_band_px: how far from an edge (pixels, on both sides) a pixel can fly.
        edge_jump: depth step between neighbouring pixels that makes an edge.
        holes: (fewest, most) blobs without a reading per image.
        hole_radius: (smallest, largest) blob radius as a fraction of the image height.
        dropout: share of pixels without a reading, scattered.
    """

    shift_px: float = 1.5
    noise_at_half_metre: float = 0.0015
    flying_probability: float = 0.5
    flying_band_px: int = 2
    edge_jump: float = 0.02
    holes: tuple[int, int] = (1, 4)
    hole_radius: tuple[float, float] = (0.01, 0.04)
    dropout: float = 0.01

    def as_dict(self) -> dict:
        return {"shift_px": self.shift_px, "noise_at_half_metre": self.noise_at_half_metre,
                "flying_probability": self.flying_probability,
                "flying_band_px": self.flying_band_px, "edge_jump": self.edge_jump,
                "holes": list(self.holes), "hole_radius": list(self.hole_radius),
                "dropout": self.dropout}


def apply_defects(depth: np.ndarray, defects: DepthDefects, rng: np.random.Generator) -> np.ndarray:
    """The observed depth: ``float32 [H, W]`` metres, NaN where there is no reading.

    :param depth: exact ``float32 [H, W]`` metres (not modified).
    """
    h, w = depth.shape
    angle, reach = rng.uniform(0, 2 * np.pi), defects.shift_px * np.sqrt(rng.uniform())
    shift = np.float32([[1, 0, reach * np.cos(angle)], [0, 1, reach * np.sin(angle)]])
    depth = cv2.warpAffine(depth, shift, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    band = defects.flying_band_px
    kernel = np.ones((2 * band + 1,) * 2, np.uint8)
    near, far = cv2.erode(depth, kernel), cv2.dilate(depth, kernel)
    # a step between neighbouring pixels (a slanted table is no edge, however steep over 5 pixels)
    step = np.zeros((h, w), bool)
    across = np.abs(np.diff(depth, axis=1)) > defects.edge_jump
    down = np.abs(np.diff(depth, axis=0)) > defects.edge_jump
    step[:, 1:] |= across
    step[:, :-1] |= across
    step[1:] |= down
    step[:-1] |= down
    if band > 1:
        step = cv2.dilate(step.view(np.uint8), np.ones((2 * band - 1,) * 2, np.uint8)).view(bool)
    mix, pick = rng.random((h, w), dtype=np.float32), rng.random((h, w), dtype=np.float32)
    flying = step & (pick < defects.flying_probability)
    observed = np.where(flying, near + mix * (far - near), depth)
    sigma = np.float32(defects.noise_at_half_metre / 0.25) * observed * observed
    observed = observed + sigma * rng.standard_normal((h, w), dtype=np.float32)
    missing = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(defects.holes[0], defects.holes[1] + 1))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        radii = rng.uniform(*defects.hole_radius, size=2) * h
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(missing, centre, (max(1, int(radii[0])), max(1, int(radii[1]))), angle, 0, 360, 1, -1)
    missing |= (rng.random((h, w), dtype=np.float32) < defects.dropout).view(np.uint8)
    observed[missing.view(bool)] = np.nan
    return observed.astype(np.float32, copy=False)
