"""4-bit and 8-bit language models through bitsandbytes, on the CPU."""

import pytest

from lisa_ros.core.results import Status
from lisa_ros.core.segmenter import LisaSegmenter
from tiny_checkpoints import scene_image, scene_regions

NUM_LAYERS = 2
LLM_LINEARS_PER_LAYER = 7  # q, k, v, o, gate, up, down


def _bnb_names(model):
    import bitsandbytes as bnb

    kinds = (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
    return {name for name, module in model.named_modules() if isinstance(module, kinds)}


def _iou(a, b) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("mode", ["4bit", "8bit"])
def test_default_policy_keeps_heads_fcs_projector_and_sam(tiny_official, segmenter, mode):
    """Only the LLM's layers are quantized, and the taught checkpoint still gives fp32's answers
    and masks (mask IoU against fp32 0.99 or more when measured; bound 0.95), on its objects."""
    seg = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu", quantization=mode)
    names = _bnb_names(seg.model)
    assert len(names) == NUM_LAYERS * LLM_LINEARS_PER_LAYER
    assert all(name.startswith("llm.model.layers.") for name in names)
    image = scene_image(height=75, width=110, seed=5)
    regions = scene_regions(75, 110)
    for question in ("Where is the mug?", "Where are the mug and the cup?", "Is there a banana?"):
        quantized, full = seg.segment(image, question), segmenter.segment(image, question)
        assert quantized.answer == full.answer and len(quantized.masks) == len(full.masks)
        for ours, reference, target in zip(quantized.masks, full.masks, ("mug", "cup")):
            assert ours.mask.shape == (75, 110)
            assert _iou(ours.mask, reference.mask) >= 0.95
            assert _iou(ours.mask, regions[target]) > 0.8


def test_8bit_keeps_the_taught_answers(tiny_official):
    seg = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu", quantization="8bit")
    assert seg.segment(scene_image(), "Where are the mug and the cup?").answer == "The mug [SEG] and the cup [SEG]."
    assert seg.segment(scene_image(), "Is there a banana?").status == Status.NO_TARGET


def test_official_policy_also_quantizes_lm_head_projector_and_fcs(tiny_official):
    seg = LisaSegmenter.from_pretrained(
        tiny_official, precision="fp32", device="cpu", quantization="4bit", quantize_skip="official"
    )
    names = _bnb_names(seg.model)
    assert {"llm.lm_head", "mm_projector", "text_hidden_fcs.0.0", "text_hidden_fcs.0.2"} <= names
    assert not any(name.startswith(("sam.", "vision_tower.")) for name in names)
    seg.segment(scene_image(), "Where is the mug?")


def test_unknown_quantization_is_refused(tiny_official):
    with pytest.raises(ValueError, match="quantization must be one of"):
        LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu", quantization="3bit")
