#!/usr/bin/env python3
"""Does a model read the image at all, or answer from the question alone?

For every synthetic scene it scores, in teacher-forced mode, the training data's own
conversations about that scene (the scene's instruction, an absent-target question and the
text-only questions of ``lisa_ros.train.scratch.vqa``), twice: with the scene's image and with the next
scene's image. The score is the mean cross-entropy of the answer tokens (nats per token). A
model that reads the image does worse with the wrong one; the gap ``other - own`` is zero for a
model that answers from the words alone. Reported per question kind (the scene's instruction
family, ``absent``, and the VQA kinds) and overall.

Scenes come from ``--seed`` (default 515151, as the other probes). Output: a table on stdout and
``--json``.

    .venv/bin/python bench/probes/image_reliance_probe.py --model lisa-tiny --scenes 60 --json bench_out/reliance.json
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import probe_cli  # noqa: E402  (bench/probes/, the script's own folder)


def _conversations(record, rng):
    """(kind, conversation) pairs of one scene: its instruction, one absent target, the VQA questions."""
    from lisa_ros.train.conversations import make_conversations
    from lisa_ros.train.scratch.data_hooks import ScratchData
    from lisa_ros.train.scratch.extras import absent_extras
    from lisa_ros.train.scratch.vqa import vqa_extras, vqa_kind

    own = [(record.family, c) for c in make_conversations(record, rng, 1, hooks=ScratchData(described_prob=0.9))]
    absent = [("absent", c) for c in absent_extras(record, rng, 1.0)[:1]]
    vqa = [(vqa_kind(c.question), c) for c in vqa_extras(record, rng, 4)]
    return own + absent + vqa


def answer_ce(segmenter, item) -> float:
    """Mean answer-token cross-entropy of a one-conversation :class:`~lisa_ros.train.conversations.TrainItem`."""
    import torch

    from lisa_ros.train.forward import lisa_forward

    model = segmenter.model
    batch = probe_cli.scene_batch(segmenter, item)
    with torch.inference_mode():
        return float(lisa_forward(model, batch, segmenter.seg_token_id).ce)


def probe(segmenter, seed: int, scenes: int, size=(320, 240)) -> dict:
    from lisa_ros.train.conversations import TrainItem
    from lisa_ros.train.sources import SynthSource

    source = SynthSource(seed, size=size)
    rng = np.random.default_rng(seed)
    records = [source.record(index) for index in range(scenes + 1)]
    own, other = defaultdict(list), defaultdict(list)
    for index in range(scenes):
        record, next_image = records[index], records[index + 1].image
        for kind, conversation in _conversations(record, rng):
            item = TrainItem(record.name, record.image, record.family, [conversation])
            own[kind].append(answer_ce(segmenter, item))
            other[kind].append(answer_ce(segmenter, replace(item, image=next_image)))
    kinds = {
        kind: {"count": len(own[kind]), "ce_own": float(np.mean(own[kind])), "ce_other": float(np.mean(other[kind])),
               "gap": float(np.mean(other[kind]) - np.mean(own[kind]))}
        for kind in sorted(own)
    }
    all_own = np.concatenate([own[k] for k in own])
    all_other = np.concatenate([other[k] for k in own])
    gaps = all_other - all_own
    return {
        "seed": seed,
        "scenes": scenes,
        "conversations": int(all_own.size),
        "ce_own": float(all_own.mean()),
        "ce_other": float(all_other.mean()),
        "gap": float(gaps.mean()),
        "gap_standard_error": float(gaps.std(ddof=1) / np.sqrt(gaps.size)),
        "kinds": kinds,
    }


def report(result: dict, args) -> None:
    print(f"model {args.model}: {result['conversations']} conversations on {args.scenes} scenes of seed {args.seed}")
    print("answer CE (nats/token) with the scene's own image and with the next scene's image")
    print(f"{'kind':16s} {'n':>4s} {'own':>7s} {'other':>7s} {'gap':>7s}")
    for kind, row in result["kinds"].items():
        print(f"{kind:16s} {row['count']:4d} {row['ce_own']:7.3f} {row['ce_other']:7.3f} {row['gap']:7.3f}")
    print(f"{'all':16s} {result['conversations']:4d} {result['ce_own']:7.3f} {result['ce_other']:7.3f} "
          f"{result['gap']:7.3f} (standard error {result['gap_standard_error']:.3f})")


def main(argv: list[str] | None = None) -> int:
    return probe_cli.run(__doc__, 60, probe, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
