"""SpeedOptions: the defaults per device, the older chunking switch, refusals, and what a
segmenter built with them runs."""

import pytest

from lisa_ros.core.answer_drafter import AnswerDrafter
from lisa_ros.core.segmenter import LisaSegmenter
from lisa_ros.core.speed_options import SpeedOptions


def test_defaults_per_device():
    cpu = SpeedOptions().resolved(on_cuda=False, overlap_encoders=True, sam_attention_chunking=None)
    assert (cpu.encoder_schedule, cpu.sam_attention, cpu.device_preprocess, cpu.draft_tokens, cpu.llm_attention) == (
        "inline", "official", False, 8, "sdpa")
    cuda = SpeedOptions().resolved(on_cuda=True, overlap_encoders=True, sam_attention_chunking=None)
    assert (cuda.encoder_schedule, cuda.sam_attention, cuda.device_preprocess) == ("concurrent", "sdpa", True)
    assert SpeedOptions().resolved(True, False, None).encoder_schedule == "inline"


def test_older_chunking_switch_and_explicit_choices():
    assert SpeedOptions().resolved(True, True, True).sam_attention == "chunked"
    assert SpeedOptions().resolved(False, True, False).sam_attention == "official"
    explicit = SpeedOptions(sam_attention="sdpa_folded", encoder_schedule="after_clip", device_preprocess=False,
                            draft_tokens=0)
    resolved = explicit.resolved(True, True, True)
    assert (resolved.sam_attention, resolved.encoder_schedule, resolved.device_preprocess, resolved.draft_tokens) == (
        "sdpa_folded", "after_clip", False, 0)


@pytest.mark.parametrize("options, message", [
    (SpeedOptions(encoder_schedule="later"), "encoder_schedule"),
    (SpeedOptions(sam_attention="flash"), "sam_attention"),
    (SpeedOptions(draft_tokens=-1), "draft_tokens"),
    (SpeedOptions(draft_tokens=65), "draft_tokens"),
])
def test_bad_values_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        options.resolved(False, True, None)


def test_segmenter_installs_its_choices(tiny_official):
    plain = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu",
                                          speed=SpeedOptions(draft_tokens=0, sam_attention="official"))
    assert plain.drafter is None
    assert all("forward" not in block.attn.__dict__ for block in plain.model.sam.image_encoder.blocks)
    drafting = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu", speed=SpeedOptions(
        draft_tokens=4, draft_answers=("It is [SEG].",), sam_attention="sdpa"))
    assert isinstance(drafting.drafter, AnswerDrafter) and drafting.drafter.max_draft == 4
    assert len(drafting.drafter.fixed) == 1
    assert all(block.attn.fused_mode == "sdpa" for block in drafting.model.sam.image_encoder.blocks)
