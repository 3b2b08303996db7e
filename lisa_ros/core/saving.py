"""Create LISA models from config objects and save them in the official layouts.

Used by training (a model trained here must load everywhere an official one does), by the
test fixtures (tiny checkpoints through the real loader) and by the bundled ``lisa-tiny``.
The LISA folder gets the official file set; CLIP gets its own folder in the layout of
``openai/clip-vit-large-patch14`` (keys prefixed ``vision_model.``, as transformers 4.31 needs).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from .checkpoint import internal_to_official, save_state_dict_sharded
from .config import LisaConfig
from .preprocess import ClipPreprocessConfig
from .sam_builder import SamShape

__all__ = ["init_lisa_model", "save_lisa_checkpoint", "save_clip_folder", "TOKENIZER_FILE_NAMES"]

TOKENIZER_FILE_NAMES = ("tokenizer.model", "added_tokens.json", "special_tokens_map.json", "tokenizer_config.json")
_GENERATION_CONFIG = {
    "_from_model_config": True,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "transformers_version": "4.31.0",
}


def init_lisa_model(config: LisaConfig, sam_shape: SamShape, clip_config, seed: int = 0):
    """A randomly initialised :class:`LisaModel` in fp32 on the CPU (for training from scratch)."""
    import torch

    from .modeling import LisaModel

    torch.manual_seed(seed)
    model = LisaModel(config, sam_shape, clip_config)
    model.llm.generation_config.pad_token_id = config.pad_token_id
    return model


def save_lisa_checkpoint(
    model,
    folder: str | Path,
    tokenizer_folder: str | Path,
    *,
    llm_dtype=None,
    sam_dtype=None,
    safe: bool = False,
    max_shard_bytes: int = 10 * 1024**3,
) -> Path:
    """Write ``model`` (a :class:`LisaModel`) as an official LISA checkpoint folder.

    Args:
        folder: destination (created; existing weight files there are replaced).
        tokenizer_folder: where ``tokenizer.model`` and ``added_tokens.json`` are copied from.
        llm_dtype: storage dtype of the LLM, projector and embeddings (official: bf16);
            default: as in memory.
        sam_dtype: storage dtype of SAM and ``text_hidden_fcs`` (official: fp32).
        safe: safetensors instead of ``.bin`` pickles.
    The CLIP tower is not written here (official checkpoints do not contain it): see
    :func:`save_clip_folder`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in list(folder.glob("pytorch_model*.bin*")) + list(folder.glob("model*.safetensors*")):
        stale.unlink()
    state = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("vision_tower."):
            continue
        if name == "llm.lm_head.weight" and model.config.tie_word_embeddings:
            continue
        keep_fp32 = name.startswith(("sam.", "text_hidden_fcs."))
        dtype = sam_dtype if keep_fp32 else llm_dtype
        tensor = tensor.detach().cpu()
        state[internal_to_official(name)] = tensor.to(dtype) if dtype is not None else tensor
    save_state_dict_sharded(state, folder, max_shard_bytes=max_shard_bytes, safe=safe)
    config = model.config.to_dict()
    if llm_dtype is not None:
        config["torch_dtype"] = str(llm_dtype).replace("torch.", "")
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    (folder / "generation_config.json").write_text(json.dumps(_GENERATION_CONFIG, indent=2), encoding="utf-8")
    tokenizer_folder = Path(tokenizer_folder)
    for name in TOKENIZER_FILE_NAMES:
        source = tokenizer_folder / name
        if source.is_file() and source.resolve() != (folder / name).resolve():
            shutil.copyfile(source, folder / name)
    return folder


def save_clip_folder(vision_tower, preprocess: ClipPreprocessConfig, folder: str | Path) -> Path:
    """Write a transformers ``CLIPVisionModel`` like the ``openai/clip-vit-*`` folders.

    ``config.json`` (vision config), ``pytorch_model.bin`` with ``vision_model.``-prefixed keys
    and ``preprocessor_config.json``.
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # A tower cast for storage (``.to(dtype)``) keeps the dtype it was loaded with in its config;
    # the written config must name the stored one (transformers reads it for dtype="auto").
    config = copy.deepcopy(vision_tower.config)
    config.dtype = next(vision_tower.parameters()).dtype
    config.save_pretrained(folder)
    state = {}
    for name, tensor in vision_tower.state_dict().items():
        key = name if name.startswith("vision_model.") else f"vision_model.{name}"
        state[key] = tensor.detach().cpu().contiguous()
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocess.to_dict(), indent=2), encoding="utf-8")
    return folder
