"""The from-scratch aids' loss terms, as :class:`~lisa_ros.train.extension.LossTerm` objects.

Each wraps one loss of :mod:`.dense_aux`, :mod:`.lookup_aux` or :mod:`.prompt_aux` and is logged
under the name the run's ``log.jsonl`` has always used:

==============  =========================  ====================================================
name            flag                       loss
==============  =========================  ====================================================
image_tokens    ``--image-token-weight``   :func:`~.dense_aux.image_token_scale_loss` (no head)
lookup          ``--lookup-aux-weight``    :func:`~.lookup_aux.lookup_loss` (no head)
sam_prompt      ``--sam-prompt-weight``    :func:`~.prompt_aux.sam_prompt_loss` (no head)
aux             ``--dense-aux-weight``     :func:`~.dense_aux.dense_aux_loss`
presence        ``--presence-aux-weight``  :func:`~.dense_aux.presence_aux_loss`
grounding       ``--grounding-aux-weight`` :func:`~.dense_aux.grounding_loss`
decision        ``--decision-aux-weight``  :func:`~.dense_aux.mask_decision_loss`
==============  =========================  ====================================================

The last four read :class:`~.dense_aux.DenseAuxHeads`, trained with the model.
:meth:`~lisa_ros.train.scratch.aids.ScratchAids.loss_terms` adds them in this table's order.
"""

from __future__ import annotations

from ..extension import LossTerm
from .dense_aux import (DenseAuxHeads, dense_aux_loss, grounding_loss, image_token_scale_loss, mask_decision_loss,
                        presence_aux_loss)
from .lookup_aux import LookupWatch, lookup_loss, lookup_targets
from .prompt_aux import sam_prompt_loss

__all__ = ["ImageTokenTerm", "LookupTerm", "SamPromptTerm", "DenseTerm", "PresenceTerm", "GroundingTerm",
           "DecisionTerm"]


class _Term(LossTerm):
    def __init__(self, weight: float):
        self.weight = float(weight)


class _HeadTerm(_Term):
    """A term read off the auxiliary heads."""

    def __init__(self, weight: float, heads: DenseAuxHeads):
        super().__init__(weight)
        self.heads = heads


class ImageTokenTerm(_Term):
    name = "image_tokens"

    def loss(self, model, batch, out, weights):
        return image_token_scale_loss(out.image_tokens)


class LookupTerm(_Term):
    """The look-up loss of attention head ``lookup_head`` ``(layer, head)`` of the LLM
    (:func:`~.lookup_aux.lookup_head` resolves and checks it)."""

    name = "lookup"

    def __init__(self, weight: float, lookup_head: tuple[int, int] | None):
        super().__init__(weight)
        if lookup_head is None:
            raise ValueError("a look-up weight needs lookup_head=(layer, head)")
        self.lookup_head = lookup_head

    def watch(self, model) -> LookupWatch:
        return LookupWatch(model, self.lookup_head, self.name)

    def loss(self, model, batch, out, weights):
        log_attention = out.readings.get(self.name)
        if log_attention is None:  # a batch without conversations has no decision state
            return None
        kept, targets = lookup_targets(batch, out.seg_counts, out.image_tokens.shape[1], log_attention.shape[1])
        return lookup_loss(log_attention, kept, targets)


class SamPromptTerm(_Term):
    name = "sam_prompt"

    def loss(self, model, batch, out, weights):
        prompts = batch.extras.get("object_prompts", [None] * batch.num_images)
        return sam_prompt_loss(model, out.sam_embeddings, prompts, batch.sam_resizes, weights)


def _label_maps(batch) -> list:
    return batch.extras.get("label_maps", [None] * batch.num_images)


class DenseTerm(_HeadTerm):
    name = "aux"

    def loss(self, model, batch, out, weights):
        return dense_aux_loss(self.heads, out.image_tokens, out.sam_embeddings, _label_maps(batch), batch.sam_resizes)


class PresenceTerm(_HeadTerm):
    name = "presence"

    def loss(self, model, batch, out, weights):
        return presence_aux_loss(self.heads, out.image_tokens, out.sam_embeddings, _label_maps(batch),
                                 batch.sam_resizes)


class GroundingTerm(_HeadTerm):
    name = "grounding"

    def loss(self, model, batch, out, weights):
        return grounding_loss(self.heads, out.prompts, out.sam_embeddings, batch.gt_masks, batch.sam_resizes)


class DecisionTerm(_HeadTerm):
    name = "decision"

    def loss(self, model, batch, out, weights):
        if not out.seg_counts:  # a batch without conversations decides nothing
            return None
        return mask_decision_loss(self.heads, out.decision_states, out.seg_counts)
