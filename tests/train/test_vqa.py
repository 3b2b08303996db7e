"""Text-only questions about synthetic scenes (lisa_ros.train.vqa): truthful answers, no masks,
and a kind for every question they ask."""

import numpy as np

from lisa_ros.train.data import SynthSource
from lisa_ros.train.vqa import VQA_KINDS, vqa_extras, vqa_kind


def test_every_question_has_a_kind_and_answers_carry_no_mask():
    source = SynthSource(31, size=(160, 120))
    seen = set()
    for index in range(12):
        record = source.record(index)
        for conversation in vqa_extras(record, np.random.default_rng(index), 4):
            kind = vqa_kind(conversation.question)
            assert kind in VQA_KINDS, conversation.question
            assert conversation.masks == [] and "[SEG]" not in conversation.answer
            seen.add(kind)
    assert seen == set(VQA_KINDS)
    # questions of the segmentation data are not VQA questions
    assert vqa_kind("What is the red mug in this image? Please output segmentation mask.") is None
    assert vqa_kind("Can you segment the mug in this image?") is None


def test_existence_answers_say_yes_exactly_when_the_category_is_in_the_scene():
    from lisa_ros.data.synth.categories import CATEGORY_NAMES

    source = SynthSource(32, size=(160, 120))
    answered = 0
    for index in range(20):
        record = source.record(index)
        present = {category for category, _ in record.objects}
        for conversation in vqa_extras(record, np.random.default_rng(index), 4):
            if vqa_kind(conversation.question) != "exist":
                continue
            asked = [c for c in CATEGORY_NAMES if c in conversation.question.split()]
            assert asked, conversation.question
            assert conversation.answer.startswith("Yes") == (asked[-1] in present), (conversation, present)
            answered += 1
    assert answered > 3
