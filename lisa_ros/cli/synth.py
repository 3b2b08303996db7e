"""``lisa-synth``: write synthetic tabletop scenes as a ReasonSeg-format folder.

Example::

    lisa-synth --seed 0 --count 1000 --out data/synth --split-name train
    lisa-synth --seed 1 --count 200 --out data/synth --split-name val --families spatial,absent
    lisa-synth --seed 2 --count 50 --out data/synth3d --size 640x480 --depth --depth-defects
    lisa-synth --seed 3 --count 20 --out data/synth_seq --sequence 30 --motion moderate

Thin wrapper over :func:`lisa_ros.data.synth.generate_dataset`; see that module for the
format and for what ``--seed`` guarantees.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser", "parse_size"]


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480); argparse error for anything else."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got {text!r}") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return w, h


def _families(text: str) -> list[str]:
    from lisa_ros.data.synth import FAMILIES
    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in FAMILIES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown families {unknown or text!r}; choose from {', '.join(FAMILIES)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lisa-synth",
        description="Generate synthetic tabletop scenes with reasoning-segmentation "
                    "instructions, written as ReasonSeg-format jpg+json pairs.")
    p.add_argument("--seed", type=int, required=True,
                   help="dataset seed (>= 0); scene i of a seed is always the same scene")
    p.add_argument("--count", type=int, required=True, help="number of scenes to write")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--families", type=_families, default=None,
                   help="comma-separated instruction families to cycle through "
                        "(default: all eight, equally often)")
    p.add_argument("--size", type=parse_size, default=(320, 240),
                   help="image size WxH (default 320x240)")
    p.add_argument("--split-name", default=None,
                   help="write into OUT/SPLIT_NAME (e.g. train, val) instead of OUT")
    p.add_argument("--start", type=int, default=0,
                   help="index of the first scene (default 0)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes to render with (default 1; output is identical)")
    p.add_argument("--depth", action="store_true",
                   help="also write an aligned depth image (16-bit PNG, millimetres), the camera "
                        "intrinsics and each object's 3D ground truth (JSON) into OUT[/SPLIT]/depth/")
    p.add_argument("--depth-defects", action="store_true",
                   help="with --depth: add a depth camera's defects (registration error, flying "
                        "pixels, noise growing with distance, holes, dropout)")
    p.add_argument("--sequence", type=int, default=None, metavar="FRAMES",
                   help="write FRAMES frames of each scene under a camera that pans, tilts and "
                        "zooms a little between frames (targets may be pushed), each frame a "
                        "sample named <scene>_f<frame> with its own ground truth")
    from lisa_ros.data.synth.sequence import MOTIONS
    p.add_argument("--motion", default="moderate", choices=tuple(MOTIONS),
                   help="with --sequence: how much the camera and objects move per frame "
                        "(default moderate: up to 0.4 degree pan, 0.25 tilt, 0.5 %% zoom)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seed < 0 or args.count < 0 or args.start < 0:
        print("lisa-synth: --seed, --count and --start must be >= 0", file=sys.stderr)
        return 2
    if args.depth_defects and not args.depth:
        print("lisa-synth: --depth-defects needs --depth", file=sys.stderr)
        return 2
    from lisa_ros.data.synth.sequence import MAX_FRAMES
    if args.sequence is not None and (args.depth or not 1 <= args.sequence <= MAX_FRAMES):
        print(f"lisa-synth: --sequence needs 1..{MAX_FRAMES} frames and cannot be combined with --depth",
              file=sys.stderr)
        return 2
    from lisa_ros.data.synth import generate_dataset

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done == total or done % 50 == 0):
            print(f"\r{done}/{total} scenes", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    summary = generate_dataset(args.out, args.seed, args.count, args.size, args.families,
                               args.split_name, args.start, workers=args.workers,
                               progress=progress,
                               depth=args.depth_defects if args.depth else None,
                               sequence=args.sequence, motion=args.motion)
    fams = ", ".join(f"{k} {v}" for k, v in summary.per_family.items())
    print(f"wrote {summary.count} scenes ({summary.size[0]}x{summary.size[1]}, seed "
          f"{summary.seed}) to {summary.out_dir} in {summary.seconds:.1f} s "
          f"({summary.scenes_per_second:.1f} scenes/s)")
    print(f"families: {fams}")
    if args.sequence is not None:
        print(f"sequences: {args.sequence} frames per scene, motion {args.motion}")
    if args.depth:
        print(f"depth ({'with' if args.depth_defects else 'without'} defects): {summary.out_dir}/depth/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
