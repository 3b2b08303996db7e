"""bench/probes/error_breakdown.py: each held-out answer falls in the right outcome, and the table adds up."""
from __future__ import annotations

import json

import pytest
from train_helpers import probe_module

CATEGORIES = {"banana", "orange", "ball", "mug", "scissors", "cup"}


@pytest.fixture(scope="module")
def breakdown():
    return probe_module("error_breakdown")


def test_the_named_object_is_the_first_category_noun_that_is_not_a_colour(breakdown):
    assert breakdown.named_category("Sure, the orange ball [SEG].", CATEGORIES) == "ball"
    assert breakdown.named_category("That is the orange [SEG].", CATEGORIES) == "orange"
    assert breakdown.named_category("The scissors [SEG] and the mugs [SEG].", CATEGORIES) == "scissors"
    assert breakdown.named_category("It is the mugs [SEG].", CATEGORIES) == "mug"
    assert breakdown.named_category("Sure, the segmentation result is [SEG].", CATEGORIES) is None
    assert breakdown.named_category("You can use the sponge [SEG].", CATEGORIES | {"sponge", "can"}) == "sponge"
    assert breakdown.named_category("It is a pair of scissors [SEG].", CATEGORIES) == "scissors"
    assert breakdown.named_category("I see a cup and the red mug [SEG].", CATEGORIES) == "cup"


def _row(name, family, answer, score, predicted=1, precision=0.5, recall=0.5):
    return {"name": name, "family": family, "answer": answer, "num_targets": 1, "num_predicted": predicted,
            "score": score, "precisions": [precision if predicted else None], "recalls": [recall]}


def test_outcomes_counts_and_medians(breakdown, tmp_path):
    for name, target in (("a", "banana"), ("b", "banana"), ("c", "mug"), ("d", "cup")):
        objects = [{"category": target, "group_id": 0}, {"category": "ball", "group_id": None}]
        (tmp_path / f"{name}.json").write_text(json.dumps({"objects": objects}))
    rows = [
        _row("a", "world_knowledge", "The banana [SEG].", 0.8, precision=0.9, recall=0.8),
        _row("b", "world_knowledge", "The ball [SEG].", 0.1, precision=0.1, recall=0.2),
        _row("c", "world_knowledge", "Sure, [SEG].", 0.3, precision=0.4, recall=0.6),
        _row("d", "explicit", "No, I can't find a cup here.", 0.0, predicted=0),
        {"name": "e", "family": "absent", "answer": "No.", "num_targets": 0, "num_predicted": 0, "score": 1.0,
         "precisions": [], "recalls": []},
    ]
    result = breakdown.breakdown(rows, tmp_path, CATEGORIES)
    assert set(result) == {"world_knowledge", "explicit"}  # target-less samples are not counted
    wk = result["world_knowledge"]
    assert wk["count"] == 3 and wk["giou"] == pytest.approx(0.4)
    assert wk["outcomes"] == {"named a target": {"count": 1, "giou": 0.8},
                              "named another object": {"count": 1, "giou": 0.1},
                              "named nothing": {"count": 1, "giou": 0.3}}
    assert wk["precision"] == pytest.approx(0.4) and wk["recall"] == pytest.approx(0.6)
    explicit = result["explicit"]
    assert explicit["outcomes"] == {"declined": {"count": 1, "giou": 0.0}}
    assert explicit["precision"] is None  # no mask to measure
    lines = breakdown.table(result).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| explicit | 1 | 0.000 | 1 (0.00) | 0 | 0 | 0 |")


def test_cli_refuses_an_evaluation_without_per_sample_rows(breakdown, tmp_path):
    summary = tmp_path / "eval.json"
    summary.write_text(json.dumps({"giou": 0.5}))
    with pytest.raises(SystemExit, match="--per-sample"):
        breakdown.main([str(summary), str(tmp_path)])
