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
    from lisa_ros.data.lisa_templates import validation_question

    return tiny.segment(sample.image, validation_question(sample.texts[0], sample.is_sentence))


@pytest.fixture(scope="module")
def explicit_answers(tiny):
    """(sample, output) for 8 explicit scenes of the sanity seed, segmented once for the tests below."""
    from lisa_ros.data.synth import render_scene

    samples = [render_scene(SANITY_SEED, index, family="explicit") for index in range(8)]
    return [(sample, _segment(tiny, sample)) for sample in samples]


def test_loads_by_name_and_its_masks_land_on_objects(explicit_answers):
    """What the shipped lisa-tiny does reliably: its masks cover objects, not the table.

    Chance level is the share of the image that objects cover (about 0.14 on these scenes); the
    shipped model reaches about 0.92 on the explicit instructions it answers with a mask (6 of these
    8; it declines some present objects too, docs/benchmarks.md §3).
    """
    precisions = []
    for sample, out in explicit_answers:
        if not out.masks:
            continue
        assert out.masks[0].mask.shape == sample.image.shape[:2]
        pred = out.masks[0].mask
        on_objects = sample.object_masks.any(axis=0)
        precisions.append((pred & on_objects).sum() / max(int(pred.sum()), 1))
    assert len(precisions) >= 5, f"only {len(precisions)} of 8 present objects answered with a mask"
    assert np.mean(precisions) >= 0.6, precisions


def test_picks_the_named_object(explicit_answers):
    """Explicit instructions ("the red mug"): the mask matches the named object (mean IoU 0.67 over
    the 6 of these 8 scenes it answers with a mask; earlier weights, whose masks covered every object,
    failed this)."""
    from lisa_ros.eval.metrics import mask_iou

    ious = [mask_iou(out.masks[0].mask, sample.target_masks[0]) for sample, out in explicit_answers if out.masks]
    assert len(ious) >= 5 and np.mean(ious) >= 0.5, ious


def test_says_no_target_when_absent(tiny):
    """Absent targets ("the banana", and there is none) are answered without a mask: 6 of these 8
    (held-out: 83 %, docs/benchmarks.md §3)."""
    from lisa_ros.data.synth import render_scene

    outputs = [_segment(tiny, render_scene(SANITY_SEED, index, family="absent")) for index in range(8)]
    declined = [out for out in outputs if not out.masks]
    assert len(declined) >= 5, [out.answer for out in outputs]
    assert all(out.answer.startswith("No") for out in declined), [out.answer for out in declined]
