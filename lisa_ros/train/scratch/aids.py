"""The from-scratch aids plugged into the official loop: :class:`ScratchAids`, the
:class:`~lisa_ros.train.extension.TrainingAids` of a :class:`~.config.ScratchTrainConfig`.

It builds a fresh model from an init spec (``--init``), the data hooks (:class:`~.data_hooks.ScratchData`),
the auxiliary heads that four of the terms read, and the terms themselves (:mod:`.terms`). The heads
are training-only: their weights go into ``state.pt`` (key ``dense_aux_heads``) for a resume, never
into the model folder, which keeps the official layout.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..extension import LossTerm, TrainingAids
from ..model_setup import ModelSetup
from .config import ScratchTrainConfig
from .data_hooks import ScratchData

__all__ = ["ScratchAids"]

log = logging.getLogger(__name__)

# Terms that need no auxiliary head: the look-up term also applies to LoRA fine-tuning (it needs only
# a sample's masks and an attention head the LLM already has); the others need trainable encoders.
_HEADLESS = ("image_tokens", "lookup", "sam_prompt")


class ScratchAids(TrainingAids):
    """The aids ``cfg`` switches on (none: it behaves as the official run)."""

    def __init__(self, cfg: ScratchTrainConfig):
        self.cfg = cfg
        self.heads = None
        self._terms: list[LossTerm] = []

    def fresh_model(self, out, reuse_tokenizer: bool, main: bool) -> ModelSetup | None:
        if not self.cfg.init:
            return None
        from .init_spec import build_from_spec, load_init_spec

        out = Path(out)
        spec = load_init_spec(self.cfg.init)
        tokenizer_folder = out / "tokenizer"
        trained_here = not isinstance(spec.data.get("tokenizer"), str)
        if reuse_tokenizer and (tokenizer_folder / "tokenizer.model").is_file() and trained_here:
            spec.data["tokenizer"] = str(tokenizer_folder.resolve())
        model, tokenizer, clip_pre, tokenizer_folder = build_from_spec(spec, tokenizer_folder)
        if main:
            (out / "init_spec.json").write_text(spec.to_json() + "\n", encoding="utf-8")
        return ModelSetup(model, tokenizer, model.config, clip_pre, tokenizer_folder, None, True)

    def data_hooks(self) -> ScratchData:
        cfg = self.cfg
        left_out = [f"--extra-{family}" for family, count in cfg.layout_extras().items()
                    if count > 0 and cfg.families and family not in cfg.families]
        if left_out:  # a base that must never see a family (bench/fewshot.py) would see it after all
            raise ValueError(f"{', '.join(left_out)} asks questions of a family that --families leaves out")
        return ScratchData(
            extra_explicit=cfg.extra_explicit, extra_absent=cfg.extra_absent, described_prob=cfg.described_answers,
            extra_multi=cfg.extra_multi, extra_vqa=cfg.extra_vqa, extra_checklist=cfg.extra_checklist,
            stated_prob=cfg.stated_answers, absent_lead=cfg.absent_lead, extra_layout=cfg.layout_extras(),
            phrase_long_prob=cfg.phrase_long_prob,
            dense_labels=cfg.dense_aux_weight > 0 or cfg.presence_aux_weight > 0,
            object_prompts=cfg.sam_prompt_objects if cfg.sam_prompt_weight > 0 else 0,
        )

    def prepare(self, model, mode: str, device: str, saved: dict | None, dist) -> list:
        from . import terms as T
        from .lookup_aux import lookup_head

        cfg = self.cfg
        names = list(cfg.aux_weights())
        if any(name != "lookup" for name in names) and mode != "full":
            raise ValueError("--dense-aux-weight, --grounding-aux-weight, --decision-aux-weight, --presence-aux-weight, "
                             "--sam-prompt-weight and --image-token-weight are for from-scratch runs: they need --full")
        head = None
        if cfg.lookup_aux_weight > 0:
            head = lookup_head(model.config, cfg.lookup_aux_layer, cfg.lookup_aux_head)
        params = []
        if any(name not in _HEADLESS for name in names):
            from .dense_aux import DenseAuxHeads, load_heads

            self.heads = DenseAuxHeads(model.config.hidden_size, model.config.out_dim).to(device)
            if saved is not None and "dense_aux_heads" in saved:
                fresh = load_heads(self.heads, saved["dense_aux_heads"])
                if fresh and dist.main:
                    log.info("auxiliary heads not in the saved state, starting fresh: %s", ", ".join(fresh))
            dist.broadcast_parameters(self.heads)
            params = list(self.heads.parameters())
        # the order in which the terms are added to the loss (docstring of .terms)
        candidates = [
            (cfg.image_token_weight, lambda w: T.ImageTokenTerm(w)),
            (cfg.lookup_aux_weight, lambda w: T.LookupTerm(w, head)),
            (cfg.sam_prompt_weight, lambda w: T.SamPromptTerm(w)),
            (cfg.dense_aux_weight, lambda w: T.DenseTerm(w, self.heads)),
            (cfg.presence_aux_weight, lambda w: T.PresenceTerm(w, self.heads)),
            (cfg.grounding_aux_weight, lambda w: T.GroundingTerm(w, self.heads)),
            (cfg.decision_aux_weight, lambda w: T.DecisionTerm(w, self.heads)),
        ]
        self._terms = [make(weight) for weight, make in candidates if weight > 0]
        return params

    def loss_terms(self) -> list[LossTerm]:
        return list(self._terms)

    def state(self) -> dict:
        return {"dense_aux_heads": self.heads.state_dict()} if self.heads is not None else {}
