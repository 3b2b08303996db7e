"""What the probe scripts of bench/probes/ share: their command line, the model they load, the JSON they write.

Each probe (``grounding_probe.py``, ``presence_probe.py``, ``image_reliance_probe.py``,
``encoder_presence_probe.py``, ``presence_drill_probe.py``, ``lookup_probe.py``,
``sam_prompt_probe.py``) asks a model
questions about synthetic scenes of one seed on the CPU; only its questions and its summary differ.
:func:`run` is their whole ``main``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

# Scenes of this seed are used neither by training (9001), nor by the held-out evaluation
# (424242), nor by the tests.
PROBE_SEED = 515151


def auc(positive, negative) -> float:
    """Chance that a positive scores higher than a negative (ties count half; 0.5: no signal)."""
    positive, negative = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    return float(np.mean((positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])))


def parse_args(doc: str, default_scenes: int, argv: list[str] | None = None,
               options: Sequence[tuple[str, dict]] = ()) -> argparse.Namespace:
    """``--model``, ``--seed``, ``--scenes``, ``--threads``, ``--json`` and a probe's own ``options``
    (``(flag, add_argument keywords)``; description: ``doc``'s first line)."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    for flag, keywords in options:
        p.add_argument(flag, **keywords)
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


def scene_batch(segmenter, item):
    """One :class:`~lisa_ros.train.conversations.TrainItem` as a training batch, preprocessed as the
    segmenter's model expects (its CLIP preprocessing, SAM input size and image-token layout)."""
    from lisa_ros.train.batching import collate

    return collate([item], segmenter.tokenizer, segmenter.loaded.clip_preprocess,
                   segmenter.model.sam.image_encoder.img_size, segmenter.config.mm_use_im_start_end)


def write_json(path: str | None, result: dict) -> None:
    """Write ``result`` to ``path`` (parents created); nothing when ``path`` is None."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def run(doc: str, default_scenes: int, probe: Callable[..., dict], report: Callable[[dict, argparse.Namespace], None],
        argv: list[str] | None = None, options: Sequence[tuple[str, dict]] = ()) -> int:
    """Parse the command line, load the model, ``probe(segmenter, seed, scenes, **own options)``,
    print ``report(result, args)`` and write the JSON (``result`` plus the model's name)."""
    args = parse_args(doc, default_scenes, argv, options)
    segmenter = load_segmenter(args)
    own = {name: getattr(args, name) for name in (flag.lstrip("-").replace("-", "_") for flag, _ in options)}
    result = {"model": args.model, **probe(segmenter, args.seed, args.scenes, **own)}
    report(result, args)
    write_json(args.json, result)
    return 0
