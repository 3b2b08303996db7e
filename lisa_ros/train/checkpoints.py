"""What training writes: official-layout model folders and resumable training state.

A run folder (``lisa-train --out RUN``) holds:

* ``RUN/model/``: the latest model in the official LISA layout (LoRA merged into the weights),
  loadable by every tool (``--model RUN/model``); with ``clip/`` inside when the CLIP tower is
  not an external one (trained, or built from scratch), referenced as ``vision_tower: "clip"``;
* ``RUN/state.pt``: the resumable state, plain tensors and containers only (loadable with
  ``torch.load(weights_only=True)``): trainable weights (LoRA included), optimizer and
  scheduler state, the step, and the torch RNG state;
* ``RUN/run.json`` (the arguments), ``RUN/log.jsonl`` (one line per step), ``RUN/tokenizer/``
  (a tokenizer trained for a fresh model).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch

from .trainable import merged_state_dict

__all__ = ["save_model", "save_state", "load_state", "STATE_FILE", "MODEL_DIR", "DTYPES"]

STATE_FILE = "state.pt"
MODEL_DIR = "model"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class _StateView:
    """What :func:`lisa_ros.core.saving.save_lisa_checkpoint` reads off a model: config and state."""

    def __init__(self, config, state: dict[str, torch.Tensor]):
        self.config = config
        self._state = state

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._state


def save_model(
    model,
    folder: str | Path,
    tokenizer_folder: str | Path,
    clip_preprocess,
    *,
    clip_source: Path | None = None,
    write_clip: bool = False,
    llm_dtype: str = "bf16",
    sam_dtype: str = "fp32",
    clip_dtype: str = "fp32",
    safe: bool = False,
) -> Path:
    """Write ``model`` (a :class:`~lisa_ros.core.modeling.LisaModel`, LoRA or not) officially.

    Args:
        folder: destination model folder.
        tokenizer_folder: tokenizer files to copy in.
        clip_preprocess: the CLIP preprocessing to record with a written CLIP folder.
        clip_source: a CLIP folder to copy as ``clip/`` when the tower was not trained and the
            source model referenced its CLIP by a relative path.
        write_clip: write the in-memory CLIP tower as ``clip/`` (it was trained or built here).
        llm_dtype, sam_dtype, clip_dtype: storage dtypes (``fp32``, ``bf16``, ``fp16``);
            official: LLM bf16, SAM fp32. The loader casts to the run dtype.
        safe: safetensors instead of ``.bin`` shards.
    """
    from lisa_ros.core.saving import save_clip_folder, save_lisa_checkpoint

    folder = Path(folder)
    config = model.config
    if write_clip or clip_source is not None:
        config = dataclasses.replace(config, vision_tower="clip", raw={**config.raw, "vision_tower": "clip",
                                                                      "mm_vision_tower": "clip"})
    view = _StateView(config, merged_state_dict(model))
    save_lisa_checkpoint(view, folder, tokenizer_folder, llm_dtype=DTYPES[llm_dtype], sam_dtype=DTYPES[sam_dtype], safe=safe)
    clip_folder = folder / "clip"
    if write_clip:
        tower = model.vision_tower
        original = tower.dtype
        if DTYPES[clip_dtype] != original:
            import copy

            tower = copy.deepcopy(tower).to(DTYPES[clip_dtype])
        save_clip_folder(tower, clip_preprocess, clip_folder)
        if tower is not model.vision_tower:
            del tower
    elif clip_source is not None and Path(clip_source).resolve() != clip_folder.resolve():
        if clip_folder.exists():
            shutil.rmtree(clip_folder)
        shutil.copytree(clip_source, clip_folder)
    return folder


def save_state(
    path: str | Path, *, trainable: dict, optimizer: dict, scheduler: dict, step: int, extra: dict | None = None,
    rank_rng: list | None = None,
) -> None:
    """Write the resumable state atomically (a crash mid-write keeps the previous file).

    ``rank_rng``: every process's torch RNG state of a data-parallel run.
    """
    path = Path(path)
    state = {
        "trainable": trainable,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "step": int(step),
        "torch_rng": torch.get_rng_state(),
        "extra": extra or {},
    }
    if rank_rng is not None:
        state["rank_rng"] = rank_rng
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_state(path: str | Path) -> dict:
    """Read a state written by :func:`save_state` (``weights_only=True``: no code runs)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)
