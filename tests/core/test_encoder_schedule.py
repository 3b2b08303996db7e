"""Every encoder schedule gives the same embedding and masks; the staged encoder advances between
the answer's tokens (on the CPU, in line; on CUDA the same calls queue work on a side stream)."""

import numpy as np
import pytest
import torch

from lisa_ros.core.encoder_schedule import ENCODER_SCHEDULES, StagedSamEncoding
from lisa_ros.core.segmenter import LisaSegmenter
from lisa_ros.core.speed_options import SpeedOptions
from tiny_checkpoints import scene_image


def test_staged_encoding_equals_the_encoder_bit_for_bit(segmenter):
    model = segmenter.model
    pixels = torch.randn(1, 3, model.sam_shape.img_size, model.sam_shape.img_size)
    with torch.inference_mode():
        expected = model.encode_sam(pixels)
    depth = len(model.sam.image_encoder.blocks)
    for groups in (1, 2, 5):
        staged = StagedSamEncoding(model, pixels, groups=groups)
        staged.pump()
        assert staged.done == (groups == 1 or depth == 1)
        assert torch.equal(staged.get(), expected)
        staged.pump()  # nothing left to do
        assert staged.pumps == 1 and staged.elapsed_ms() >= 0.0


@pytest.mark.parametrize("schedule", [s for s in ENCODER_SCHEDULES if s != "inline"])
def test_schedules_give_the_same_masks(tiny_official, schedule):
    image = scene_image(seed=7)
    results = {}
    for name in ("inline", schedule):
        segmenter = LisaSegmenter.from_pretrained(
            tiny_official, precision="fp32", device="cpu", speed=SpeedOptions(encoder_schedule=name)
        )
        results[name] = segmenter.segment(image, "Where are the mug and the cup?", keep_logits=True)
    ours, inline = results[schedule], results["inline"]
    assert ours.answer == inline.answer and len(ours.masks) == 2
    for a, b in zip(ours.masks, inline.masks):
        assert np.array_equal(a.logits, b.logits) and np.array_equal(a.mask, b.mask)


def test_interleaved_encoder_runs_between_tokens(tiny_official):
    """One block group behind CLIP, then one per answer token until the encoder is done."""
    segmenter = LisaSegmenter.from_pretrained(
        tiny_official, precision="fp32", device="cpu",
        speed=SpeedOptions(encoder_schedule="interleaved", draft_tokens=0),
    )
    features, _, _ = segmenter.encode_image(scene_image(seed=8))
    staged = features.sam_embedding
    # The tiny encoder has 2 blocks: 2 groups of one, the first behind CLIP.
    assert isinstance(staged, StagedSamEncoding) and staged.pumps == 1 and not staged.done
    tokens = []
    out = segmenter.segment(scene_image(seed=8), "Where is the mug?", on_token=tokens.append)
    assert tokens == out.answer_ids and len(out.masks) == 1
    assert staged.pumps == 2 and staged.done  # finished by the first token's pump, not at the end
