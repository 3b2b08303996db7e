"""How close :func:`lisa_ros.core.objects3d.objects_3d` puts objects in 3D, and how fast.

On synthetic 640x480 scenes with an aligned depth image that has the realistic defects on
(:class:`lisa_ros.data.synth.depth_defects.DepthDefects`: registration error, flying pixels
near depth edges, noise growing with z squared, holes, dropout), against the exact ground truth
(:mod:`lisa_ros.data.synth.depth_render`: centroid and extents of each object's visible surface):

1. ground-truth masks, every object of ``--scenes`` scenes, binned by distance;
2. lisa-tiny's masks on ``--tiny-scenes`` other scenes (each mask scored against the object it
   overlaps most, all masks and those with IoU >= 0.5);
3. the time of ``objects_3d`` for 3 masks on a 640x480 depth image.

Each is compared, in the same run, with the naive rule: the mean (and min..max extents) of
every masked pixel that has a depth reading, no erosion and no gating.

    .venv/bin/python bench/depth_accuracy.py [--scenes 100] [--tiny-scenes 60] [--ablation] [--strong] [--json out.json]

Prints markdown tables. Result: docs/benchmarks.md, "3D from depth".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from lisa_ros.core.depth import Intrinsics, depth_to_metres
from lisa_ros.core.objects3d import Object3DSettings, objects_3d
from lisa_ros.data.synth import DepthDefects, render_scene
from lisa_ros.data.synth.depth_render import render_depth
from lisa_ros.eval.metrics import mask_iou

SIZE = (640, 480)
DISTANCE_BINS = [(0.5, 0.7), (0.7, 0.9), (0.9, 1.1), (1.1, 1.55)]
# A worse camera or registration: for how each rule degrades (--strong)
STRONG_DEFECTS = DepthDefects(shift_px=3.0, flying_probability=0.9, flying_band_px=3)
ABLATION = {
    "no erosion (gate and cluster only)": Object3DSettings(erode_px=0),
    "erode_px=1": Object3DSettings(erode_px=1),
    "erode_px=3": Object3DSettings(erode_px=3),
    "erode_px=3, erode_keep_fraction=0.5": Object3DSettings(erode_px=3, erode_keep_fraction=0.5),
    "erode_px=2, no gate or cluster": Object3DSettings(mad_gate=1e9, cluster_density=1e-9, cluster_min_fraction=1e-9),
    "extent_percentiles=(1, 99)": Object3DSettings(extent_percentiles=(1.0, 99.0)),
}


def naive_3d(mask: np.ndarray, depth_m: np.ndarray, k: Intrinsics) -> tuple[np.ndarray, np.ndarray] | None:
    """(centroid, size) from every masked pixel with a reading: the rule people write first."""
    rows, cols = np.nonzero(mask)
    z = depth_m[rows, cols]
    ok = np.isfinite(z)
    if not ok.any():
        return None
    z, rows, cols = z[ok], rows[ok], cols[ok]
    points = np.stack([(cols - k.cx) * z / k.fx, (rows - k.cy) * z / k.fy, z], axis=1)
    return points.mean(axis=0), np.ptp(points, axis=0)


def _errors(masks, depth_m, k, truths, settings) -> list[dict]:
    """Per mask: robust and naive centroid error (mm, Euclidean) and mean extent error (mm)."""
    rows = []
    for mask, robust, truth in zip(masks, objects_3d(masks, depth_m, k, settings), truths):
        naive = naive_3d(mask, depth_m, k)
        row = {"z": truth.centroid[2], "category": truth.category, "ok": robust.ok}
        if robust.ok:
            row["robust"] = 1000 * float(np.linalg.norm(np.subtract(robust.centroid, truth.centroid)))
            row["robust_size"] = 1000 * float(np.abs(np.subtract(robust.size, truth.size)).mean())
        if naive is not None:
            row["naive"] = 1000 * float(np.linalg.norm(naive[0] - truth.centroid))
            row["naive_size"] = 1000 * float(np.abs(naive[1] - truth.size).mean())
        rows.append(row)
    return rows


def _scene_depth(seed: int, index: int, defects: DepthDefects | bool = True):
    sample = render_scene(seed, index, SIZE)
    depth = render_depth(sample, defects=defects)
    return sample, depth, depth_to_metres(depth.depth_mm, "16UC1")


def ground_truth_masks(seed: int, scenes: int, settings: Object3DSettings,
                       defects: DepthDefects | bool = True) -> list[dict]:
    rows = []
    for index in range(scenes):
        sample, depth, depth_m = _scene_depth(seed, index, defects)
        rows += _errors(list(sample.object_masks), depth_m, depth.intrinsics, depth.truth, settings)
    return rows


def segment_scenes(seed: int, scenes: int) -> list[tuple[int, list[np.ndarray]]]:
    """lisa-tiny's masks for each scene's first query (scenes without a mask left out)."""
    from lisa_ros.core.segmenter import LisaSegmenter

    segmenter = LisaSegmenter.from_pretrained("lisa-tiny", device="cpu")
    found = []
    for index in range(scenes):
        sample = render_scene(seed, index, SIZE)
        masks = [m.mask for m in segmenter.segment(sample.image, sample.texts[0]).masks]
        if masks:
            found.append((index, masks))
    return found


def model_masks(seed: int, segmented, settings: Object3DSettings) -> list[dict]:
    """Errors of each model mask against the object it overlaps most (its IoU recorded)."""
    rows = []
    for index, masks in segmented:
        sample, depth, depth_m = _scene_depth(seed, index)
        ious = [[mask_iou(m, obj) for obj in sample.object_masks] for m in masks]
        best = [int(np.argmax(row)) for row in ious]
        found = _errors(masks, depth_m, depth.intrinsics, [depth.truth[b] for b in best], settings)
        for row, iou_row, b in zip(found, ious, best):
            row["iou"] = float(iou_row[b])
        rows += found
    return rows


def speed(seed: int, repeats: int, settings: Object3DSettings) -> dict:
    """Median ms of objects_3d and of the naive rule on 3 masks of one 640x480 scene."""
    index = 0
    while True:
        sample = render_scene(seed, index, SIZE)
        if len(sample.objects) >= 3:
            break
        index += 1
    depth = render_depth(sample, defects=True)
    depth_m = depth_to_metres(depth.depth_mm, "16UC1")
    masks = list(sample.object_masks[-3:])  # the three front ones
    timings = {"robust": [], "naive": [], "depth_to_metres": []}
    for _ in range(repeats):
        start = time.perf_counter()
        objects_3d(masks, depth_m, depth.intrinsics, settings)
        middle = time.perf_counter()
        for mask in masks:
            naive_3d(mask, depth_m, depth.intrinsics)
        end = time.perf_counter()
        depth_to_metres(depth.depth_mm, "16UC1")
        timings["robust"].append(middle - start)
        timings["naive"].append(end - middle)
        timings["depth_to_metres"].append(time.perf_counter() - end)
    result = {k: 1000 * float(np.median(v)) for k, v in timings.items()}
    result["mask_pixels"] = [int(m.sum()) for m in masks]
    result["scene"] = sample.name
    return result


def _stats(values) -> tuple[float, float]:
    values = np.asarray([v for v in values if v is not None], float)
    if len(values) == 0:
        return float("nan"), float("nan")
    return float(np.median(values)), float(np.percentile(values, 90))


def _table(groups: list[tuple[str, list[dict]]]) -> str:
    lines = ["| objects | n | robust centroid median / p90 (mm) | naive centroid median / p90 (mm) | "
             "p90 naive / robust | robust size error median / p90 (mm) | naive size error median / p90 (mm) | "
             "no 3D |",
             "|---|---|---|---|---|---|---|---|"]
    for name, group in groups:
        if not group:
            continue
        r = _stats([g.get("robust") for g in group])
        n = _stats([g.get("naive") for g in group])
        rs = _stats([g.get("robust_size") for g in group])
        ns = _stats([g.get("naive_size") for g in group])
        failed = sum(not g["ok"] for g in group)
        lines.append(f"| {name} | {len(group)} | {r[0]:.2f} / {r[1]:.2f} | {n[0]:.2f} / {n[1]:.2f} | "
                     f"{n[1] / r[1]:.1f}x | {rs[0]:.1f} / {rs[1]:.1f} | {ns[0]:.1f} / {ns[1]:.1f} | {failed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=100, help="scenes with ground-truth masks (0: skip)")
    parser.add_argument("--seed", type=int, default=4, help="seed of those; lisa-tiny's scenes use seed + 1")
    parser.add_argument("--tiny-scenes", type=int, default=60, help="scenes segmented by lisa-tiny (0: skip)")
    parser.add_argument("--repeats", type=int, default=300, help="timing repeats")
    parser.add_argument("--ablation", action="store_true", help="also score the settings in ABLATION")
    parser.add_argument("--strong", action="store_true", help="also ground-truth masks with STRONG_DEFECTS")
    parser.add_argument("--json", help="also write the raw rows here")
    args = parser.parse_args(argv)
    settings = Object3DSettings()
    print(f"settings: {settings}\nmachine: {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, numpy {np.__version__}\n")

    gt = []
    if args.scenes > 0:
        start = time.perf_counter()
        gt = ground_truth_masks(args.seed, args.scenes, settings)
        print(f"### Ground-truth masks: {len(gt)} objects in {args.scenes} scenes (seed {args.seed}), "
              f"{time.perf_counter() - start:.0f} s\n")
        bins = [(f"z {lo:.1f}-{hi:.1f} m", [r for r in gt if lo <= r["z"] < hi]) for lo, hi in DISTANCE_BINS]
        print(_table(bins + [("all", gt)]) + "\n")

    if args.strong:
        strong = ground_truth_masks(args.seed, args.scenes, settings, STRONG_DEFECTS)
        print(f"### Ground-truth masks, stronger defects ({STRONG_DEFECTS})\n")
        print(_table([(f"z {lo:.1f}-{hi:.1f} m", [r for r in strong if lo <= r["z"] < hi])
                              for lo, hi in DISTANCE_BINS] + [("all", strong)]) + "\n")

    tiny, segmented = [], []
    if args.tiny_scenes > 0:
        start = time.perf_counter()
        segmented = segment_scenes(args.seed + 1, args.tiny_scenes)
        tiny = model_masks(args.seed + 1, segmented, settings)
        print(f"### lisa-tiny masks: {len(tiny)} masks from {len(segmented)} of {args.tiny_scenes} scenes with a "
              f"mask (seed {args.seed + 1}), {time.perf_counter() - start:.0f} s\n")
        good = [r for r in tiny if r["iou"] >= 0.5]
        poor = [r for r in tiny if r["iou"] < 0.5]
        print(_table([("all masks", tiny), ("IoU >= 0.5", good), ("IoU < 0.5", poor)]) + "\n")

    if args.ablation:
        print("### Other settings, same scenes (robust rule, median / p90, mm)\n")
        print("| settings | centroid, ground-truth masks | size, ground-truth masks | centroid, lisa-tiny masks "
              "IoU >= 0.5 | size, lisa-tiny masks IoU >= 0.5 |\n|---|---|---|---|---|")
        for name, variant in {"defaults": settings, **ABLATION}.items():
            g = ground_truth_masks(args.seed, args.scenes, variant)
            t = [r for r in model_masks(args.seed + 1, segmented, variant) if r["iou"] >= 0.5]
            cells = [_stats([r.get(key) for r in rows]) for rows in (g, t) for key in ("robust", "robust_size")]
            print(f"| {name} | " + " | ".join(f"{a:.2f} / {b:.2f}" for a, b in (cells[0], cells[1], cells[2], cells[3]))
                  + " |")
        print()

    timing = speed(args.seed, args.repeats, settings)
    print(f"### Speed, 3 masks ({', '.join(map(str, timing['mask_pixels']))} pixels) on 640x480, "
          f"{args.repeats} repeats, median (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n")
    print("| step | ms |\n|---|---|")
    print(f"| objects_3d (robust) | {timing['robust']:.2f} |")
    print(f"| naive mean, same masks | {timing['naive']:.2f} |")
    print(f"| depth_to_metres (16UC1, whole image, once per frame) | {timing['depth_to_metres']:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"settings": repr(settings), "ground_truth": gt, "tiny": tiny, "speed": timing}, f, indent=1)


if __name__ == "__main__":
    main()
