"""What the probe scripts of bench/ share: their command line, the model they load, the JSON they write.

Each probe (``grounding_probe.py``, ``presence_probe.py``, ``image_reliance_probe.py``) asks a
model questions about synthetic scenes of one seed on the CPU; only its questions and its summary
differ. :func:`run` is their whole ``main``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

# Scenes of this seed are used neither by training (9001), nor by the held-out evaluation
# (424242), nor by the tests.
PROBE_SEED = 515151


def parse_args(doc: str, default_scenes: int, argv: list[str] | None = None) -> argparse.Namespace:
    """``--model``, ``--seed``, ``--scenes``, ``--threads``, ``--json`` (description: ``doc``'s first line)."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--model", default="lisa-tiny", help="model name or folder")
    p.add_argument("--seed", type=int, default=PROBE_SEED)
    p.add_argument("--scenes", type=int, default=default_scenes)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the result here")
    return p.parse_args(argv)


def load_segmenter(args: argparse.Namespace):
    """The model on the CPU with ``args.threads`` torch threads and no frame cache (every scene is new)."""
    import torch

    from lisa_ros.core.segmenter import LisaSegmenter

    torch.set_num_threads(args.threads)
    return LisaSegmenter.from_pretrained(args.model, device="cpu", frame_cache_size=0)


def write_json(path: str | None, result: dict) -> None:
    """Write ``result`` to ``path`` (parents created); nothing when ``path`` is None."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def run(doc: str, default_scenes: int, probe: Callable[..., dict], report: Callable[[dict, argparse.Namespace], None],
        argv: list[str] | None = None) -> int:
    """Parse the command line, load the model, ``probe(segmenter, seed, scenes)``, print
    ``report(result, args)`` and write the JSON (``result`` plus the model's name)."""
    args = parse_args(doc, default_scenes, argv)
    segmenter = load_segmenter(args)
    result = {"model": args.model, **probe(segmenter, args.seed, args.scenes)}
    report(result, args)
    write_json(args.json, result)
    return 0
