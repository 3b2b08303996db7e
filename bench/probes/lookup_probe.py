#!/usr/bin/env python3
"""Where does one attention head of the LLM look when the model decides to answer with a mask?

The look-up loss (``lisa_ros/train/scratch/lookup_aux.py``, ``lisa-train --lookup-aux-weight``) tells one
head, at the state that picks the first answer token, to attend to the image tokens of the targets,
or to the first position of the sequence when the target is absent. This probe reads that head's
attention, teacher-forced, on synthetic scenes: each scene's own instruction (every family), one
extra request for an object it shows and one for an object it does not show, as in training.

Reported: the mean attention on the first position for present and for absent targets, and the AUC
of telling them apart by it (0.5: the head does not tell); the mean attention on the target's image
tokens for present targets (the share of tokens the target covers is the chance level). Any model
can be probed: one trained without the loss shows what an untrained head does. Scenes come from
``--seed`` (default 515151). Output: a summary on stdout and ``--json``.

    .venv/bin/python bench/probes/lookup_probe.py --model lisa-tiny --layer 2 --head 0 --scenes 100 --json bench_out/lookup.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import probe_cli  # noqa: E402  (bench/probes/, the script's own folder)

OPTIONS = (("--layer", {"type": int, "default": None, "help": "LLM layer (default: the middle one, as lisa-train)"}),
           ("--head", {"type": int, "default": 0, "help": "attention head in that layer"}))


def probe(segmenter, seed: int, scenes: int, layer: int | None = None, head: int = 0, size=(320, 240)) -> dict:
    import torch

    from lisa_ros.train.conversations import TrainItem, make_conversations
    from lisa_ros.train.forward import lisa_forward
    from lisa_ros.train.scratch.extras import absent_extras, explicit_extras
    from lisa_ros.train.scratch.lookup_aux import LookupWatch, lookup_head, lookup_targets
    from lisa_ros.train.sources import SynthSource

    tokenizer, model = segmenter.tokenizer, segmenter.model
    layer, head = lookup_head(model.config, layer, head)
    source = SynthSource(seed, size=size)
    rng = np.random.default_rng(seed)
    first = {"present": [], "absent": []}
    on_target, chance = [], []
    for index in range(scenes):
        record = source.record(index)
        conversations = (make_conversations(record, rng, 1) + explicit_extras(record, rng, 1)
                         + absent_extras(record, rng, 1.0))
        batch = probe_cli.scene_batch(segmenter, TrainItem(record.name, record.image, record.family, conversations))
        with torch.inference_mode():
            out = lisa_forward(model, batch, tokenizer.seg_token_id, share_prefix=False,
                               watches=[LookupWatch(model, (layer, head))])
        tokens = out.image_tokens.shape[1]
        log_attention = out.readings["lookup"]
        kept, targets = lookup_targets(batch, out.seg_counts, tokens, log_attention.shape[1])
        attention = log_attention.exp()
        for row, target in zip(kept, targets):
            absent = batch.absent_targets[row]
            first["absent" if absent else "present"].append(float(attention[row, 0]))
            if not absent:
                covered = target > 0
                on_target.append(float(attention[row][covered].sum()))
                chance.append(float(covered.sum()) / tokens)
    return {"seed": seed, "scenes": scenes, "layer": layer, "head": head,
            "present": len(first["present"]), "absent": len(first["absent"]),
            "first_position_present": float(np.mean(first["present"])),
            "first_position_absent": float(np.mean(first["absent"])),
            "auc": probe_cli.auc(first["absent"], first["present"]),
            "on_target": float(np.mean(on_target)), "target_token_share": float(np.mean(chance))}


def report(result: dict, args) -> None:
    print(f"model {args.model}: layer {result['layer']} head {result['head']}, teacher-forced, "
          f"{args.scenes} scenes of seed {args.seed} ({result['present']} present, {result['absent']} absent targets)")
    print(f"  attention on the first position: present {result['first_position_present']:.3f}, "
          f"absent {result['first_position_absent']:.3f}, AUC {result['auc']:.3f}")
    print(f"  attention on the target's image tokens (present): {result['on_target']:.3f} "
          f"(their share of the tokens: {result['target_token_share']:.3f})")


def main(argv: list[str] | None = None) -> int:
    return probe_cli.run(__doc__, 100, probe, report, argv, OPTIONS)


if __name__ == "__main__":
    raise SystemExit(main())
