"""The extension point of training: how optional aids join LISA's objective without changing it.

The official run (:mod:`lisa_ros.train.loop`) trains LISA's objective on LISA's data and calls
every hook below; the base classes here add nothing, so ``TrainConfig(...).aids()`` is exactly the
official setup. An aid plugs in by subclassing them. The only aids in this repository are the
ones a small model trained from scratch needs (:mod:`lisa_ros.train.scratch`, switched on by the
``lisa-train`` flags of the lisa-tiny recipes); the official half never imports them.

Three kinds of hooks:

* :class:`DataHooks`: which of a sample's own answers to train on, extra conversations about an
  image, and per-image data the extra loss terms read (``TrainItem.extras``, collated into
  ``Batch.extras``). They run in the prefetch workers, so they must pickle and hold no model.
* :class:`LossTerm`: one weighted term added to the loss, with its unweighted value logged under
  its name. A term may look into the forward pass through a :class:`ForwardWatch` (for example
  the inputs of one attention layer).
* :class:`TrainingAids`: builds the terms (and any parameters they train, such as auxiliary
  heads, which are saved in ``state.pt`` but never in the model folder) and may build a fresh
  model instead of loading a checkpoint (``--init``).

Order matters for reproducibility: terms are added to the total in the order
:meth:`TrainingAids.loss_terms` gives them, and data hooks draw from the item's generator after
the official conversations, so a run without aids draws exactly what it drew before they existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .batching import Batch
    from .conversations import Conversation, TrainItem
    from .forward import ForwardOutput
    from .losses import LossWeights
    from .model_setup import ModelSetup
    from .sources import SceneRecord

__all__ = ["DataHooks", "ForwardWatch", "LossTerm", "TrainingAids"]


class DataHooks:
    """What an aid adds to the training data (the base adds nothing and picks answers uniformly)."""

    def pick_answer(self, answers: list[str], rng: np.random.Generator) -> str:
        """One of a sample's own ``answers`` (official: uniformly)."""
        return answers[int(rng.integers(len(answers)))]

    def extra_conversations(self, record: SceneRecord, rng: np.random.Generator) -> list[Conversation]:
        """Conversations added after the record's own ones, drawn from the same generator."""
        return []

    def finish_item(self, item: TrainItem, record: SceneRecord, seed: int, position: int) -> None:
        """Change or extend a finished item in place (``item.extras``, more conversations).
        ``seed`` and ``position`` seed any generator of the hook's own."""


class ForwardWatch(Protocol):
    """Looks into one teacher-forced forward pass (:func:`lisa_ros.train.forward.lisa_forward`).

    It is entered around the LLM pass (not at all for a batch without conversations), and
    :meth:`read` is called once the outputs are complete; it stores what it found in
    ``out.readings``.
    """

    def __enter__(self) -> ForwardWatch: ...

    def __exit__(self, *exc) -> None: ...

    def read(self, out: ForwardOutput) -> None: ...


class LossTerm:
    """One extra term of the training loss: ``total += weight * loss(...)``.

    Attributes:
        name: key its unweighted value is logged under (``log.jsonl``, ``LossParts.extras``).
        weight: its weight (terms with weight 0 are not built).
    """

    name: str = ""
    weight: float = 0.0

    def watch(self, model) -> ForwardWatch | None:
        """What to look at during the forward pass of the next batch (None: nothing)."""
        return None

    def loss(self, model, batch: Batch, out: ForwardOutput, weights: LossWeights) -> torch.Tensor | None:
        """The unweighted fp32 scalar of this batch, or None when the batch has nothing for it."""
        raise NotImplementedError


class TrainingAids:
    """Everything optional around LISA's objective; this base is the official run (no aid)."""

    def fresh_model(self, out, reuse_tokenizer: bool, main: bool) -> ModelSetup | None:
        """A freshly built model to train instead of a loaded checkpoint (None: load ``--model``).

        Args:
            out: the run folder (a tokenizer trained for the model goes there).
            reuse_tokenizer: use the tokenizer already in ``out`` (resumed runs, and the other
                ranks of a data-parallel run, which start after rank 0 wrote it).
            main: this is rank 0 (the one that writes files).
        """
        return None

    def data_hooks(self) -> DataHooks:
        return DataHooks()

    def prepare(self, model, mode: str, device: str, saved: dict | None, dist) -> list:
        """Set up for ``model`` (trainable as ``mode`` says, already on ``device``); return any
        extra parameters to optimise. ``saved``: the ``extra`` dict of a resumed ``state.pt``.
        ``dist``: the run's :class:`~lisa_ros.train.distributed.DataParallel`."""
        return []

    def loss_terms(self) -> list[LossTerm]:
        """The extra terms, in the order they are added to the loss (after :meth:`prepare`)."""
        return []

    def state(self) -> dict[str, Any]:
        """Entries to keep in ``state.pt``'s ``extra`` for a resume (read back by :meth:`prepare`)."""
        return {}
