"""The demo's script: scenes with one instruction each, their ground truth in 2D and 3D, and how
an answer compares with it. No ROS here beyond reading result messages.

Each step is a synthetic tabletop scene (:func:`lisa_ros.data.synth.render_scene`, 640x480)
with an aligned depth image in millimetres and the camera intrinsics
(:func:`lisa_ros.data.synth.render_depth`, with realistic defects: noise growing with distance,
holes, flying pixels at object edges), and the ground truth: target masks and each target's 3D
centroid (optical frame, metres).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lisa_ros.msg import SegmentationResult

__all__ = ["SIZE", "SCRIPT_FAMILIES", "STATUS", "DemoStep", "StepOutcome", "build_script", "result_iou",
           "centroid_errors_mm", "format_row", "summary", "save_overlay", "save_cloud"]

SIZE = (640, 480)  # (W, H) of the synthetic camera
SCRIPT_FAMILIES = ("explicit", "functional", "world_knowledge", "spatial", "comparative",
                   "multi_target", "absent", "explanatory", "explicit", "multi_target")
STATUS = ("OK", "NO_TARGET", "INVALID_INPUT", "DROPPED", "ERROR")


@dataclass
class DemoStep:
    """One scripted instruction with its scene and ground truth.

    Attributes:
        image: ``uint8 [H, W, 3]`` RGB.
        target: ``uint8 [H, W]``: 1 target, 255 ignore, 0 background.
        depth_mm: ``uint16 [H, W]`` depth registered to ``image`` (0 = no reading).
        intrinsics: the camera's (fx, fy, cx, cy) in pixels, for ``depth_mm`` and ``image``.
        target_centroids: ``float [T, 3]`` metres, optical frame: each target's visible surface.
    """

    index: int
    family: str
    instruction: str
    image: np.ndarray
    target: np.ndarray
    expected_answer: str
    depth_mm: np.ndarray
    intrinsics: tuple[float, float, float, float]
    target_centroids: np.ndarray


@dataclass
class StepOutcome:
    step: DemoStep
    result: SegmentationResult | None
    iou: float | None
    scene_matched: bool
    overlay: np.ndarray | None
    seconds: float
    cloud: object = None  # the node's objects/points (sensor_msgs/PointCloud2) for this result

    @property
    def status(self) -> str:
        return "TIMEOUT" if self.result is None else STATUS[self.result.status]


def build_script(count: int = 10, seed: int = 0, families=SCRIPT_FAMILIES) -> list[DemoStep]:
    """``count`` scenes with one instruction each, cycling through ``families``."""
    from lisa_ros.data.synth import render_depth, render_scene

    steps = []
    for index in range(count):
        family = families[index % len(families)]
        sample = render_scene(seed, index, size=SIZE, family=family)
        target = np.zeros(sample.image.shape[:2], np.uint8)
        for mask in sample.ignore_masks:
            if mask is not None:
                target[mask] = 255
        for mask in sample.target_masks:
            target[mask] = 1
        depth = render_depth(sample, defects=True)
        k = depth.intrinsics
        centroids = np.array([t.centroid for t in depth.targets()], float).reshape(-1, 3)
        steps.append(DemoStep(index, family, sample.texts[0], sample.image, target, sample.answer,
                              depth.depth_mm, (k.fx, k.fy, k.cx, k.cy), centroids))
    return steps


def result_iou(result: SegmentationResult, target: np.ndarray) -> float | None:
    """Official per-mask IoU of the union of the result's masks against the target union
    (None unless the result is OK or NO_TARGET)."""
    from lisa_ros.eval.metrics import mask_iou

    if result.status not in (SegmentationResult.OK, SegmentationResult.NO_TARGET):
        return None
    predicted = np.zeros(target.shape, bool)
    for mask in result.masks:
        pixels = np.frombuffer(mask.data, np.uint8).reshape(mask.height, mask.step)[:, : mask.width]
        if pixels.shape == target.shape:
            predicted |= pixels > 0
    return float(mask_iou(predicted, target))


def centroid_errors_mm(result: SegmentationResult, step: DemoStep) -> list[float | None]:
    """Per mask: distance in millimetres from its 3D centroid to the nearest target's ground
    truth (None for a mask without 3D, or a scene without targets)."""
    errors = []
    for status, centroid in zip(result.status_3d, result.centroids):
        if status != SegmentationResult.OBJECT3D_OK or len(step.target_centroids) == 0:
            errors.append(None)
            continue
        gaps = np.linalg.norm(step.target_centroids - [centroid.x, centroid.y, centroid.z], axis=1)
        errors.append(float(gaps.min() * 1000.0))
    return errors


def _three_d(result: SegmentationResult, step: DemoStep) -> str:
    parts = []
    for index, error in enumerate(centroid_errors_mm(result, step)):
        if result.status_3d[index] != SegmentationResult.OBJECT3D_OK:
            parts.append(f"mask {index}: no 3D ({result.reasons_3d[index]})")
            continue
        c = result.centroids[index]
        where = "no target in this scene" if error is None else f"{error:.0f} mm from the nearest target"
        parts.append(f"mask {index}: centroid ({c.x:+.3f}, {c.y:+.3f}, {c.z:.3f}) m, {where}")
    return "; ".join(parts)


def format_row(outcome: StepOutcome, total: int) -> str:
    result = outcome.result
    answer = "" if result is None else (result.answer or result.error)
    if len(answer) > 160:
        answer = answer[:157] + "..."
    iou = "-" if outcome.iou is None else f"{outcome.iou:.2f}"
    latency = "-" if result is None else f"{result.latency_ms:.0f} ms"
    scene = "" if outcome.scene_matched or result is None else " (result on another scene's frame!)"
    row = (f"[{outcome.step.index + 1:2d}/{total}] {outcome.step.family:<15} {outcome.status:<13} IoU {iou:<5} "
           f"{latency:>9}\n      Q: {outcome.step.instruction}\n      A: {answer}{scene}")
    if result is not None and len(result.masks):
        row += f"\n      3D: {_three_d(result, outcome.step)}"
    return row


def summary(outcomes: list[StepOutcome]) -> str:
    answered = [o for o in outcomes if o.result is not None]
    ious = [o.iou for o in outcomes if o.iou is not None]
    latencies = sorted(o.result.latency_ms for o in answered)
    errors = [e for o in answered for e in centroid_errors_mm(o.result, o.step) if e is not None]
    by_status = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    parts = [f"{len(answered)}/{len(outcomes)} answered", ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))]
    if ious:
        parts.append(f"mean IoU {np.mean(ious):.3f}")
    if errors:
        parts.append(f"3D centroid error to the nearest target: median {np.median(errors):.0f} mm "
                     f"over {len(errors)} masks")
    if latencies:
        parts.append(f"median latency {latencies[len(latencies) // 2]:.0f} ms")
    return "; ".join(parts)


def save_overlay(outcome: StepOutcome, out_dir: Path) -> Path | None:
    import cv2

    if outcome.overlay is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{outcome.step.index:02d}_{outcome.step.family}.png"
    cv2.imwrite(str(path), cv2.cvtColor(outcome.overlay, cv2.COLOR_RGB2BGR))
    return path


def save_cloud(step: DemoStep, cloud, out_dir: Path) -> Path | None:
    """The node's ``objects/points`` for this step as a PLY (x, y, z metres + label)."""
    from lisa_ros.core.ply import write_ply

    if cloud is None or cloud.width == 0:
        return None
    points = np.frombuffer(bytes(cloud.data), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<u4")])
    xyz = np.stack([points["x"], points["y"], points["z"]], axis=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_ply(out_dir / f"{step.index:02d}_{step.family}_objects.ply", xyz, points["label"])
