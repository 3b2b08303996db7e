"""Our fused SAM attention equals segment-anything's: fp32 within 1e-5, bf16 within the bounds of
docs/benchmarks.md §2, with the official weights untouched."""

import copy

import numpy as np
import pytest
import torch

from lisa_ros.core.sam_attention import SAM_ATTENTION_MODES, set_sam_attention
from lisa_ros.core.sam_builder import SamShape, build_sam
from lisa_ros.core.segmenter import LisaSegmenter
from lisa_ros.core.speed_options import SpeedOptions
from tiny_checkpoints import scene_image

# Windowed blocks whose windows need padding (grid 10, window 3) plus a global block; and an
# encoder of global blocks only.
WINDOWED = SamShape(160, 16, 48, 3, 3, 2.0, 3, (1,), 32, 8, 2, 64, 4, 3, 3, 32)
GLOBAL_ONLY = SamShape(96, 16, 24, 2, 3, 4.0, 0, (), 16, 8, 1, 32, 8, 3, 2, 16)


def _random_sam(shape, seed=0):
    torch.manual_seed(seed)
    sam = build_sam(shape)
    with torch.no_grad():
        for parameter in sam.parameters():
            parameter.normal_(std=0.2)  # relative-position tables included (they start at zero)
    return sam


@pytest.mark.parametrize("shape", [WINDOWED, GLOBAL_ONLY], ids=["windowed", "global"])
@pytest.mark.parametrize("mode", ["sdpa", "sdpa_folded", "chunked"])
@pytest.mark.parametrize("max_score_elements", [None, 1])
def test_fp32_equals_segment_anything(shape, mode, max_score_elements):
    sam = _random_sam(shape)
    pixels = torch.randn(1, 3, shape.img_size, shape.img_size)
    before = {name: value.clone() for name, value in sam.state_dict().items()}
    with torch.no_grad():
        official = sam.image_encoder(pixels)
        changed = set_sam_attention(sam, mode, max_score_elements)
        ours = sam.image_encoder(pixels)
    assert changed >= (1 if mode != "chunked" or max_score_elements else 0)
    assert (ours - official).abs().max().item() <= 1e-5
    # Weights are used as they are, and "official" puts segment-anything's forward back.
    assert all(torch.equal(before[name], value) for name, value in sam.state_dict().items())
    assert set_sam_attention(sam, "official") == 0
    assert all("forward" not in block.attn.__dict__ for block in sam.image_encoder.blocks)
    with torch.no_grad():
        assert torch.equal(sam.image_encoder(pixels), official)


@pytest.mark.parametrize("mode", ["sdpa", "sdpa_folded"])
def test_bf16_within_the_half_precision_bounds(mode):
    """bf16 against fp32 segment-anything: no worse than segment-anything's own bf16, within
    §2's encoder bound (7.3e-2), and the same sign (mask) almost everywhere."""
    sam = _random_sam(WINDOWED, seed=1)
    pixels = torch.randn(1, 3, WINDOWED.img_size, WINDOWED.img_size)
    half = copy.deepcopy(sam).to(torch.bfloat16)
    with torch.no_grad():
        reference = sam.image_encoder(pixels)
        official_bf16 = half.image_encoder(pixels.bfloat16()).float()
        set_sam_attention(half, mode)
        ours_bf16 = half.image_encoder(pixels.bfloat16()).float()
    ours_error = (ours_bf16 - reference).abs().max().item()
    official_error = (official_bf16 - reference).abs().max().item()
    assert ours_error <= max(7.3e-2, 2 * official_error)
    assert ours_error <= 7.3e-2 * reference.abs().max().item()
    assert (torch.sign(ours_bf16) == torch.sign(reference)).float().mean().item() >= 0.988


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="SAM attention"):
        set_sam_attention(_random_sam(GLOBAL_ONLY), "flash")
    assert "official" in SAM_ATTENTION_MODES


def test_segmenter_masks_equal_for_every_attention(tiny_official):
    """Through the whole segmenter (official checkpoint layout, loaded unchanged): masks equal."""
    image = scene_image(seed=3)
    outputs = {}
    for mode in ("official", "sdpa", "sdpa_folded"):
        segmenter = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu",
                                                  speed=SpeedOptions(sam_attention=mode))
        outputs[mode] = segmenter.segment(image, "Where are the mug and the cup?", keep_logits=True)
    for mode in ("sdpa", "sdpa_folded"):
        assert outputs[mode].answer == outputs["official"].answer and len(outputs[mode].masks) == 2
        for ours, official in zip(outputs[mode].masks, outputs["official"].masks):
            assert np.abs(ours.logits - official.logits).max() <= 1e-4
            assert np.array_equal(ours.mask, official.mask)
