#!/usr/bin/env python3
"""How many guessed tokens a model's own greedy answers accept, and what that saves or costs.

Renders synthetic scenes of every instruction family (seed 515151, not a training seed), asks
each scene's first query and lets the model answer freely (greedy, up to ``--max-new-tokens``)
with each drafter:

* ``none``: one token per pass (the baseline);
* ``official``: LISA's five answer templates plus n-gram look-up in the conversation;
* ``official+memory``: also the model's 16 most recent finished answers as templates (the
  segmenter's default; the scenes are asked in order, so the memory fills as a robot's would);
* ``official+ours`` (``+memory``): also the answer templates of our training data
  (``lisa_ros.data.synth``), with their ``{slots}`` as gaps - what lisa-tiny was trained to say.

Per drafter: answers identical to the baseline's (they must all be), tokens, LLM passes, guessed
and accepted tokens, and the median generation time per answer (generation alone, on the same
prompt embeddings; each scene is answered by every drafter in turn).

    python bench/draft_acceptance.py --model lisa-tiny --scenes 40 --json /tmp/draft_acceptance.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lisa_ros.core.answer_drafter import DEFAULT_DRAFT_ANSWERS, AnswerDrafter  # noqa: E402


def our_answer_templates() -> tuple[str, ...]:
    """Every answer template of the synthetic training data (slots kept)."""
    from lisa_ros.data.synth import templates

    names = ("GENERIC_ANSWERS", "DESCRIBED_ANSWERS", "FUNCTIONAL_ANSWERS", "KNOWLEDGE_ANSWERS", "MULTI_ANSWERS",
             "ABSENT_ANSWERS", "ABSENT_COLOUR_ANSWERS", "EXPLAIN_FUNCTIONAL", "EXPLAIN_KNOWLEDGE")
    found = []
    for name in names:
        found += [t for t in getattr(templates, name) if t not in found]
    return tuple(found)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="lisa-tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--draft-tokens", type=int, default=8)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    import torch

    from lisa_ros.core.generation import generate_fast
    from lisa_ros.core.prompt import build_prompt_ids
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.core.speed_options import SpeedOptions
    from lisa_ros.data.synth import render_scene

    segmenter = LisaSegmenter.from_pretrained(args.model, device=args.device, speed=SpeedOptions(draft_tokens=0))
    tokenizer, ours = segmenter.tokenizer, DEFAULT_DRAFT_ANSWERS + our_answer_templates()
    drafters = {
        "none": None,
        "official": AnswerDrafter(tokenizer, DEFAULT_DRAFT_ANSWERS, max_draft=args.draft_tokens, memory=0),
        "official+memory": AnswerDrafter(tokenizer, DEFAULT_DRAFT_ANSWERS, max_draft=args.draft_tokens),
        "official+ours": AnswerDrafter(tokenizer, ours, max_draft=args.draft_tokens, memory=0),
        "official+ours+memory": AnswerDrafter(tokenizer, ours, max_draft=args.draft_tokens),
    }
    rows = {name: {"same_as_none": 0, "tokens": 0, "passes": 0, "drafted": 0, "accepted": 0, "ms": []}
            for name in drafters}
    model = segmenter.model
    for index in range(args.scenes):
        scene = render_scene(seed=515151, index=index, size=(320, 240))
        features, _, _ = segmenter.encode_image(scene.image, frame_key=scene.name)
        prompt = build_prompt_ids(segmenter.tokenizer, segmenter._format_instruction(scene.texts[0]))
        with torch.inference_mode():
            embeds = model.embed_with_image(prompt.ids, features.clip_tokens)
        baseline = None
        for name, drafter in drafters.items():
            start = time.perf_counter()
            out = generate_fast(model, embeds, eos_id=segmenter.eos_token_id, seg_id=segmenter.seg_token_id,
                                max_new_tokens=args.max_new_tokens, drafter=drafter, prompt_ids=prompt.ids,
                                decoder=segmenter.static_decoder)
            row = rows[name]
            row["ms"].append((time.perf_counter() - start) * 1000)
            baseline = baseline or out.answer_ids
            row["same_as_none"] += out.answer_ids == baseline
            row["tokens"] += out.num_tokens
            row["passes"] += out.passes
            row["drafted"] += out.drafted
            row["accepted"] += out.accepted
    report = {"benchmark": "bench/draft_acceptance.py", "date": time.strftime("%Y-%m-%d %H:%M"),
              "model": args.model, "device": args.device, "scenes": args.scenes, "drafters": {}}
    for name, row in rows.items():
        report["drafters"][name] = {
            "same_answers_as_none": f"{row['same_as_none']}/{args.scenes}",
            "tokens": row["tokens"], "llm_passes": row["passes"],
            "tokens_per_pass": round(row["tokens"] / max(1, row["passes"]), 3),
            "drafted": row["drafted"], "accepted": row["accepted"],
            "acceptance": round(row["accepted"] / row["drafted"], 3) if row["drafted"] else None,
            "median_ms_per_answer": round(statistics.median(row["ms"]), 2),
        }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
