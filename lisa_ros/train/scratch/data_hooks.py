"""What the from-scratch recipes add to the training data, as a
:class:`~lisa_ros.train.extension.DataHooks` for :class:`~lisa_ros.train.stream.TrainStream`.

Per item, after LISA's own conversations and in this order (so that a recipe without one of them
keeps every other draw of its stream):

1. from the item's generator: :func:`~.extras.explicit_extras`, :func:`~.extras.multi_extras`,
   :func:`~.extras.absent_extras`, then the text-only :func:`~.vqa.vqa_extras` and
   :func:`~.vqa.checklist_extras` (checklists last);
2. from a generator of their own: :func:`~.extras.layout_extras` per family;
3. absent-target answers rewritten with the lead word (no draw);
4. per-pixel labels for the dense terms (``item.extras["label_maps"]``, no draw);
5. from a generator of their own: box and point prompts on objects for the SAM prompt term
   (``item.extras["object_prompts"]``).

Own answers that name their target are preferred with probability ``described_prob``
(:func:`~.answers.pick_answer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..extension import DataHooks
from .answers import lead_absent_answer, pick_answer
from .dense_aux import label_maps
from .extras import absent_extras, explicit_extras, layout_extras, multi_extras
from .prompt_aux import draw_object_prompts

__all__ = ["ScratchData"]


@dataclass
class ScratchData(DataHooks):
    """The data aids of a run (every default: off). Field names follow ``lisa-train``'s flags:

    Attributes:
        extra_explicit: ``--extra-explicit``, up to N conversations naming other objects.
        extra_absent: ``--extra-absent``, on average N conversations about absent objects.
        described_prob: ``--described-answers``, share of answers that name their target.
        extra_multi: ``--extra-multi``, probability of one two-object conversation.
        extra_vqa: ``--extra-vqa``, up to N text-only questions about the scene.
        extra_checklist: ``--extra-checklist``, N text-only checklists.
        stated_prob: ``--stated-answers``, share of explicit / absent extras with stated answers.
        absent_lead: ``--absent-lead``, the first word of every absent-target answer ("": none).
        extra_layout: ``--extra-spatial`` / ``--extra-comparative``, family to count.
        phrase_long_prob: ``--phrase-long-prob``, for the layout extras' questions.
        dense_labels: paint per-pixel category / colour labels (the dense and presence terms).
            Only for runs that use them: they cost a paint per object and 300 KB per 320x240
            item on the way from a prefetch worker.
        object_prompts: up to N objects per image get a box or point prompt (``--sam-prompt-objects``
            with ``--sam-prompt-weight``; 0: none).
    """

    extra_explicit: int = 0
    extra_absent: float = 0.0
    described_prob: float = 0.0
    extra_multi: float = 0.0
    extra_vqa: int = 0
    extra_checklist: int = 0
    stated_prob: float = 0.0
    absent_lead: str = ""
    extra_layout: dict[str, int] = field(default_factory=dict)
    phrase_long_prob: float = 0.0
    dense_labels: bool = False
    object_prompts: int = 0

    def pick_answer(self, answers: list[str], rng: np.random.Generator) -> str:
        return pick_answer(answers, rng, self.described_prob)

    def extra_conversations(self, record, rng):
        extras = (
            explicit_extras(record, rng, self.extra_explicit, self.described_prob, stated_prob=self.stated_prob)
            + multi_extras(record, rng, self.extra_multi, self.described_prob)
            + absent_extras(record, rng, self.extra_absent, stated_prob=self.stated_prob)
        )
        if self.extra_vqa > 0:
            from .vqa import vqa_extras

            extras += vqa_extras(record, rng, self.extra_vqa)
        if self.extra_checklist > 0:  # drawn last, so that runs without checklists keep their streams
            from .vqa import checklist_extras

            extras += checklist_extras(record, rng, self.extra_checklist)
        return extras

    def finish_item(self, item, record, seed: int, position: int) -> None:
        layout = {family: int(n) for family, n in self.extra_layout.items() if int(n) > 0}
        if layout:  # a generator of its own, so that the other draws do not change with it
            layout_rng = np.random.default_rng([seed, 4, position])
            for family, count in layout.items():
                item.conversations += layout_extras(record, layout_rng, family, count, self.described_prob,
                                                    self.phrase_long_prob)
        if self.absent_lead:  # rewritten after the draws, so the stream's randomness is unchanged
            for conversation in item.conversations:
                if conversation.absent_target:
                    conversation.answer = lead_absent_answer(conversation.answer, self.absent_lead)
        if self.dense_labels:
            item.extras["label_maps"] = label_maps(record.objects, record.object_masks)
        if self.object_prompts:
            prompts = []
            if record.object_masks:
                # a generator of its own, so that the conversations' draws do not change with it
                prompt_rng = np.random.default_rng([seed, 3, position])
                prompts = draw_object_prompts(record.object_masks, prompt_rng, self.object_prompts)
            item.extras["object_prompts"] = prompts
