"""Fixtures for the training tests: a micro model spec and tiny data folders.

Everything is tiny (64 px SAM, 28 px CLIP, 2-layer LLaMA with hidden 64, 80x60 scenes), so a
training step takes a few hundredths of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from train_helpers import DATA_SEED, MICRO_SPEC, SCENE_SIZE


@pytest.fixture(scope="session")
def micro_spec(tmp_path_factory) -> Path:
    """Path of a JSON init spec for a micro model (the lisa13b fixture tokenizer)."""
    path = tmp_path_factory.mktemp("spec") / "micro.json"
    path.write_text(json.dumps(MICRO_SPEC), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def synth_folder(tmp_path_factory) -> Path:
    """16 synthetic scenes (every family twice) in a ReasonSeg folder of ours (with answers)."""
    from lisa_ros.data.synth import generate_dataset

    folder = tmp_path_factory.mktemp("synth")
    generate_dataset(folder, DATA_SEED, 16, size=SCENE_SIZE)
    return folder


@pytest.fixture(scope="session")
def official_folder(tmp_path_factory) -> Path:
    """6 samples in the official format: no ``answer`` key, one target polygon set, an ignore region."""
    from lisa_ros.data.reasonseg import write_sample
    from lisa_ros.data.synth import render_scene

    folder = tmp_path_factory.mktemp("official")
    index = 0
    written = 0
    while written < 6:
        sample = render_scene(DATA_SEED + 1, index, SCENE_SIZE, families=["explicit", "functional"])
        index += 1
        ignore = np.zeros(sample.image.shape[:2], dtype=bool)
        ignore[:4, :4] = True
        write_sample(folder, f"official_{written:02d}", sample.image, sample.texts, sample.is_sentence,
                     sample.target_masks[:1], [ignore])
        written += 1
    return folder
