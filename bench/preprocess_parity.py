#!/usr/bin/env python3
"""How far each way of preprocessing on the model's device is from the official PIL path.

Three ways to make both encoders' inputs from a ``uint8`` frame:

* ``pil``: the official CPU path (:mod:`lisa_ros.core.preprocess`: PIL bicubic for CLIP, PIL
  bilinear for SAM) - the reference;
* ``ours``: :mod:`lisa_ros.core.device_preprocess` (PIL's fixed-point arithmetic in torch ops);
* ``interpolate``: ``torch.nn.functional.interpolate`` (antialiased bicubic / bilinear on float
  pixels, rounded to ``uint8``), the obvious GPU implementation.

Per way, over the frames: the largest difference of the resized SAM image (``uint8`` units) and
of CLIP's normalised input, the share of differing values, and the median time (on
``--device``; PIL always on the CPU). With ``--model``, also the effect on the model: the same
forced answer decoded on each way's inputs, answers and masks compared with PIL's (greedy answers
too).

    python bench/preprocess_parity.py --model lisa-tiny --json /tmp/preprocess_parity.json
    python bench/preprocess_parity.py --device cuda --json preprocess_parity.json     # GPU machine
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lisa_ros.core import image_features  # noqa: E402
from lisa_ros.core.device_preprocess import clip_pixels_on_device, sam_resized_on_device  # noqa: E402
from lisa_ros.core.preprocess import (  # noqa: E402
    ClipPreprocessConfig, clip_resize_shape, preprocess_clip, resize_for_sam, sam_resize_shape,
)


def frames(count: int) -> list[tuple[np.ndarray, str]]:
    """(image, instruction): synthetic tabletop scenes at 640x480 and 1280x720 with their own
    explicit queries ("Where is the red mug?"), and a noise frame (the worst case for rounding)."""
    from lisa_ros.data.synth import render_scene

    out = []
    for index in range(count):
        size = (640, 480) if index % 2 == 0 else (1280, 720)
        scene = render_scene(seed=9100 + index, index=0, size=size, family="explicit")
        out.append((scene.image, scene.texts[0]))
    noise = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    return out + [(noise, "Where is the mug?")]


def interpolate_inputs(frame, config: ClipPreprocessConfig, input_size: int):
    """CLIP pixels and SAM's resized image with ``F.interpolate`` (antialias) instead of PIL."""
    import torch.nn.functional as F

    pixels = frame.permute(2, 0, 1).unsqueeze(0).float()
    height, width = frame.shape[:2]

    def resize(size, mode):
        return F.interpolate(pixels, size=size, mode=mode, antialias=True, align_corners=False).round().clamp(0, 255)

    new_h, new_w = clip_resize_shape(height, width, config)
    clip = resize((new_h, new_w), "bicubic")[0].permute(1, 2, 0).to(torch.uint8)
    if config.crop is not None:
        top, left = (new_h - config.crop[0]) // 2, (new_w - config.crop[1]) // 2
        clip = clip[top : top + config.crop[0], left : left + config.crop[1]]
    clip = ((clip.double() * config.rescale_factor).float() - torch.tensor(config.mean, device=frame.device)) / \
        torch.tensor(config.std, device=frame.device)
    sam = resize(sam_resize_shape(height, width, input_size), "bilinear")[0].permute(1, 2, 0).to(torch.uint8)
    return clip.permute(2, 0, 1).unsqueeze(0), sam


def _ways(device: str, config, input_size: int):
    def ours(image):
        frame = torch.from_numpy(image).to(device)
        return clip_pixels_on_device(frame, config), sam_resized_on_device(frame, input_size)[0]

    def interpolate(image):
        return interpolate_inputs(torch.from_numpy(image).to(device), config, input_size)

    return {"ours": ours, "interpolate": interpolate}


def input_parity(images, device: str, config: ClipPreprocessConfig, input_size: int) -> dict:
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    report = {}
    pil_ms = []
    for image, _ in images:
        start = time.perf_counter()
        resize_for_sam(image, input_size), preprocess_clip(image, config)
        pil_ms.append((time.perf_counter() - start) * 1000)
    report["pil"] = {"median_ms": round(statistics.median(pil_ms), 3), "device": "cpu"}
    for name, way in _ways(device, config, input_size).items():
        for image, _ in images:
            way(image)  # warm-up (and the pass-order calibration of ours, once per size)
        sam_diff, clip_diff, sam_share, clip_share, times = 0, 0.0, [], [], []
        for image, _ in images:
            sync()
            start = time.perf_counter()
            clip, sam = way(image)
            sync()
            times.append((time.perf_counter() - start) * 1000)
            official_sam = resize_for_sam(image, input_size)[0].astype(np.int16)
            official_clip = preprocess_clip(image, config)
            sam_delta = np.abs(sam.cpu().numpy().astype(np.int16) - official_sam)
            clip_delta = np.abs(clip[0].cpu().numpy() - official_clip)
            sam_diff, clip_diff = max(sam_diff, int(sam_delta.max())), max(clip_diff, float(clip_delta.max()))
            sam_share.append(float((sam_delta > 0).mean()))
            clip_share.append(float((clip_delta > 0).mean()))
        report[name] = {
            "sam_uint8_max_abs": sam_diff, "sam_share_differing": round(max(sam_share), 5),
            "clip_normalised_max_abs": round(clip_diff, 6), "clip_share_differing": round(max(clip_share), 5),
            "median_ms": round(statistics.median(times), 3), "device": device,
        }
    return report


def model_effect(model_name: str, images, device: str) -> dict:
    """Answers and masks of a model when its inputs come from each way, against PIL's."""
    from lisa_ros.core.segmenter import LisaSegmenter

    segmenter = LisaSegmenter.from_pretrained(model_name, device=device)
    input_size = segmenter.model.sam_shape.img_size
    official_preprocess = image_features._preprocess
    effect = {}
    for name, way in _ways(device, segmenter.loaded.clip_preprocess, input_size).items():
        def patched(image, clip_preprocess, size, device_, with_clip, on_device, way=way):
            clip, sam = way(image)
            return clip, sam, resize_for_sam(image, size)[1]

        same_answers, ious = 0, []
        for index, (image, question) in enumerate(images):
            image_features._preprocess = official_preprocess
            reference = segmenter.segment(image, question, frame_key=f"pil{index}")
            image_features._preprocess = patched
            try:
                ours = segmenter.segment(image, question, frame_key=f"{name}{index}")
            finally:
                image_features._preprocess = official_preprocess
            same_answers += ours.answer_ids == reference.answer_ids
            for a, b in zip(ours.masks, reference.masks):
                union = np.logical_or(a.mask, b.mask).sum()
                ious.append(float(np.logical_and(a.mask, b.mask).sum() / union) if union else 1.0)
        effect[name] = {"same_answer": f"{same_answers}/{len(images)}",
                        "mask_iou_min": round(min(ious), 5) if ious else None, "masks_compared": len(ious)}
    return effect


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--model", help="also compare a model's answers and masks (e.g. lisa-tiny)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    images = frames(args.frames)
    report = {"benchmark": "bench/preprocess_parity.py", "date": time.strftime("%Y-%m-%d %H:%M"),
              "device": args.device, "frames": len(images),
              "inputs": input_parity(images, args.device, ClipPreprocessConfig(), 1024)}
    if args.model:
        report["model"] = args.model
        report["model_effect"] = model_effect(args.model, images, args.device)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
