"""The segmenter's speed levers, each exact (same tokens, masks within float tolerance) and each
switchable, so that a benchmark can measure one lever at a time against the others in one run.

=====================  =====================================================  ======================
option                 what it does                                           default
=====================  =====================================================  ======================
``encoder_schedule``   when SAM's image encoder runs relative to CLIP and     ``concurrent`` on CUDA
                       the LLM (:mod:`lisa_ros.core.encoder_schedule`)        (``inline`` without
                                                                              overlap), else inline
``sam_attention``      SAM encoder attention: ``official``, ``chunked``,      ``sdpa`` on CUDA,
                       ``sdpa``, ``sdpa_folded`` (:mod:`.sam_attention`)      else ``official``
``device_preprocess``  resize and normalise both encoders' inputs on the      on CUDA only
                       model's device, PIL's bytes exactly
                       (:mod:`.device_preprocess`)
``draft_tokens``       guessed tokens verified per pass (0: one token per     8
                       step; :mod:`.draft_decoding`)
``draft_answers``      answer templates the guesses start from (``{slots}``   LISA's five, plus the
                       allowed; :mod:`.answer_drafter`)                       model's 16 last answers
``llm_attention``      the LLM's attention implementation (``sdpa`` fused,    ``sdpa``
                       ``eager`` transformers' reference)
=====================  =====================================================  ======================

Defaults: what measured faster on the project's CPU machine (docs/benchmarks.md §4), and on CUDA
the levers that are exact by construction; the encoder schedule stays as it was until a GPU run
compares the schedules (the prepared run: §1.5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from .answer_drafter import DEFAULT_DRAFT_ANSWERS
from .encoder_schedule import ENCODER_SCHEDULES
from .loading import LLM_ATTENTIONS
from .sam_attention import SAM_ATTENTION_MODES

__all__ = ["SpeedOptions"]


@dataclass(frozen=True)
class SpeedOptions:
    """Speed levers of a :class:`~lisa_ros.core.segmenter.LisaSegmenter` (None: the default
    for the device, see the module table)."""

    encoder_schedule: str | None = None
    sam_attention: str | None = None
    device_preprocess: bool | None = None
    draft_tokens: int | None = None
    draft_answers: Sequence[str] = DEFAULT_DRAFT_ANSWERS
    llm_attention: str | None = None

    def resolved(self, on_cuda: bool, overlap_encoders: bool, sam_attention_chunking: bool | None) -> "SpeedOptions":
        """These options with every ``None`` replaced by its default for the device.

        ``sam_attention_chunking`` (the older switch) picks ``chunked``/``official`` when
        ``sam_attention`` is not given.
        """
        schedule = self.encoder_schedule
        if schedule is None:
            schedule = "concurrent" if on_cuda and overlap_encoders else "inline"
        attention = self.sam_attention
        if attention is None:
            if sam_attention_chunking is None:
                attention = "sdpa" if on_cuda else "official"  # no measurable gain on the CPU (§4)
            else:
                attention = "chunked" if sam_attention_chunking else "official"
        options = replace(
            self,
            encoder_schedule=schedule,
            sam_attention=attention,
            device_preprocess=on_cuda if self.device_preprocess is None else bool(self.device_preprocess),
            draft_tokens=8 if self.draft_tokens is None else int(self.draft_tokens),
            llm_attention=self.llm_attention or "sdpa",
        )
        options.check()
        return options

    def check(self) -> None:
        if self.encoder_schedule not in ENCODER_SCHEDULES:
            raise ValueError(f"encoder_schedule must be one of {ENCODER_SCHEDULES}, not {self.encoder_schedule!r}")
        if self.sam_attention not in SAM_ATTENTION_MODES:
            raise ValueError(f"sam_attention must be one of {SAM_ATTENTION_MODES}, not {self.sam_attention!r}")
        if self.llm_attention not in LLM_ATTENTIONS:
            raise ValueError(f"llm_attention must be one of {LLM_ATTENTIONS}, not {self.llm_attention!r}")
        if not 0 <= self.draft_tokens <= 64:
            raise ValueError(f"draft_tokens must be in 0..64, not {self.draft_tokens}")

    def install(self, model, tokenizer):
        """Put the model-wide choices in place (SAM and LLM attention) and return the drafter
        (None when drafting is off). The model is shared: the last segmenter built on it decides
        its attention implementations."""
        from .loading import set_llm_attention
        from .sam_attention import set_sam_attention

        set_sam_attention(model.sam, self.sam_attention)
        set_llm_attention(model, self.llm_attention)
        if not self.draft_tokens:
            return None
        from .answer_drafter import AnswerDrafter

        return AnswerDrafter(tokenizer, self.draft_answers, max_draft=self.draft_tokens)
