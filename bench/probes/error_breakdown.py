#!/usr/bin/env python3
"""Where a model's held-out gIoU goes, family by family: declined, wrong object, or poor mask.

Reads what ``lisa-eval --per-sample --json FILE`` wrote and the synthetic sample JSONs of the
evaluated folder (their ``objects`` list says which categories the targets are). No model runs
here, so it takes a second. Every sample with target masks falls in one of four outcomes:

- *declined*: answered without a mask (a wrong "not there");
- *named a target*: the first object noun of the answer is a target's category ("The banana [SEG]."
  when a banana is the target);
- *named another object*: that noun is another category;
- *named nothing*: the answer names no category ("Sure, [SEG].").

For each family the table gives the count and gIoU of each outcome, and, over the masks of
single-target answers, the medians of precision (share of the predicted pixels on the target)
and recall (share of the target covered). A low precision with a high recall is a mask that
spills onto other things; the opposite, one that covers only part of its object.

    .venv/bin/python -m lisa_ros.cli.eval --model lisa-tiny --data DIR --per-sample --json eval.json
    .venv/bin/python bench/probes/error_breakdown.py eval.json DIR [--json breakdown.json]

Samples without ``objects`` (a real ReasonSeg folder) count as *named nothing*.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

OUTCOMES = ("declined", "named a target", "named another object", "named nothing")
ARTICLES = {"the", "a", "an", "of"}


def named_category(answer: str, categories: set[str]) -> str | None:
    """The first object the answer names: a category noun (plural ``s`` allowed) after "the", "a",
    "an" or "of", or one word after them ("the red mug"); None when there is none.

    The article keeps verbs out ("you can use the sponge" names the sponge, not a can), and a noun
    followed by another category noun is that one's colour ("the orange ball" names the ball).
    """
    words = re.findall(r"[a-z]+", answer.lower())
    nouns = [word[:-1] if word not in categories and word.endswith("s") and word[:-1] in categories
             else word for word in words]
    for index, word in enumerate(nouns):
        if word not in categories or (index + 1 < len(nouns) and nouns[index + 1] in categories):
            continue
        if any(index >= back and nouns[index - back] in ARTICLES for back in (1, 2)):
            return word
    return None


def outcome(row: dict, target_categories: set[str], categories: set[str]) -> str:
    """Which of :data:`OUTCOMES` one per-sample row of lisa-eval is."""
    if row["num_predicted"] == 0:
        return "declined"
    name = named_category(row["answer"], categories)
    if name is None:
        return "named nothing"
    return "named a target" if name in target_categories else "named another object"


def breakdown(rows: list[dict], data: Path, categories: set[str]) -> dict:
    """Per family: ``count``, ``giou``, each outcome's ``count`` and ``giou``, and the medians of
    ``precision`` and ``recall`` over single-target answers with a mask (None when there are none)."""
    families: dict[str, dict] = {}
    for row in rows:
        if row["num_targets"] == 0:
            continue
        meta_path = data / f"{row['name']}.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        targets = {o["category"] for o in meta.get("objects", []) if o.get("group_id") is not None}
        entry = families.setdefault(row["family"] or "all", {"scores": [], "outcomes": {}, "pr": []})
        entry["scores"].append(row["score"])
        entry["outcomes"].setdefault(outcome(row, targets, categories), []).append(row["score"])
        if row["num_targets"] == 1 and row["num_predicted"] and row["precisions"][0] is not None:
            entry["pr"].append((row["precisions"][0], row["recalls"][0]))
    result = {}
    for family, entry in sorted(families.items()):
        pr = np.array(entry["pr"]) if entry["pr"] else None
        result[family] = {
            "count": len(entry["scores"]), "giou": float(np.mean(entry["scores"])),
            "outcomes": {name: {"count": len(scores), "giou": float(np.mean(scores))}
                         for name in OUTCOMES if (scores := entry["outcomes"].get(name))},
            "precision": None if pr is None else float(np.median(pr[:, 0])),
            "recall": None if pr is None else float(np.median(pr[:, 1])),
        }
    return result


def table(result: dict) -> str:
    """Markdown table of :func:`breakdown` (each outcome as ``count (gIoU)``)."""
    lines = ["| family | count | gIoU | " + " | ".join(OUTCOMES) + " | precision / recall (median) |",
             "|---|---|---|" + "---|" * len(OUTCOMES) + "---|"]
    for family, entry in result.items():
        cells = [f"{o['count']} ({o['giou']:.2f})" if (o := entry["outcomes"].get(name)) else "0"
                 for name in OUTCOMES]
        pr = "" if entry["precision"] is None else f"{entry['precision']:.2f} / {entry['recall']:.2f}"
        lines.append(f"| {family} | {entry['count']} | {entry['giou']:.3f} | " + " | ".join(cells) + f" | {pr} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("eval_json", help="lisa-eval --per-sample --json output")
    p.add_argument("data", help="the evaluated folder (synthetic sample JSONs)")
    p.add_argument("--json", help="also write the breakdown here")
    args = p.parse_args(argv)
    from lisa_ros.data.synth.categories import CATEGORY_NAMES

    summary = json.loads(Path(args.eval_json).read_text(encoding="utf-8"))
    if "per_sample" not in summary:
        raise SystemExit(f"{args.eval_json} has no per-sample rows: run lisa-eval with --per-sample")
    if summary["per_sample"] and "precisions" not in summary["per_sample"][0]:
        raise SystemExit(f"{args.eval_json} predates per-mask precision and recall: evaluate again")
    result = breakdown(summary["per_sample"], Path(args.data), set(CATEGORY_NAMES))
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
