"""Tiny LISA checkpoints for tests, built from config objects and saved in the official layout.

Two variants cover the loader's paths:

* ``official``: LISA-7B tokenizer layout, sharded ``.bin`` + index, LLM stored in bf16 and SAM
  in fp32 (the official mixed storage), windowed SAM encoder with one global block.
  Its language model is taught a few answers in a few seconds (:data:`TAUGHT`), so that
  generation deterministically produces one, two or no ``[SEG]``.
* ``safetensors``: LISA-13B tokenizer layout, one safetensors file, a SAM encoder with only
  global attention, CLIP features from the last layer; random weights.

Both load through :func:`lisa_ros.core.loading.load_lisa` like a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lisa_ros.core.config import LisaConfig
from lisa_ros.core.preprocess import ClipPreprocessConfig, preprocess_clip
from lisa_ros.core.prompt import build_prompt_ids
from lisa_ros.core.sam_builder import SamShape
from lisa_ros.core.saving import init_lisa_model, save_clip_folder, save_lisa_checkpoint
from lisa_ros.core.tokenizer import LisaTokenizer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOKENIZERS = FIXTURES / "tokenizer"

# instruction (as the segmenter formats it, suffix included) -> answer the tiny model learns
SUFFIX = " Please output segmentation mask."
TAUGHT = {
    "Where is the mug?" + SUFFIX: "Sure, [SEG].",
    "Where are the mug and the cup?" + SUFFIX: "The mug [SEG] and the cup [SEG].",
    "Is there a banana?" + SUFFIX: "There is no banana in this image.",
}


def _clip_config(image_size: int, hidden: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=4,
        image_size=image_size, patch_size=14, projection_dim=hidden,
    )


def _variant(name: str):
    if name == "official":
        config = LisaConfig.from_dict(
            {
                "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 1004,
                "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "mm_hidden_size": 32,
                "mm_vision_select_layer": -2, "out_dim": 32, "vision_tower": "clip",
                "lisa_ros_sam_decoder_num_heads": 4,
            }
        )
        sam = SamShape(
            img_size=128, patch_size=16, encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2,
            encoder_mlp_ratio=2.0, window_size=4, global_attn_indexes=(1,), prompt_embed_dim=32,
            mask_in_chans=8, decoder_depth=2, decoder_mlp_dim=64, decoder_num_heads=4,
            num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=32,
        )
        return config, sam, _clip_config(56, 32), "lisa7b"
    config = LisaConfig.from_dict(
        {
            "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 6,
            "num_key_value_heads": 2, "vocab_size": 1003, "max_position_embeddings": 256,
            "rms_norm_eps": 1e-5, "mm_hidden_size": 24, "mm_vision_select_layer": -1, "out_dim": 16,
            "vision_tower": "clip",
        }
    )
    sam = SamShape(
        img_size=96, patch_size=16, encoder_embed_dim=24, encoder_depth=2, encoder_num_heads=3,
        encoder_mlp_ratio=4.0, window_size=0, global_attn_indexes=(), prompt_embed_dim=16,
        mask_in_chans=8, decoder_depth=1, decoder_mlp_dim=32, decoder_num_heads=8,
        num_multimask_outputs=3, iou_head_depth=2, iou_head_hidden_dim=16,
    )
    return config, sam, _clip_config(42, 24), "lisa13b"


def scene_image(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """A small RGB test image (``uint8 [H, W, 3]``): two coloured blocks on noise."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    image[height // 4 : height // 2, width // 8 : width // 3] = (200, 30, 30)
    image[height // 2 : 3 * height // 4, width // 2 : 3 * width // 4] = (30, 30, 200)
    return image


def _teach(model, tokenizer: LisaTokenizer, clip_pre: ClipPreprocessConfig, steps: int = 90) -> None:
    """Make the language model answer :data:`TAUGHT` (cross-entropy on the answers)."""
    pixels = torch.from_numpy(preprocess_clip(scene_image(), clip_pre)).unsqueeze(0)
    params = [p for n, p in model.named_parameters() if n.startswith("llm.")]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    conversations = [build_prompt_ids(tokenizer, q, answer=a) for q, a in TAUGHT.items()]
    model.train()
    for step in range(steps):
        prompt = conversations[step % len(conversations)]
        with torch.no_grad():
            image_tokens = model.encode_clip(pixels)
        embeds = model.embed_with_image(prompt.ids, image_tokens)
        states = model.llm.model(inputs_embeds=embeds).last_hidden_state[0]
        shift = model.num_image_tokens - 1
        targets = torch.tensor(prompt.ids[prompt.prompt_length :])
        positions = torch.arange(prompt.prompt_length - 1, len(prompt.ids) - 1) + shift
        loss = torch.nn.functional.cross_entropy(model.llm.lm_head(states[positions]), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def write_tiny_checkpoint(root: Path, variant: str = "official") -> Path:
    """Write a tiny LISA checkpoint (with its CLIP folder inside, as ``clip/``); return it."""
    config, sam_shape, clip_config, layout = _variant(variant)
    model = init_lisa_model(config, sam_shape, clip_config, seed=1 if variant == "official" else 2)
    folder = Path(root) / variant
    tokenizer_folder = TOKENIZERS / layout
    clip_pre = ClipPreprocessConfig(shortest_edge=clip_config.image_size, crop=(clip_config.image_size,) * 2)
    if variant == "official":
        _teach(model, LisaTokenizer.from_folder(tokenizer_folder), clip_pre)
        save_lisa_checkpoint(
            model, folder, tokenizer_folder, llm_dtype=torch.bfloat16, sam_dtype=torch.float32,
            max_shard_bytes=400_000,
        )
    else:
        save_lisa_checkpoint(model, folder, tokenizer_folder, safe=True)
    save_clip_folder(model.vision_tower, clip_pre, folder / "clip")
    return folder
