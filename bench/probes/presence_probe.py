#!/usr/bin/env python3
"""Can a model tell whether the object it is asked for is in the image at all?

An absent target should be answered without a mask ("There is no cup in this image."). The model
commits to that with its first answer token. This probe asks, on each synthetic scene, the same
question twice: once for a category that is in the scene and once for one that is not ("What is
the cup in this image? Please output segmentation mask."). It reads the probability the model
gives, at that first step, to the tokens that begin the absent-target answers of the training data
and no answer with a mask ("There", "Sorry", "No"; "The" and "I" begin both kinds). The same
template on both sides removes what the question's wording alone would reveal.

Reported: the mean of that probability for present and for absent targets, the AUC of telling
them apart by it (0.5: no presence signal), and the share of each side whose greedy first token
begins an absent-target answer. Scenes come from ``--seed`` (default 515151, as
``bench/probes/grounding_probe.py``). Output: a summary on stdout and ``--json``.

    .venv/bin/python bench/probes/presence_probe.py --model lisa-tiny --scenes 100 --json bench_out/presence.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import probe_cli  # noqa: E402  (bench/probes/, the script's own folder)


class _Slots(dict):
    """Template slots: a few fixed words, "cup" for any other slot (only the first word matters)."""

    def __missing__(self, key):
        return "cup"


def _answer_starts(tokenizer, templates) -> set[int]:
    from lisa_ros.core.prompt import build_prompt_ids

    slots = _Slots(be="is", a_desc="a cup", colour="red")
    starts = set()
    for template in templates:
        ids = build_prompt_ids(tokenizer, "x", answer=template.format_map(slots))
        starts.add(ids.ids[ids.prompt_length])
    return starts


def absent_answer_starts(tokenizer) -> set[int]:
    """Ids that begin an absent-target answer of the synthetic data and no answer with a mask
    ("The" begins both "The image does not contain a cup." and "The cup is here: [SEG].")."""
    from lisa_ros.data.synth import templates as T

    absent = _answer_starts(tokenizer, T.ABSENT_ANSWERS + T.ABSENT_COLOUR_ANSWERS)
    with_mask = _answer_starts(tokenizer, T.GENERIC_ANSWERS + T.DESCRIBED_ANSWERS + T.FUNCTIONAL_ANSWERS
                               + T.KNOWLEDGE_ANSWERS + T.MULTI_ANSWERS)
    return absent - with_mask


def first_token_probs(segmenter, features, question: str):
    """Softmax ``float32 [vocab]`` of the first answer token for ``question`` about an image whose
    encoder outputs are ``features`` (``segmenter.encode_image``)."""
    import torch

    from lisa_ros.core.prompt import build_prompt_ids

    prompt = build_prompt_ids(segmenter.tokenizer, question, use_im_start_end=segmenter.config.mm_use_im_start_end)
    model = segmenter.model
    with torch.inference_mode():
        embeds = model.embed_with_image(prompt.ids[: prompt.prompt_length], features.clip_tokens)
        state = model.llm.model(inputs_embeds=embeds).last_hidden_state[:, -1]
        return torch.softmax(model.llm.lm_head(state).float(), dim=-1)[0].numpy()


def probe(segmenter, seed: int, scenes: int, size=(320, 240)) -> dict:
    from lisa_ros.data.synth import render_scene
    from lisa_ros.data.synth.categories import CATEGORY_NAMES

    starts = sorted(absent_answer_starts(segmenter.tokenizer))
    rng = np.random.default_rng(seed)
    present_p, absent_p, present_greedy, absent_greedy = [], [], [], []
    for index in range(scenes):
        scene = render_scene(seed, index, size, None)
        categories = [o.category for o in scene.objects]
        unique = [c for c in categories if categories.count(c) == 1]
        missing = [c for c in CATEGORY_NAMES if c not in categories]
        if not unique or not missing:
            continue
        features, _, _ = segmenter.encode_image(scene.image)  # once for both questions
        for category, p_list, greedy_list in ((unique[int(rng.integers(len(unique)))], present_p, present_greedy),
                                              (missing[int(rng.integers(len(missing)))], absent_p, absent_greedy)):
            question = f"What is the {category} in this image? Please output segmentation mask."
            probs = first_token_probs(segmenter, features, question)
            p_list.append(float(probs[starts].sum()))
            greedy_list.append(int(np.argmax(probs)) in starts)
    present, absent = np.array(present_p), np.array(absent_p)
    # AUC: chance that an absent question scores higher than a present one
    auc = probe_cli.auc(absent, present)
    return {
        "seed": seed,
        "scenes": scenes,
        "pairs": len(present_p),
        "p_absent_start_present": float(present.mean()),
        "p_absent_start_absent": float(absent.mean()),
        "auc": auc,
        "greedy_absent_start_present": float(np.mean(present_greedy)),
        "greedy_absent_start_absent": float(np.mean(absent_greedy)),
    }


def report(result: dict, args) -> None:
    print(f"model {args.model}: {result['pairs']} present/absent question pairs on scenes of seed {args.seed}")
    print(f"  P(first token begins an absent answer): present {result['p_absent_start_present']:.3f}, "
          f"absent {result['p_absent_start_absent']:.3f}, AUC {result['auc']:.3f}")
    print(f"  greedy first token begins an absent answer: present {result['greedy_absent_start_present']:.1%}, "
          f"absent {result['greedy_absent_start_absent']:.1%}")


def main(argv: list[str] | None = None) -> int:
    return probe_cli.run(__doc__, 100, probe, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
