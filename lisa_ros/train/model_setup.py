"""The model a run trains and validates: loading the starting checkpoint, frozen-weight casting,
and validation through the ordinary segmenter.

A run starts from a checkpoint (``--model``: a name, a folder or a hub id, loaded by
:func:`lisa_ros.core.loading.load_lisa`), unless its aids build a fresh model
(:meth:`lisa_ros.train.extension.TrainingAids.fresh_model`, ``--init``). Validation wraps the
in-memory model in a :class:`~lisa_ros.core.segmenter.LisaSegmenter` and runs
:func:`lisa_ros.eval.evaluate.evaluate_folder` on the ``--val`` folder, as ``lisa-eval`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lisa_ros.core.devices import resolve_device

__all__ = ["ModelSetup", "resolve_device", "load_checkpoint", "build_segmenter", "cast_frozen", "validation_summary"]


@dataclass
class ModelSetup:
    """The model of a run and what saving it needs.

    Attributes:
        model: the :class:`~lisa_ros.core.modeling.LisaModel`, on the CPU.
        tokenizer: its :class:`~lisa_ros.core.tokenizer.LisaTokenizer`.
        config: its :class:`~lisa_ros.core.config.LisaConfig`.
        clip_preprocess: its CLIP preprocessing.
        tokenizer_folder: tokenizer files to copy into every saved model.
        clip_source: a CLIP folder to copy as ``clip/`` into saved models (the tower is frozen and
            the source model referenced it by a relative path), or None.
        write_clip: write the in-memory CLIP tower as ``clip/`` (it is trained or was built here).
    """

    model: object
    tokenizer: object
    config: object
    clip_preprocess: object
    tokenizer_folder: Path
    clip_source: Path | None
    write_clip: bool


def load_checkpoint(cfg, autocast: bool) -> ModelSetup:
    """The checkpoint ``cfg.model`` (with ``cfg.clip``), frozen weights in bf16 under LoRA on CUDA.

    Raises:
        ValueError: no ``--model`` given.
    """
    if not cfg.model:
        raise ValueError("give --model (a checkpoint to start from) or --init (a fresh model)")
    from lisa_ros.core.config import LisaConfig
    from lisa_ros.core.loading import load_lisa
    from lisa_ros.core.resolve import resolve_clip_path, resolve_model_path

    folder = resolve_model_path(cfg.model)
    config = LisaConfig.from_file(folder / "config.json")
    clip_folder = resolve_clip_path(cfg.clip, folder, config.vision_tower)
    frozen_dtype = torch.bfloat16 if autocast and cfg.mode == "lora" else torch.float32
    loaded = load_lisa(folder, clip_folder, dtype=frozen_dtype, device="cpu")
    relative_clip = not cfg.clip and not Path(config.vision_tower).is_absolute() and (folder / config.vision_tower).is_dir()
    return ModelSetup(
        loaded.model,
        loaded.tokenizer,
        loaded.config,
        loaded.clip_preprocess,
        folder,
        clip_folder if relative_clip and cfg.mode != "full" else None,
        cfg.mode == "full",
    )


def build_segmenter(model, tokenizer, config, clip_preprocess, device: str, max_new_tokens: int = 96):
    """A :class:`~lisa_ros.core.segmenter.LisaSegmenter` around an in-memory model (validation)."""
    from lisa_ros.core.loading import LoadedLisa, LoadReport
    from lisa_ros.core.segmenter import LisaSegmenter

    loaded = LoadedLisa(model, tokenizer, config, clip_preprocess, Path("."), Path("."), LoadReport())
    return LisaSegmenter(loaded, device=device, max_new_tokens=max_new_tokens, frame_cache_size=0)


def cast_frozen(model, dtype) -> None:
    """Trainable parameters in fp32, frozen ones in ``dtype`` (CUDA memory saving)."""
    for param in model.parameters():
        param.data = param.data.to(torch.float32 if param.requires_grad else dtype)


def validation_summary(cfg, setup: ModelSetup, device: str, autocast: bool) -> dict:
    """gIoU, cIoU, the absent-target rate and per-family gIoU of the model on ``cfg.val``
    (``cfg.val_limit`` samples, ``cfg.val_mode``); the model returns to its training mode."""
    from lisa_ros.eval.evaluate import evaluate_folder

    model = setup.model
    was_training = model.training
    model.eval()
    try:
        segmenter = build_segmenter(model, setup.tokenizer, setup.config, setup.clip_preprocess, device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            result = evaluate_folder(segmenter, cfg.val, mode=cfg.val_mode, limit=cfg.val_limit)
    finally:
        model.train(was_training)
    summary = result.summary
    return {
        "giou": summary["giou"],
        "ciou": summary["ciou"],
        "absent_correct_rate": summary["absent_correct_rate"],
        "families": {k: round(v["giou"], 4) for k, v in summary["families"].items()},
    }
