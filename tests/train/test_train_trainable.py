"""Trainable parts (official LoRA setup vs full) and LoRA merging."""


import numpy as np
import pytest
import torch

from lisa_ros.train.scratch.init_spec import build_from_spec, load_init_spec
from lisa_ros.train.trainable import (
    LoraSettings,
    lora_layers,
    merge_lora_,
    merged_state_dict,
    setup_trainable,
)


@pytest.fixture()
def micro(micro_spec, tmp_path):
    model, tokenizer, clip_pre, _ = build_from_spec(load_init_spec(str(micro_spec)), tmp_path / "tok")
    return model, tokenizer, clip_pre


def test_lora_only_on_llm_q_and_v(micro):
    model, _, _ = micro
    counts = setup_trainable(model, "lora", LoraSettings())
    layers = lora_layers(model)
    expected = {f"llm.model.layers.{i}.self_attn.{p}" for i in range(2) for p in ("q_proj", "v_proj")}
    assert set(layers) == expected
    # SAM's mask decoder has q_proj/v_proj too: the official filter leaves them alone
    assert not any(name.startswith("sam.") for name in layers)
    layer = layers["llm.model.layers.0.self_attn.q_proj"]
    assert layer.r["default"] == 8 and layer.scaling["default"] == pytest.approx(2.0)
    assert layer.lora_dropout["default"].p == pytest.approx(0.05)
    hidden = 64
    assert counts["lora"] == 4 * (8 * hidden + hidden * 8)


def test_lora_on_chosen_llm_layers(micro):
    """``LoraSettings.modules`` picks the LLM layers' Linear layers (the MLP too); the official
    regex is the default's; unknown names are refused before any model is touched."""
    import re

    from lisa_ros.train.trainable import LORA_TARGET_REGEX, lora_target_regex

    model, _, _ = micro
    setup_trainable(model, "lora", LoraSettings(modules=("q_proj", "down_proj", "up_proj")))
    expected = {f"llm.model.layers.{i}.{part}" for i in range(2)
                for part in ("self_attn.q_proj", "mlp.down_proj", "mlp.up_proj")}
    assert set(lora_layers(model)) == expected
    names = [name for name, _ in model.named_modules()]
    official = re.compile(LORA_TARGET_REGEX)
    assert [n for n in names if re.fullmatch(lora_target_regex(), n)] == [n for n in names if official.fullmatch(n)]
    with pytest.raises(ValueError, match="LoRA modules"):
        lora_target_regex(("q_proj", "fc1"))
    with pytest.raises(ValueError, match="LoRA modules"):
        lora_target_regex(())


def test_official_frozen_and_trained_parts(micro):
    model, _, _ = micro
    counts = setup_trainable(model, "lora")
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    for name, param in model.named_parameters():
        if name.startswith(("vision_tower.", "mm_projector.", "sam.image_encoder.", "sam.prompt_encoder.")):
            assert not param.requires_grad, name
        if name.startswith(("llm.lm_head.", "llm.model.embed_tokens.", "sam.mask_decoder.", "text_hidden_fcs.")):
            assert param.requires_grad, name
    assert not any(n.startswith("llm.model.layers.") and ".lora_" not in n for n in trainable)
    assert not any("norm" in n and n.startswith("llm.") for n in trainable)
    expected = sum(
        p.numel() for n, p in model.named_parameters()
        if n.startswith(("llm.lm_head.", "llm.model.embed_tokens.", "sam.mask_decoder.", "text_hidden_fcs."))
        or ".lora_" in n
    )
    assert counts["trainable"] == expected
    assert set(counts) >= {"lora", "lm_head", "embed_tokens", "sam_mask_decoder", "text_hidden_fcs"}
    assert "vision_tower" not in counts and "sam_image_encoder" not in counts


def test_full_mode_trains_everything(micro):
    model, _, _ = micro
    counts = setup_trainable(model, "full")
    assert counts["trainable"] == counts["total"]
    assert not lora_layers(model)
    assert counts["vision_tower"] > 0 and counts["sam_image_encoder"] > 0


def _states(model, tokenizer, clip_pre):
    from lisa_ros.core.generation import teacher_forced_states
    from lisa_ros.core.preprocess import preprocess_clip
    from lisa_ros.core.prompt import build_prompt_ids

    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    pixels = torch.from_numpy(preprocess_clip(image, clip_pre)).unsqueeze(0)
    prompt = build_prompt_ids(tokenizer, "Where is the mug? Please output segmentation mask.", answer="Sure, [SEG].")
    with torch.no_grad():
        states, seg = teacher_forced_states(model, prompt.ids, model.encode_clip(pixels), tokenizer.seg_token_id)
        logits = model.llm.lm_head(states)
    return logits, seg


def test_merged_lora_equals_unmerged(micro, micro_spec, tmp_path):
    model, tokenizer, clip_pre = micro
    setup_trainable(model, "lora")
    torch.manual_seed(5)
    for layer in lora_layers(model).values():
        torch.nn.init.normal_(layer.lora_B["default"].weight, std=0.2)
    model.eval()
    logits, seg = _states(model, tokenizer, clip_pre)

    fresh, _, _, _ = build_from_spec(load_init_spec(str(micro_spec)), tmp_path / "tok2")
    fresh.load_state_dict(merged_state_dict(model))
    fresh.eval()
    merged_logits, merged_seg = _states(fresh, tokenizer, clip_pre)
    assert not torch.allclose(logits, _states(build_from_spec(load_init_spec(str(micro_spec)), tmp_path / "t3")[0].eval(),
                                              tokenizer, clip_pre)[0])
    torch.testing.assert_close(merged_logits, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(merged_seg, seg, rtol=1e-5, atol=1e-5)

    merge_lora_(model)
    assert not lora_layers(model)
    in_place_logits, _ = _states(model, tokenizer, clip_pre)
    torch.testing.assert_close(in_place_logits, logits, rtol=1e-5, atol=1e-5)
    assert set(dict(model.named_parameters())) == set(dict(fresh.named_parameters()))


def test_cli_reads_and_checks_lora_modules():
    from lisa_ros.cli.train import build_parser

    parser = build_parser()
    base = ["--out", "x", "--synth-seed", "1"]
    assert parser.parse_args(base).lora_modules == ("q_proj", "v_proj")
    assert parser.parse_args(base + ["--lora-modules", "q_proj, down_proj"]).lora_modules == ("q_proj", "down_proj")
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--lora-modules", "q_proj,fc1"])
