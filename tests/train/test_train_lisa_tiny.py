"""The bundled lisa-tiny: loads by name everywhere a model is named, fits its size budget, and
segments fresh synthetic scenes (a coarse sanity check; the full held-out evaluation of 500+
scenes is a benchmark: docs/benchmarks.md)."""

import json

import numpy as np
import pytest

from lisa_ros.core.resolve import bundled_models_dir

FOLDER = bundled_models_dir() / "lisa-tiny"
# Not a training or held-out benchmark seed (training: 9001, held-out evaluation: 424242).
SANITY_SEED = 777


def test_bundle_layout_and_size():
    assert (FOLDER / "config.json").is_file(), "lisa-tiny is missing from lisa_ros/models"
    config = json.loads((FOLDER / "config.json").read_text())
    assert config["vision_tower"] == "clip" and (FOLDER / "clip" / "preprocessor_config.json").is_file()
    assert config["out_dim"] == 256
    preprocess = json.loads((FOLDER / "clip" / "preprocessor_config.json").read_text())
    assert preprocess["do_center_crop"] is False  # the whole frame, not a centre crop
    for name in ("tokenizer.model", "added_tokens.json", "generation_config.json"):
        assert (FOLDER / name).is_file(), name
    total = sum(p.stat().st_size for p in FOLDER.rglob("*") if p.is_file())
    assert total <= 25 * 1024 * 1024, total


def test_bundled_clip_config_names_the_stored_dtype():
    import torch

    config = json.loads((FOLDER / "clip" / "config.json").read_text())
    state = torch.load(FOLDER / "clip" / "pytorch_model.bin", map_location="cpu", weights_only=True)
    assert {str(t.dtype) for t in state.values()} == {f"torch.{config['dtype']}"}


@pytest.fixture(scope="module")
def tiny():
    import torch

    from lisa_ros.core.segmenter import LisaSegmenter

    torch.set_num_threads(1)
    return LisaSegmenter.from_pretrained("lisa-tiny", device="cpu")


def _segment(tiny, sample):
    from lisa_ros.train.templates import validation_question

    return tiny.segment(sample.image, validation_question(sample.texts[0], sample.is_sentence))


def test_loads_by_name_and_its_masks_land_on_objects(tiny):
    """What the shipped lisa-tiny does reliably: its masks cover objects, not the table.

    Chance level is the share of the image that objects cover (about 0.14 on these scenes);
    the shipped model reaches about 0.90 (earlier weights: 0.90-0.93).
    """
    from lisa_ros.data.synth import render_scene

    precisions = []
    for index in range(8):
        sample = render_scene(SANITY_SEED, index, family="explicit")
        out = _segment(tiny, sample)
        assert out.masks and out.masks[0].mask.shape == sample.image.shape[:2]
        pred = out.masks[0].mask
        on_objects = sample.object_masks.any(axis=0)
        precisions.append((pred & on_objects).sum() / max(int(pred.sum()), 1))
    assert np.mean(precisions) >= 0.6, precisions


def test_picks_the_named_object(tiny):
    """Explicit instructions ("the red mug"): the mask matches the named object (mean IoU 0.69 on
    these 8 scenes; held-out explicit gIoU 0.65, docs/benchmarks.md §3). Earlier weights failed
    this (their masks covered every object)."""
    from lisa_ros.data.synth import render_scene
    from lisa_ros.eval.metrics import mask_iou

    ious = []
    for index in range(8):
        sample = render_scene(SANITY_SEED, index, family="explicit")
        out = _segment(tiny, sample)
        ious.append(mask_iou(out.masks[0].mask, sample.target_masks[0]) if out.masks else 0.0)
    assert np.mean(ious) >= 0.5, ious


@pytest.mark.xfail(strict=True, reason="issue 5 open: lisa-tiny does not yet answer 'not there' "
                   "for absent targets")
def test_says_no_target_when_absent(tiny):
    from lisa_ros.data.synth import render_scene

    answered_without_mask = sum(not _segment(tiny, render_scene(SANITY_SEED, index, family="absent")).masks
                                for index in range(6))
    assert answered_without_mask >= 4
