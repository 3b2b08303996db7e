"""Training LISA: LoRA fine-tuning with LISA's own objective (the official setup).

Modules (import them directly; nothing heavy is imported here):

- :mod:`lisa_ros.train.config`: :class:`~lisa_ros.train.config.TrainConfig`, a run's options.
- :mod:`lisa_ros.train.sources`: where samples come from (ReasonSeg folders, synthetic scenes).
- :mod:`lisa_ros.train.conversations`: samples to conversations with LISA's templates
  (:mod:`lisa_ros.data.lisa_templates`).
- :mod:`lisa_ros.train.stream`: the deterministic stream of training items, read ahead in workers.
- :mod:`lisa_ros.train.batching`: items to tensors (``offset`` batching, right padding).
- :mod:`lisa_ros.train.forward`: the teacher-forced forward pass (CE and mask logits).
- :mod:`lisa_ros.train.losses`: CE + BCE + Dice, the official formulas and weights.
- :mod:`lisa_ros.train.trainable`: LoRA injection, trainable parts, merging LoRA.
- :mod:`lisa_ros.train.model_setup`: the starting checkpoint, validation during training.
- :mod:`lisa_ros.train.schedule`: warmup and decay of the learning rate.
- :mod:`lisa_ros.train.distributed`: data parallelism over local processes.
- :mod:`lisa_ros.train.checkpoints`: official-layout saving and the resumable state.
- :mod:`lisa_ros.train.loop`: :func:`~lisa_ros.train.loop.train`, the loop itself.
- :mod:`lisa_ros.train.curve`: loss curves and tables of a run's log.
- :mod:`lisa_ros.train.extension`: the hooks through which optional aids join a run.

:mod:`lisa_ros.train.scratch` holds the aids that only a small model trained from scratch needs
(lisa-tiny: fresh models and tokenizers, extra conversations, extra loss terms); nothing above
imports it. The command line is ``lisa-train`` (:mod:`lisa_ros.cli.train`); docs/training.md
explains how a robotics team adapts LISA to its own objects, docs/training-from-scratch.md how
lisa-tiny was trained.
"""
