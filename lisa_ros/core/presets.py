"""The architectures of the official LISA checkpoints, as config objects (no weights).

Used to build full-size models with random weights for benchmarks (speed does not depend on
the weight values) and to check shape inference against the real thing. Values from
docs/model-reference.md §2.2 to §2.4.
"""

from __future__ import annotations

from .config import LisaConfig
from .sam_builder import SamShape

__all__ = ["SAM_VIT_H", "LISA_ARCHITECTURES", "lisa_config", "clip_vit_l14_config"]

SAM_VIT_H = SamShape(1024, 16, 1280, 32, 16, 4.0, 14, (7, 15, 23, 31), 256, 16, 2, 2048, 8, 3, 3, 256)

_COMMON = {
    "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "tie_word_embeddings": False,
    "mm_hidden_size": 1024, "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch",
    "mm_use_im_start_end": True, "vision_tower": "openai/clip-vit-large-patch14", "out_dim": 256,
    "torch_dtype": "bfloat16",
}
LISA_ARCHITECTURES = {
    # xinlai/LISA-7B-v1 (LLaVA-Lightning-7B-v1-1, LLaMA-1 7B)
    "7b": {**_COMMON, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 2048,
           "rms_norm_eps": 1e-6, "vocab_size": 32004},
    # xinlai/LISA-13B-llama2-v1 (Llama-2-13B-chat)
    "13b": {**_COMMON, "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
            "num_attention_heads": 40, "num_key_value_heads": 40, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "vocab_size": 32003},
}


def lisa_config(arch: str) -> LisaConfig:
    """LisaConfig of an official architecture (``"7b"`` or ``"13b"``)."""
    try:
        return LisaConfig.from_dict(LISA_ARCHITECTURES[arch])
    except KeyError:
        raise ValueError(f"unknown LISA architecture {arch!r}; known: {sorted(LISA_ARCHITECTURES)}") from None


def clip_vit_l14_config():
    """transformers CLIPVisionConfig of openai/clip-vit-large-patch14 (224 px, 256 patches)."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu", layer_norm_eps=1e-5,
    )
