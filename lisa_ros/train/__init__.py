"""Training LISA: LoRA fine-tuning (the official setup) and full training of small models.

Modules (import them directly; nothing heavy is imported here):

- :mod:`lisa_ros.train.templates`: LISA's question/answer templates.
- :mod:`lisa_ros.train.data`: sources (ReasonSeg folders, synthetic scenes) and the
  deterministic stream of images with several conversations each.
- :mod:`lisa_ros.train.batching`: items to tensors (``offset`` batching, right padding).
- :mod:`lisa_ros.train.forward`: the teacher-forced forward pass (CE and mask logits).
- :mod:`lisa_ros.train.losses`: CE + BCE + Dice, the official formulas and weights.
- :mod:`lisa_ros.train.trainable`: LoRA injection, trainable parts, merging LoRA.
- :mod:`lisa_ros.train.init_spec`: fresh models from a spec (the ``lisa-tiny`` preset).
- :mod:`lisa_ros.train.tokenizer_training`: a LLaMA-style SentencePiece model for them.
- :mod:`lisa_ros.train.checkpoints`: official-layout saving and the resumable state.
- :mod:`lisa_ros.train.loop`: :func:`~lisa_ros.train.loop.train`, the loop itself.

The command line is ``lisa-train`` (:mod:`lisa_ros.cli.train`); docs/training.md explains how a
robotics team adapts LISA to its own objects.
"""
