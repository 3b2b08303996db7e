"""The LLM runs fused attention (SDPA), set explicitly by the loader, and it equals transformers'
eager attention in fp32: prompt-pass states, tokens and masks."""

import numpy as np
import pytest
import torch

from lisa_ros.core.generation import _run_llm
from lisa_ros.core.loading import set_llm_attention
from lisa_ros.core.prompt import build_prompt_ids
from lisa_ros.core.segmenter import LisaSegmenter
from lisa_ros.core.speed_options import SpeedOptions
from tiny_checkpoints import scene_image


def test_loader_sets_sdpa_explicitly(segmenter):
    assert segmenter.model.llm.config._attn_implementation == "sdpa"
    assert segmenter.speed.llm_attention == "sdpa"


@pytest.mark.parametrize("variant", ["tiny_official", "tiny_safetensors"])
def test_sdpa_equals_eager_in_fp32(variant, request):
    folder = request.getfixturevalue(variant)
    segmenter = LisaSegmenter.from_pretrained(folder, precision="fp32", device="cpu")
    model = segmenter.model
    features, _, _ = segmenter.encode_image(scene_image(seed=4))
    prompt = build_prompt_ids(segmenter.tokenizer, segmenter._format_instruction("Where are the mug and the cup?"))
    embeds = model.embed_with_image(prompt.ids, features.clip_tokens)
    states = {}
    outputs = {}
    for implementation in ("eager", "sdpa"):
        set_llm_attention(model, implementation)
        with torch.inference_mode():
            states[implementation] = _run_llm(model, embeds)
        outputs[implementation] = segmenter.segment(scene_image(seed=4), "Where are the mug and the cup?",
                                                    max_new_tokens=16, keep_logits=True)
    assert (states["sdpa"] - states["eager"]).abs().max().item() <= 1e-5
    assert outputs["sdpa"].answer_ids == outputs["eager"].answer_ids
    for a, b in zip(outputs["sdpa"].masks, outputs["eager"].masks):
        assert np.abs(a.logits - b.logits).max() <= 1e-4 and np.array_equal(a.mask, b.mask)


def test_segmenter_option_and_refusal(tiny_official):
    eager = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu",
                                          speed=SpeedOptions(llm_attention="eager"))
    assert eager.model.llm.config._attn_implementation == "eager"
    with pytest.raises(ValueError, match="llm_attention"):
        SpeedOptions(llm_attention="flash").resolved(False, True, None)
