"""The LISA checkpoint configuration (``config.json``) as a validated, typed object.

The official checkpoints store a LLaVA-v1 ``config.json`` (``model_type: "llava"``) that mixes
LLaMA hyper-parameters, LLaVA vision fields and two LISA fields (``out_dim``,
``train_mask_decoder``); see docs/model-reference.md §2.2. SAM's architecture is not in the
config: it is read off the tensor shapes (:mod:`lisa_ros.core.sam_builder`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckpointError

__all__ = ["LisaConfig"]

# Fields without which no model can be built. Everything else has the official default.
_REQUIRED = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "vocab_size",
)


@dataclass(frozen=True)
class LisaConfig:
    """Hyper-parameters of one LISA checkpoint.

    Attributes mirror the official ``config.json`` keys. ``raw`` keeps the whole file so that a
    checkpoint written by our training code round-trips every field it was given.
    """

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    vocab_size: int
    num_key_value_heads: int
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None
    hidden_act: str = "silu"
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 0
    tie_word_embeddings: bool = False
    mm_hidden_size: int = 1024
    mm_vision_select_layer: int = -2
    mm_vision_select_feature: str = "patch"
    mm_use_im_start_end: bool = True
    vision_tower: str = "openai/clip-vit-large-patch14"
    out_dim: int = 256
    torch_dtype: str = "bfloat16"
    # lisa_ros extension: SAM's mask-decoder head count cannot be read off tensor shapes.
    # The official checkpoints use segment-anything's 8; small models may choose another.
    sam_decoder_num_heads: int = 8
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LisaConfig":
        """Build from the parsed ``config.json``; raise :class:`CheckpointError` on gaps."""
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise CheckpointError(f"config.json lacks required fields: {', '.join(missing)}")
        if data.get("mm_vision_select_feature", "patch") not in ("patch", "cls_patch"):
            raise CheckpointError(
                f"unsupported mm_vision_select_feature {data['mm_vision_select_feature']!r}"
            )
        kwargs = {}
        for name in cls.__dataclass_fields__:
            if name == "raw":
                continue
            if name == "num_key_value_heads":
                kwargs[name] = data.get(name) or data["num_attention_heads"]
            elif name == "vision_tower":
                kwargs[name] = data.get("vision_tower") or data.get("mm_vision_tower") or cls.vision_tower
            elif name == "sam_decoder_num_heads":
                kwargs[name] = data.get("lisa_ros_sam_decoder_num_heads", cls.sam_decoder_num_heads)
            elif name in data and data[name] is not None:
                kwargs[name] = data[name]
        return cls(raw=dict(data), **kwargs)

    @classmethod
    def from_file(cls, path: str | Path) -> "LisaConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"missing config file {path}") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def llama_config(self):
        """The transformers ``LlamaConfig`` of the language model."""
        from transformers import LlamaConfig

        rope_parameters = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling:
            rope_parameters.update(self.rope_scaling)
            rope_parameters.setdefault("rope_type", rope_parameters.pop("type", "default"))
        return LlamaConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.rms_norm_eps,
            hidden_act=self.hidden_act,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            tie_word_embeddings=self.tie_word_embeddings,
            rope_parameters=rope_parameters,
        )

    def to_dict(self) -> dict[str, Any]:
        """The official ``config.json`` content (plus our extension key when it differs)."""
        data = dict(self.raw)
        data.update(
            {
                "architectures": ["LISAForCausalLM"],
                "model_type": "llava",
                "hidden_size": self.hidden_size,
                "intermediate_size": self.intermediate_size,
                "num_hidden_layers": self.num_hidden_layers,
                "num_attention_heads": self.num_attention_heads,
                "num_key_value_heads": self.num_key_value_heads,
                "vocab_size": self.vocab_size,
                "max_position_embeddings": self.max_position_embeddings,
                "max_sequence_length": self.max_position_embeddings,
                "rms_norm_eps": self.rms_norm_eps,
                "rope_scaling": self.rope_scaling,
                "hidden_act": self.hidden_act,
                "bos_token_id": self.bos_token_id,
                "eos_token_id": self.eos_token_id,
                "pad_token_id": self.pad_token_id,
                "tie_word_embeddings": self.tie_word_embeddings,
                "mm_hidden_size": self.mm_hidden_size,
                "mm_vision_select_layer": self.mm_vision_select_layer,
                "mm_vision_select_feature": self.mm_vision_select_feature,
                "mm_use_im_start_end": self.mm_use_im_start_end,
                "mm_use_im_patch_token": data.get("mm_use_im_patch_token", False),
                "vision_tower": self.vision_tower,
                "mm_vision_tower": self.vision_tower,
                "out_dim": self.out_dim,
                "train_mask_decoder": True,
                "torch_dtype": self.torch_dtype,
                "use_cache": False,
            }
        )
        if self.rope_theta != 10000.0:
            data["rope_theta"] = self.rope_theta
        if self.sam_decoder_num_heads != 8:
            data["lisa_ros_sam_decoder_num_heads"] = self.sam_decoder_num_heads
        return data
