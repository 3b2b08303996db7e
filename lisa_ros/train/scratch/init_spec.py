"""Fresh random models from a specification: ``lisa-train --init lisa-tiny`` or ``--init spec.json``.

A spec is a JSON object (or a named preset from :data:`PRESETS`)::

    {
      "lisa": {...},            # config.json fields (LisaConfig); "vocab_size": "auto" = tokenizer size
      "sam": {...},             # SamShape fields
      "clip": {...},            # transformers CLIPVisionConfig arguments
      "clip_preprocess": {...}, # preprocessor_config.json fields (e.g. a fixed size, no crop)
      "tokenizer": {"vocab_size": 1200} | "path/to/tokenizer/folder",
      "seed": 0
    }

``tokenizer`` either names a folder holding ``tokenizer.model`` + ``added_tokens.json`` (a
relative path is relative to the spec file) or asks for a new SentencePiece model trained with
LLaMA's settings on the synthetic data's corpus (:mod:`lisa_ros.train.scratch.tokenizer_training`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PRESETS", "InitSpec", "load_init_spec", "build_from_spec"]

# The bundled demo model. Sized so that training from scratch fits an hour on 2 CPU cores and
# the folder (fp16 weights) stays under 25 MB; see docs/training-from-scratch.md and docs/benchmarks.md.
LISA_TINY = {
    "lisa": {
        "hidden_size": 256,
        "intermediate_size": 640,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "vocab_size": "auto",
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6,
        "mm_hidden_size": 192,
        "mm_vision_select_layer": -1,
        "mm_vision_select_feature": "patch",
        "mm_use_im_start_end": True,
        "out_dim": 256,
        "vision_tower": "clip",
        "torch_dtype": "float16",
    },
    "sam": {
        "img_size": 256,
        "patch_size": 16,
        "encoder_embed_dim": 192,
        "encoder_depth": 4,
        "encoder_num_heads": 6,
        "encoder_mlp_ratio": 4.0,
        "window_size": 8,
        "global_attn_indexes": [1, 3],
        "prompt_embed_dim": 256,
        "mask_in_chans": 16,
        "decoder_depth": 2,
        "decoder_mlp_dim": 512,
        "decoder_num_heads": 8,
        "num_multimask_outputs": 3,
        "iou_head_depth": 3,
        "iou_head_hidden_dim": 256,
    },
    "clip": {
        "hidden_size": 192,
        "intermediate_size": 768,
        "num_hidden_layers": 4,
        "num_attention_heads": 6,
        "image_size": 112,
        "patch_size": 14,
        "projection_dim": 192,
        "hidden_act": "quick_gelu",
    },
    # The whole 4:3 frame squeezed to 112x112: the official shortest-side resize + centre
    # crop would cut off the sides of the table.
    "clip_preprocess": {"size": {"height": 112, "width": 112}, "do_center_crop": False},
    "tokenizer": {"vocab_size": 1200},
    "seed": 0,
}

PRESETS = {"lisa-tiny": LISA_TINY}


@dataclass
class InitSpec:
    """A parsed spec; ``base_dir`` resolves a relative tokenizer path."""

    data: dict
    base_dir: Path
    name: str

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=True)


def load_init_spec(name_or_path: str) -> InitSpec:
    """A preset by name, or a JSON spec file."""
    if name_or_path in PRESETS:
        return InitSpec(copy.deepcopy(PRESETS[name_or_path]), Path.cwd(), name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"--init {name_or_path!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    return InitSpec(json.loads(path.read_text(encoding="utf-8")), path.resolve().parent, path.stem)


def build_from_spec(spec: InitSpec, tokenizer_folder: Path):
    """Build ``(model, tokenizer, clip_preprocess, tokenizer_folder)`` from a spec.

    A tokenizer to be trained is written to ``tokenizer_folder``; an existing one is used where
    it is (and its folder returned).
    """
    from transformers import CLIPVisionConfig

    from lisa_ros.core.config import LisaConfig
    from lisa_ros.core.preprocess import ClipPreprocessConfig
    from lisa_ros.core.sam_builder import SamShape
    from lisa_ros.core.saving import init_lisa_model
    from lisa_ros.core.tokenizer import LisaTokenizer

    from .tokenizer_training import train_tokenizer

    data = spec.data
    tok_spec = data.get("tokenizer", {"vocab_size": 1200})
    if isinstance(tok_spec, str):
        tokenizer_folder = Path(tok_spec)
        if not tokenizer_folder.is_absolute():
            tokenizer_folder = spec.base_dir / tokenizer_folder
    else:
        train_tokenizer(tokenizer_folder, int(tok_spec["vocab_size"]))
    tokenizer = LisaTokenizer.from_folder(tokenizer_folder)

    lisa = dict(data["lisa"])
    if lisa.get("vocab_size", "auto") == "auto":
        lisa["vocab_size"] = len(tokenizer)
    if "sam_decoder_num_heads" in lisa:
        lisa["lisa_ros_sam_decoder_num_heads"] = lisa.pop("sam_decoder_num_heads")
    sam = dict(data["sam"])
    sam["global_attn_indexes"] = tuple(sam.get("global_attn_indexes", ()))
    if sam.get("decoder_num_heads", 8) != 8:
        lisa["lisa_ros_sam_decoder_num_heads"] = sam["decoder_num_heads"]
    clip_kwargs = dict(data["clip"])
    lisa.setdefault("mm_hidden_size", clip_kwargs["hidden_size"])
    config = LisaConfig.from_dict(lisa)
    model = init_lisa_model(config, SamShape(**sam), CLIPVisionConfig(**clip_kwargs), seed=int(data.get("seed", 0)))
    clip_preprocess = ClipPreprocessConfig.from_dict(data.get("clip_preprocess", {}))
    return model, tokenizer, clip_preprocess, tokenizer_folder
