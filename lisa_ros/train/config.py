"""What a training run needs: :class:`TrainConfig`, the options of LISA's own fine-tuning.

Defaults are the official setup: LoRA r 8 / alpha 16 / dropout 0.05 on ``q_proj`` and
``v_proj``, AdamW lr 3e-4 with betas (0.9, 0.95) and no weight decay, 100 warmup steps then
linear decay, gradient clipping 1.0, loss weights CE 1.0, BCE 2.0, Dice 0.5, up to 3
conversations per image. ``lisa-train --help`` describes every field (same names, dashes for
underscores).

The from-scratch aids of lisa-tiny have their options in a subclass,
:class:`lisa_ros.train.scratch.config.ScratchTrainConfig`; :meth:`TrainConfig.aids` is how the
loop learns about them without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .extension import TrainingAids
from .losses import LossWeights
from .trainable import OFFICIAL_LORA_MODULES, LoraSettings

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything an official run needs (the CLI flags; see ``lisa-train --help``)."""

    out: str
    # model: a checkpoint to start from (name, folder or hub id) and its CLIP
    model: str | None = None
    clip: str | None = None
    # data: ReasonSeg-format folders and/or synthetic scenes rendered on the fly
    data: list[str] = field(default_factory=list)
    synth_seed: int | None = None
    synth_count: int | None = None
    synth_size: tuple[int, int] = (320, 240)
    families: list[str] | None = None
    limit: int | None = None
    conversations_per_image: int = 3
    data_workers: int = 0
    phrase_long_prob: float = 0.0
    max_length: int | None = None
    # what trains: "lora" (official) or "full"
    mode: str = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_modules: tuple[str, ...] = OFFICIAL_LORA_MODULES
    # optimisation
    steps: int = 500
    images_per_batch: int = 2
    grad_accum: int = 1
    lr: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.0
    warmup: int = 100
    schedule: str = "linear"
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    ce_weight: float = 1.0
    bce_weight: float = 2.0
    dice_weight: float = 0.5
    seed: int = 0
    # the run: device and precision, processes, checkpoints, validation, storage dtypes
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    grad_checkpointing: bool = False
    share_prefix: bool = True
    save_every: int = 0
    log_every: int = 10
    val: str | None = None
    val_limit: int = 64
    val_every: int = 0
    val_mode: str = "teacher-forced"
    llm_dtype: str = "bf16"
    sam_dtype: str = "fp32"
    clip_dtype: str = "fp32"
    safetensors: bool = False
    time_budget: float | None = None
    processes: int = 1
    resume: bool = False
    stop_after: int | None = None
    progress: bool = True

    def lora_settings(self) -> LoraSettings:
        return LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout, tuple(self.lora_modules))

    def loss_weights(self) -> LossWeights:
        return LossWeights(self.ce_weight, self.bce_weight, self.dice_weight)

    def aids(self) -> TrainingAids:
        """The optional aids this run switches on (:mod:`lisa_ros.train.extension`): none here."""
        return TrainingAids()
