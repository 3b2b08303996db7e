"""The options of the from-scratch aids: :class:`ScratchTrainConfig`, a TrainConfig that switches
them on (every default is off, so with no aid flag it is an official run).

``lisa-train`` always builds this class (its flags include the aids'); the lisa-tiny recipes
(``bench/lisa_tiny_reading.recipe``, ``bench/lisa_tiny.recipe``) set the aids they use.
docs/training-from-scratch.md explains each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import TrainConfig
from ..extension import TrainingAids

__all__ = ["ScratchTrainConfig"]


@dataclass
class ScratchTrainConfig(TrainConfig):
    """A :class:`~lisa_ros.train.config.TrainConfig` plus the from-scratch aids (``lisa-train --help``)."""

    # a fresh random model from a preset name (lisa-tiny) or a JSON spec, instead of --model
    init: str | None = None
    # extra conversations of synthetic scenes (lisa_ros.train.scratch.extras, .vqa)
    extra_explicit: int = 0
    extra_absent: float = 0.0
    extra_multi: float = 0.0
    extra_vqa: int = 0
    extra_checklist: int = 0
    # spatial / comparative conversations asked of every scene's layout
    extra_spatial: int = 0
    extra_comparative: int = 0
    # answer wording (lisa_ros.train.scratch.answers)
    described_answers: float = 0.0
    stated_answers: float = 0.0
    absent_lead: str = ""
    # weights of the extra loss terms (lisa_ros.train.scratch.terms; 0: off), the look-up head's
    # layer (None: the middle one) and head, and the objects per image of the SAM prompt term
    dense_aux_weight: float = 0.0
    grounding_aux_weight: float = 0.0
    decision_aux_weight: float = 0.0
    image_token_weight: float = 0.0
    presence_aux_weight: float = 0.0
    lookup_aux_weight: float = 0.0
    lookup_aux_layer: int | None = None
    lookup_aux_head: int = 0
    sam_prompt_weight: float = 0.0
    sam_prompt_objects: int = 4

    def layout_extras(self) -> dict[str, int]:
        """``--extra-<family>`` per family asked of every scene's layout (``extra_spatial``, ...)."""
        from lisa_ros.data.synth.families import LAYOUT_FAMILIES

        return {family: getattr(self, f"extra_{family}") for family in LAYOUT_FAMILIES}

    def aux_weights(self) -> dict[str, float]:
        """The extra loss terms in use (weight > 0), by the name their value is logged under."""
        weights = {"aux": self.dense_aux_weight, "grounding": self.grounding_aux_weight,
                   "decision": self.decision_aux_weight, "image_tokens": self.image_token_weight,
                   "presence": self.presence_aux_weight, "lookup": self.lookup_aux_weight,
                   "sam_prompt": self.sam_prompt_weight}
        return {name: weight for name, weight in weights.items() if weight > 0}

    def aids(self) -> TrainingAids:
        from .aids import ScratchAids

        return ScratchAids(self)
