"""bench/probes/mask_resolution_ceiling.py: a ground-truth mask squeezed through SAM's logit grid."""
from __future__ import annotations

import re

import numpy as np
import pytest
from train_helpers import probe_module

from lisa_ros.data.reasonseg import write_sample
from lisa_ros.eval.metrics import mask_iou


@pytest.fixture(scope="module")
def ceiling():
    return probe_module("mask_resolution_ceiling")


def _rectangle(top: int, left: int, bottom: int, right: int, shape=(240, 320)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.float32)
    mask[top:bottom, left:right] = 1
    return mask


def test_a_large_object_survives_the_grid_where_it_is(ceiling):
    target = _rectangle(150, 200, 230, 300)  # bottom right, away from the padding's edge
    kept = ceiling.through_logit_grid(target, 256, 16)
    assert kept.shape == target.shape and kept.dtype == bool
    assert mask_iou(kept, target) > 0.95
    rows, cols = np.nonzero(kept)
    assert 150 <= rows.min() and rows.max() < 232 and 198 <= cols.min() and cols.max() < 302


def test_a_finer_grid_keeps_more_of_a_thin_object(ceiling):
    sliver = _rectangle(40, 20, 43, 300)  # 3 px tall: thinner than one 5-px cell of the 64x64 grid
    coarse = mask_iou(ceiling.through_logit_grid(sliver, 256, 16), sliver)
    fine = mask_iou(ceiling.through_logit_grid(sliver, 512, 16), sliver)
    assert coarse < 0.8
    assert fine > coarse


def test_the_command_reports_every_geometry_over_every_target(ceiling, tmp_path, capsys):
    image = np.full((240, 320, 3), 128, dtype=np.uint8)
    for index, (top, left) in enumerate([(20, 30), (100, 150)]):
        write_sample(tmp_path, f"scene_{index}", image, ["the box"], False,
                     [_rectangle(top, left, top + 60, left + 80).astype(bool)], answer="The box [SEG].")
    ceiling.main([str(tmp_path), "--geometry", "256:16", "--geometry", "512:16"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("SAM 256 px / patch 16 (64x64 logits): 2 masks")
    assert lines[1].startswith("SAM 512 px / patch 16 (128x128 logits): 2 masks")
    scores = [float(re.search(r"gIoU ([0-9.]+)", line).group(1)) for line in lines]
    assert all(0.9 < score <= 1.0 for score in scores)
