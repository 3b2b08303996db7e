"""Config parsing and SAM shape inference from tensor shapes."""

import pytest
import torch

from lisa_ros.core.config import LisaConfig
from lisa_ros.core.errors import CheckpointError
from lisa_ros.core.sam_builder import SamShape, build_sam, infer_sam_shape

from lisa_ros.core.presets import SAM_VIT_H as VIT_H

# The LISA-7B-v1 config.json fields (docs/model-reference.md §2.2).
LISA_7B_CONFIG = {
    "architectures": ["LISAForCausalLM"], "model_type": "llava", "bos_token_id": 1, "eos_token_id": 2,
    "pad_token_id": 0, "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 11008,
    "initializer_range": 0.02, "max_position_embeddings": 2048, "max_sequence_length": 2048,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "pretraining_tp": 1, "tie_word_embeddings": False, "use_cache": False,
    "vocab_size": 32004, "mm_hidden_size": 1024, "mm_use_im_patch_token": False, "mm_use_im_start_end": True,
    "mm_vision_select_feature": "patch", "mm_vision_select_layer": -2,
    "mm_vision_tower": "openai/clip-vit-large-patch14", "vision_tower": "openai/clip-vit-large-patch14",
    "freeze_mm_mlp_adapter": True, "tune_mm_mlp_adapter": False, "use_mm_proj": True,
    "image_aspect_ratio": "square", "out_dim": 256, "train_mask_decoder": True, "torch_dtype": "bfloat16",
}


def test_official_7b_config_parses():
    config = LisaConfig.from_dict(LISA_7B_CONFIG)
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size, config.out_dim) == (4096, 32, 32004, 256)
    assert config.vision_tower == "openai/clip-vit-large-patch14"
    llama = config.llama_config()
    assert llama.hidden_size == 4096 and llama.num_key_value_heads == 32 and llama.rms_norm_eps == 1e-6
    assert not llama.tie_word_embeddings
    # Round trip keeps the official fields.
    again = LisaConfig.from_dict(config.to_dict())
    assert again == config
    assert config.to_dict()["train_mask_decoder"] is True


def test_config_missing_fields_are_named():
    data = dict(LISA_7B_CONFIG)
    del data["hidden_size"], data["vocab_size"]
    with pytest.raises(CheckpointError, match="hidden_size, .*vocab_size"):
        LisaConfig.from_dict(data)


def _shapes_of(sam) -> dict:
    state = sam.state_dict()
    return {name: tuple(tensor.shape) for name, tensor in state.items()}


def test_vit_h_shape_is_inferred_from_tensor_shapes():
    with torch.device("meta"):
        sam = build_sam(VIT_H)
    shapes = _shapes_of(sam)
    # The tensors of the official checkpoint (docs/model-reference.md §3.2).
    assert shapes["image_encoder.blocks.7.attn.rel_pos_h"] == (127, 80)
    assert shapes["image_encoder.blocks.0.attn.rel_pos_h"] == (27, 80)
    assert shapes["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] == (2, 128)
    assert infer_sam_shape(shapes) == VIT_H


@pytest.mark.parametrize(
    "shape",
    [
        SamShape(128, 16, 32, 2, 2, 2.0, 4, (1,), 32, 8, 2, 64, 4, 3, 3, 32),
        SamShape(96, 16, 24, 3, 3, 4.0, 0, (), 16, 8, 1, 32, 8, 3, 2, 16),
    ],
)
def test_tiny_shapes_round_trip(shape):
    sam = build_sam(shape)
    assert infer_sam_shape(_shapes_of(sam), shape.decoder_num_heads) == shape


def test_missing_sam_tensor_is_named():
    shapes = _shapes_of(build_sam(SamShape(128, 16, 32, 2, 2, 2.0, 4, (1,), 32, 8, 2, 64, 4, 3, 3, 32)))
    del shapes["mask_decoder.mask_tokens.weight"]
    with pytest.raises(CheckpointError, match="mask_decoder.mask_tokens.weight"):
        infer_sam_shape(shapes)
