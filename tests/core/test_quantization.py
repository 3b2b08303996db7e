"""4-bit and 8-bit language models through bitsandbytes, on the CPU."""

import pytest

from lisa_ros.core.results import Status
from lisa_ros.core.segmenter import LisaSegmenter
from tiny_checkpoints import scene_image

NUM_LAYERS = 2
LLM_LINEARS_PER_LAYER = 7  # q, k, v, o, gate, up, down


def _bnb_names(model):
    import bitsandbytes as bnb

    kinds = (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
    return {name for name, module in model.named_modules() if isinstance(module, kinds)}


@pytest.mark.parametrize("mode", ["4bit", "8bit"])
def test_default_policy_keeps_heads_fcs_projector_and_sam(tiny_official, mode):
    seg = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu", quantization=mode)
    names = _bnb_names(seg.model)
    assert len(names) == NUM_LAYERS * LLM_LINEARS_PER_LAYER
    assert all(name.startswith("llm.model.layers.") for name in names)
    out = seg.segment(scene_image(), "Where are the mug and the cup?")
    assert out.status in (Status.OK, Status.NO_TARGET)
    for result in out.masks:
        assert result.mask.shape == (60, 80)


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
