#!/usr/bin/env python3
"""Do a from-scratch model's image encoders know which categories a scene shows?

An absent target ("the banana", and there is none) can only be answered without a mask if what
the LLM reads, the projected CLIP tokens, says which categories are in the image. This probe asks
the encoders directly, through the per-cell category heads that the dense training loss fits on
them (``lisa_ros.train.scratch.dense_aux``; training-only, so they come from the run's ``state.pt``, not
from the model folder). For every synthetic scene and every category, the presence score is the
highest probability any cell gives that category: on the CLIP tokens (what the LLM reads) and on
SAM's embedding cells (what the mask decoder reads; padding cells left out). Reported: the AUC of
telling present categories (some visible pixels) from absent ones by that score, per encoder
(0.5: no signal; 1: a threshold separates them).

    .venv/bin/python bench/probes/encoder_presence_probe.py --model runs/lisa-tiny/model \\
        --state runs/lisa-tiny/state.pt --scenes 150 --json bench_out/encoder_presence.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import probe_cli  # noqa: E402  (bench/probes/, the script's own folder)

OPTIONS = (("--state", {"required": True, "help": "the training run's state.pt (holds the dense heads)"}),)


def heads_of_state(model, state: str):
    """The dense heads of a training state, sized for ``model``."""
    import torch

    from lisa_ros.train.checkpoints import load_state
    from lisa_ros.train.scratch.dense_aux import DenseAuxHeads

    saved = load_state(Path(state)).get("extra", {}).get("dense_aux_heads")
    if saved is None:
        raise SystemExit(f"{state} holds no dense heads: the run did not use --dense-aux-weight")
    heads = DenseAuxHeads(model.config.hidden_size, model.config.out_dim)
    heads.load_state_dict(saved)
    return heads.to(torch.float32).eval()


def category_scores(segmenter, heads, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per category (background left out), the highest probability over cells: ``float [K]`` on
    the CLIP tokens and ``float [K]`` on SAM's cells that show the image."""
    import torch

    from lisa_ros.core.preprocess import preprocess_clip, preprocess_sam
    from lisa_ros.train.scratch.dense_aux import cell_cover

    model = segmenter.model
    with torch.inference_mode():
        clip_pixels = torch.from_numpy(preprocess_clip(image, segmenter.loaded.clip_preprocess))[None]
        tokens = model.encode_clip(clip_pixels)[0]  # casts to the tower's dtype
        clip_probs = torch.softmax(heads.clip_head(tokens.float())[:, : heads.num_categories], -1)[:, 1:]
        sam_pixels, resize = preprocess_sam(image, model.sam.image_encoder.img_size)
        embedding = model.encode_sam(torch.from_numpy(sam_pixels)[None])[0].float()
        cells = embedding.flatten(1).T
        shows = cell_cover(embedding.shape[-1], tuple(resize.resized_size), resize.input_size) > 0
        sam_probs = torch.softmax(heads.sam_head(cells[shows])[:, : heads.num_categories], -1)[:, 1:]
    return clip_probs.max(0).values.numpy(), sam_probs.max(0).values.numpy()


def probe(segmenter, seed: int, scenes: int, state: str, size=(320, 240)) -> dict:
    from lisa_ros.data.synth import render_scene
    from lisa_ros.data.synth.categories import CATEGORY_NAMES

    heads = heads_of_state(segmenter.model, state)
    scores = {"clip": ([], []), "sam": ([], [])}
    for index in range(scenes):
        scene = render_scene(seed, index, size, None)
        shown = {o.category for o, mask in zip(scene.objects, scene.object_masks) if np.asarray(mask).any()}
        clip, sam = category_scores(segmenter, heads, scene.image)
        for k, category in enumerate(CATEGORY_NAMES):
            side = 0 if category in shown else 1
            scores["clip"][side].append(float(clip[k]))
            scores["sam"][side].append(float(sam[k]))
    result = {"seed": seed, "scenes": scenes, "state": state,
              "present": len(scores["clip"][0]), "absent": len(scores["clip"][1])}
    for encoder, (present, absent) in scores.items():
        result[f"{encoder}_auc"] = probe_cli.auc(present, absent)
        result[f"{encoder}_mean_present"] = float(np.mean(present))
        result[f"{encoder}_mean_absent"] = float(np.mean(absent))
    return result


def report(result: dict, args) -> None:
    print(f"model {args.model}: {result['present']} present and {result['absent']} absent (scene, category) "
          f"pairs on {args.scenes} scenes of seed {args.seed}")
    for encoder in ("clip", "sam"):
        print(f"  {encoder:4s} highest cell probability: present {result[f'{encoder}_mean_present']:.3f}, "
              f"absent {result[f'{encoder}_mean_absent']:.3f}, AUC {result[f'{encoder}_auc']:.3f}")


def main(argv: list[str] | None = None) -> int:
    return probe_cli.run(__doc__, 150, probe, report, argv, OPTIONS)


if __name__ == "__main__":
    raise SystemExit(main())
