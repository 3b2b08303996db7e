"""Depth sidecar files of a synthetic ReasonSeg folder (``lisa-synth --depth``).

Next to ``OUT[/SPLIT]/<name>.jpg`` + ``.json``, in a ``depth/`` subfolder (ReasonSeg readers
list only the folder itself, so the sidecars never look like samples):

- ``depth/<name>_depth.png``: ``uint16`` PNG, millimetres, 0 = no reading (a 16UC1 image),
  aligned pixel for pixel with ``<name>.jpg``;
- ``depth/<name>_camera.json``: ``{"intrinsics": {"fx", "fy", "cx", "cy", "width",
  "height"}, "encoding": "16UC1", "depth_unit": "mm", "frame": ..., "pitch_deg",
  "height_m", "defects": {...} or null, "generator"}`` (defect lengths in metres, shifts and
  bands in pixels);
- ``depth/<name>_3d.json``: ``{"frame": ..., "objects": [...]}``, one entry per object of the
  sample's ``objects`` list (same order): ``index``, ``group_id`` (the ``[SEG]`` it answers,
  or null), ``category``, ``solid``, ``visible_pixels``, ``centroid`` and ``size`` (metres,
  the visible surface's mean and extents) and ``base`` (where it meets the table).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from lisa_ros.core.depth import Intrinsics
from lisa_ros.data.synth.depth_defects import DepthDefects
from lisa_ros.data.synth.depth_render import render_depth
from lisa_ros.data.synth.scene import SynthSample

__all__ = ["DEPTH_FOLDER", "DEPTH_GENERATOR_TAG", "FRAME", "write_depth_files", "read_depth_files"]

DEPTH_FOLDER = "depth"
DEPTH_GENERATOR_TAG = "lisa_ros.synth.depth/1"  # bump when the same scene would get other depth
FRAME = "camera optical frame: x right, y down, z forward; metres"


def write_depth_files(folder: str | Path, sample: SynthSample,
                      defects: bool | DepthDefects = False) -> Path:
    """Render the sample's depth (:func:`render_depth`) and write its three sidecar files
    into ``folder/depth/``; returns the PNG's path."""
    scene = render_depth(sample, defects)
    out = Path(folder) / DEPTH_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{sample.name}_depth.png"
    if not cv2.imwrite(str(png), scene.depth_mm):
        raise OSError(f"could not write {png}")
    camera = {
        "intrinsics": scene.intrinsics.as_dict(), "encoding": "16UC1", "depth_unit": "mm", "frame": FRAME,
        "pitch_deg": round(math.degrees(scene.camera.pitch), 4), "height_m": round(scene.camera.height, 6),
        "defects": scene.defects.as_dict() if scene.defects else None, "generator": DEPTH_GENERATOR_TAG,
    }
    (out / f"{sample.name}_camera.json").write_text(json.dumps(camera, indent=1) + "\n", encoding="utf-8")
    truth = {"frame": FRAME, "objects": [t.as_dict() for t in scene.truth]}
    (out / f"{sample.name}_3d.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return png


def read_depth_files(folder: str | Path, name: str) -> tuple[np.ndarray, Intrinsics, list[dict]]:
    """``(depth uint16 [H, W] millimetres, intrinsics, ground-truth objects)`` of sample ``name``
    in the ReasonSeg folder ``folder``.

    :raises FileNotFoundError: no depth written for it.
    """
    out = Path(folder) / DEPTH_FOLDER
    depth = cv2.imread(str(out / f"{name}_depth.png"), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise FileNotFoundError(f"no depth image for {name} in {out}")
    camera = json.loads((out / f"{name}_camera.json").read_text(encoding="utf-8"))
    truth = json.loads((out / f"{name}_3d.json").read_text(encoding="utf-8"))
    return depth, Intrinsics(**camera["intrinsics"]), truth["objects"]
