"""``lisa-segment``: segment one image with one instruction, print the result as JSON.

Example::

    lisa-segment --model lisa-tiny --image table.png --prompt "I'm thirsty, what can I use?" --out out/

Prints one JSON object on stdout::

    {"status": "OK", "answer": "Sure, [SEG].", "masks": [{"file": "mask_0.png", "score": 0.91,
      "box": [x_min, y_min, x_max, y_max], "phrase": "Sure", "area": 5120}],
     "overlay": "overlay.png", "timings": {...}, "model": ..., "image_size": [H, W]}

Each mask is written as a PNG (0/255, the source resolution) into ``--out``, with an overlay.
Bad input or a checkpoint problem: a JSON object with ``status`` ``INVALID_INPUT`` or
``ERROR`` and ``error``, exit code 2.

3D (``--depth FILE --intrinsics fx,fy,cx,cy``): FILE is a depth image aligned with ``--image``
(registered to the colour camera; the same or another resolution of the same aspect ratio),
either a 16-bit PNG in millimetres (0 = no reading) or a ``.npy`` of float metres (NaN or 0 =
no reading); the intrinsics are the colour image's, in pixels. Each mask entry then also has::

    "centroid": [x, y, z], "size": [dx, dy, dz], "valid_points": N, "points_file": "points_0.ply",
    "status_3d": "OK"

in metres, camera optical frame (x right, y down, z forward), the size an axis-aligned box in
that frame (:mod:`lisa_ros.core.objects3d`). ``points_file`` is the object's points as a binary
little-endian PLY in ``--out`` (:mod:`lisa_ros.core.ply`; null without ``--out``). Without 3D
for a mask, ``centroid``, ``size`` and ``points_file`` are null, ``status_3d`` says
``INVALID_DEPTH`` or ``TOO_FEW_POINTS`` and ``reason_3d`` why; the 2D result is printed as
usual (exit code 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from .hub_options import add_hub_arguments, hub_options

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lisa-segment", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="lisa-tiny, a checkpoint folder, or a hub id")
    parser.add_argument("--clip", help="CLIP vision tower folder or hub id (default: the checkpoint's)")
    add_hub_arguments(parser)
    parser.add_argument("--image", required=True, help="image file (any format OpenCV reads)")
    parser.add_argument("--prompt", required=True, help="the instruction")
    parser.add_argument("--out", help="folder for mask PNGs and the overlay (default: none written)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    quant = parser.add_mutually_exclusive_group()
    quant.add_argument("--load-in-4bit", action="store_true", help="NF4 weights for the LLM (bitsandbytes)")
    quant.add_argument("--load-in-8bit", action="store_true", help="LLM.int8 weights for the LLM (bitsandbytes)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument(
        "--prompt-suffix",
        default=None,
        help='appended to the prompt unless present (default "Please output segmentation mask."; "" for none)',
    )
    parser.add_argument("--reference", action="store_true", help="use the slow official no-cache generation")
    parser.add_argument("--min-component-area", type=int, default=0,
                        help="drop mask parts smaller than this many pixels (the largest part stays) and "
                             "recompute the boxes; 0 (default): the model's masks as they are")
    parser.add_argument("--depth", help="depth image aligned with --image: a 16-bit PNG in millimetres or a .npy "
                                        "of float metres (adds 3D to each mask; needs --intrinsics)")
    parser.add_argument("--intrinsics", type=_four_numbers, metavar="FX,FY,CX,CY",
                        help="pinhole intrinsics of --image in pixels (for --depth)")
    return parser


def _four_numbers(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected fx,fy,cx,cy (4 numbers), got {text!r}")
    return values


def _read_depth(path: str):
    """(raw depth, its encoding) from a 16-bit PNG (millimetres) or a .npy (float metres).

    :raises DepthError: unreadable, or not one of those two kinds.
    """
    import cv2
    import numpy as np

    from lisa_ros.core.errors import DepthError
    from lisa_ros.core.validation import DEFAULT_MAX_IMAGE_PIXELS

    if path.lower().endswith(".npy"):
        try:
            depth = np.load(path, mmap_mode="r", allow_pickle=False)  # the header first: size is bounded
        except (OSError, ValueError) as exc:
            raise DepthError(f"cannot read a depth array from {path}: {exc}") from None
        if depth.size > DEFAULT_MAX_IMAGE_PIXELS:
            raise DepthError(f"{path}: {depth.size} values exceed the limit of {DEFAULT_MAX_IMAGE_PIXELS}")
        if not np.issubdtype(depth.dtype, np.floating):
            raise DepthError(f"{path}: a .npy depth must hold float metres, got {depth.dtype} "
                             "(write millimetres as a 16-bit PNG)")
        return np.array(depth), "32FC1"
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise DepthError(f"cannot read a depth image from {path}")
    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise DepthError(f"{path}: a depth PNG must be 16-bit, single-channel millimetres; got {depth.dtype} "
                         f"with shape {depth.shape}")
    return depth, "16UC1"


def _with_depth(output, args):
    """``output`` whose masks carry 3D from ``--depth`` (a status and reason when they cannot)."""
    from lisa_ros.core.depth import Intrinsics
    from lisa_ros.core.errors import DepthError
    from lisa_ros.core.objects3d import Object3D, Object3DStatus

    try:
        depth, encoding = _read_depth(args.depth)
        height, width = output.image_size
        intrinsics = Intrinsics(*args.intrinsics, width, height)
    except DepthError as exc:
        missing = Object3D.missing(Object3DStatus.INVALID_DEPTH, str(exc))
        return replace(output, masks=[replace(m, object3d=missing) for m in output.masks])
    return output.with_3d(depth, encoding, intrinsics)


def _entry_3d(obj, index: int, out_dir: Path | None) -> dict:
    """The JSON keys of one mask's 3D (module docstring); writes its PLY into ``out_dir``."""
    from lisa_ros.core.ply import write_ply

    entry = {"centroid": None, "size": None, "valid_points": obj.valid_points, "points_file": None,
             "status_3d": obj.status.name}
    if not obj.ok:
        entry["reason_3d"] = obj.reason
        return entry
    entry["centroid"] = [round(v, 5) for v in obj.centroid]
    entry["size"] = [round(v, 5) for v in obj.size]
    if out_dir is not None:
        entry["points_file"] = write_ply(out_dir / f"points_{index}.ply", obj.points).name
    return entry


def _read_image(path: str):
    import cv2

    from lisa_ros.core.errors import InvalidInputError

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInputError(f"cannot read an image from {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _write_outputs(out_dir: Path, image, output) -> tuple[list[dict], str]:
    import cv2

    from lisa_ros.core.overlay import draw_overlay

    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, result in enumerate(output.masks):
        name = f"mask_{index}.png"
        cv2.imwrite(str(out_dir / name), result.mask.astype("uint8") * 255)
        entries.append({"file": name})
    overlay = draw_overlay(
        image,
        [m.mask for m in output.masks],
        [m.box for m in output.masks],
        [f"{m.phrase or 'mask'} {m.score:.2f}" for m in output.masks],
    )
    cv2.imwrite(str(out_dir / "overlay.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    return entries, "overlay.png"


def run(args: argparse.Namespace) -> dict:
    """Run one segmentation; returns the JSON-ready result (raises LisaError on bad input)."""
    from lisa_ros.core.prompt import SEG_PROMPT_SUFFIX
    from lisa_ros.core.segmenter import LisaSegmenter

    image = _read_image(args.image)
    quantization = "4bit" if args.load_in_4bit else "8bit" if args.load_in_8bit else "none"
    segmenter = LisaSegmenter.from_pretrained(
        args.model,
        clip=args.clip,
        precision=args.precision,
        quantization=quantization,
        device=args.device,
        max_new_tokens=args.max_new_tokens,
        prompt_suffix=SEG_PROMPT_SUFFIX if args.prompt_suffix is None else args.prompt_suffix,
        **hub_options(args),
    )
    output = segmenter.segment(image, args.prompt, reference=args.reference)
    output = output.without_small_components(args.min_component_area)
    files, overlay = ([{} for _ in output.masks], None)
    if args.out:
        files, overlay = _write_outputs(Path(args.out), image, output)
    if args.depth:
        output = _with_depth(output, args)
        out_dir = Path(args.out) if args.out else None
        files = [{**entry, **_entry_3d(m.object3d, index, out_dir)}
                 for index, (entry, m) in enumerate(zip(files, output.masks))]
    return {
        "status": output.status.name,
        "answer": output.answer,
        "masks": [
            {**entry, "score": round(m.score, 4), "box": list(m.box), "phrase": m.phrase, "area": m.area}
            for entry, m in zip(files, output.masks)
        ],
        "overlay": overlay,
        "image_size": list(output.image_size),
        "timings": {k: round(v, 3) for k, v in output.timings.items()},
        "frame_cache_hit": output.frame_cache_hit,
        "finished": output.finished,
        "model": str(args.model),
    }


def main(argv: list[str] | None = None) -> int:
    import logging

    from lisa_ros.core.errors import InvalidInputError, LisaError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.depth is None) != (args.intrinsics is None):
        parser.error("--depth and --intrinsics go together")
    try:
        result = run(args)
    except LisaError as exc:
        status = "INVALID_INPUT" if isinstance(exc, InvalidInputError) else "ERROR"
        print(json.dumps({"status": status, "error": str(exc)}))
        print(f"lisa-segment: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
