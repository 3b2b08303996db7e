#!/usr/bin/env python3
"""Does a model know which categories its image holds, when asked in plain text?

The text-only presence questions of training (``lisa_ros.train.scratch.vqa``) are scored in
teacher-forced mode on synthetic scenes of one seed:

* ``exist``: "Is there a cup in this image?", asked once for a category of the scene and once,
  with the same template, for one it lacks. Score: logit("Yes") - logit("No") at the first
  answer token.
* ``checklist``: "Which of these are in the image: a cup, a knife and a banana?" with the
  training answer ("The cup is not here. The knife is here. ..."). Score, per item: logit of the
  word after "is" / "are" that says it is there ("here") minus the one that says it is not
  ("not"), with the answer so far teacher-forced.

Reported per kind: items, accuracy (score > 0 exactly for present items) and the AUC of the
score (0.5: the image is not read for presence). This is the text-level counterpart of
``presence_probe.py`` (which asks for a mask and reads the first answer token). Scenes come from
``--seed`` (default 515151). Output: a table on stdout and ``--json``.

    .venv/bin/python bench/probes/presence_drill_probe.py --model lisa-tiny --scenes 100 --json bench_out/drill.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import probe_cli  # noqa: E402  (bench/probes/, the script's own folder)


def _pair_ids(tokenizer, first: str, second: str) -> tuple[int, int]:
    """The first answer token where two answers differ: (id in ``first``, id in ``second``)."""
    from lisa_ros.core.prompt import build_prompt_ids

    a = build_prompt_ids(tokenizer, "x", answer=first)
    b = build_prompt_ids(tokenizer, "x", answer=second)
    k = next(k for k, (u, v) in enumerate(zip(a.ids, b.ids)) if u != v)
    return a.ids[k], b.ids[k]


def _exist_pair(record, rng):
    """Two exist conversations on one template: (present category, absent category), or none."""
    from lisa_ros.data.synth.categories import CATEGORY_NAMES
    from lisa_ros.train.scratch.vqa import exist_conversation

    have = sorted({c for c, _ in record.objects})
    missing = [c for c in CATEGORY_NAMES if c not in set(have)]
    if not have or not missing:
        return []
    template = int(rng.integers(2))
    pairs = ((str(rng.choice(have)), True), (str(rng.choice(missing)), False))
    return [(present, exist_conversation(category, None, present, template)) for category, present in pairs]


def probe(segmenter, seed: int, scenes: int, size=(320, 240)) -> dict:
    import torch

    from lisa_ros.train.conversations import TrainItem
    from lisa_ros.train.forward import answer_logits
    from lisa_ros.train.scratch.vqa import checklist_extras
    from lisa_ros.train.sources import SynthSource

    tokenizer, model = segmenter.tokenizer, segmenter.model
    yes, no = _pair_ids(tokenizer, "Yes, there is a cup.", "No, there is no cup.")
    here, not_here = _pair_ids(tokenizer, "The cup is here.", "The cup is not here.")
    is_ids = set(_pair_ids(tokenizer, "The cup is here.", "The cup are here."))
    source = SynthSource(seed, size=size)
    rng = np.random.default_rng(seed)
    scores = {"exist": ([], []), "checklist": ([], [])}  # (present scores, absent scores)
    for index in range(scenes):
        record = source.record(index)
        exist = _exist_pair(record, rng)
        checklist = checklist_extras(record, rng, 1)
        conversations = [c for _, c in exist] + checklist
        batch = probe_cli.scene_batch(segmenter, TrainItem(record.name, record.image, record.family, conversations))
        with torch.inference_mode():
            logits = answer_logits(model, batch)
        for (present, _), rows in zip(exist, logits):
            scores["exist"][0 if present else 1].append(float(rows[0, yes] - rows[0, no]))
        for row, rows in enumerate(logits[len(exist):], start=len(exist)):
            answer = batch.input_ids[row][batch.prompt_lengths[row]:]
            for k in range(1, len(answer)):
                if answer[k - 1] in is_ids and answer[k] in (here, not_here):
                    scores["checklist"][0 if answer[k] == here else 1].append(float(rows[k, here] - rows[k, not_here]))
    kinds = {}
    for kind, (present, absent) in scores.items():
        correct = sum(s > 0 for s in present) + sum(s <= 0 for s in absent)
        kinds[kind] = {"present": len(present), "absent": len(absent),
                       "accuracy": correct / max(1, len(present) + len(absent)),
                       "auc": probe_cli.auc(present, absent) if present and absent else float("nan")}
    return {"seed": seed, "scenes": scenes, "kinds": kinds}


def report(result: dict, args) -> None:
    print(f"model {args.model}: text presence questions on {args.scenes} scenes of seed {args.seed} (teacher-forced)")
    print(f"{'kind':10s} {'present':>7s} {'absent':>7s} {'accuracy':>8s} {'AUC':>6s}")
    for kind, row in result["kinds"].items():
        print(f"{kind:10s} {row['present']:7d} {row['absent']:7d} {row['accuracy']:8.3f} {row['auc']:6.3f}")


def main(argv: list[str] | None = None) -> int:
    return probe_cli.run(__doc__, 100, probe, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
