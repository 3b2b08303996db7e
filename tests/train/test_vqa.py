"""Text-only questions about synthetic scenes (lisa_ros.train.scratch.vqa): truthful answers, no masks,
and a kind for every question they ask."""

import numpy as np

from lisa_ros.train.scratch.vqa import VQA_KINDS, checklist_extras, vqa_extras, vqa_kind
from lisa_ros.train.sources import SynthSource


def test_every_question_has_a_kind_and_answers_carry_no_mask():
    source = SynthSource(31, size=(160, 120))
    seen = set()
    for index in range(12):
        record = source.record(index)
        rng = np.random.default_rng(index)
        for conversation in vqa_extras(record, rng, 4) + checklist_extras(record, rng, 1):
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


def test_checklists_say_here_exactly_for_the_categories_of_the_scene():
    """Every item of the question gets one sentence, in the question's order, and "not here"
    exactly when its category is absent; both answers occur."""
    from lisa_ros.data.synth.categories import CATEGORY_NAMES

    source = SynthSource(33, size=(160, 120))
    verdicts = []
    for index in range(20):
        record = source.record(index)
        present = {category for category, _ in record.objects}
        for conversation in checklist_extras(record, np.random.default_rng(index), 2, items=(3, 6)):
            sentences = conversation.answer.split(". ")
            assert 3 <= len(sentences) <= 6 and conversation.masks == []
            for sentence in sentences:
                category = next(c for c in CATEGORY_NAMES if sentence.startswith(f"The {c} "))
                assert sentence.rstrip(".").endswith("not here") == (category not in present), (sentence, present)
                verdicts.append(category in present)
            words = conversation.question.replace("?", "").replace(".", "").replace(",", "").split()
            assert [w for w in words if w in CATEGORY_NAMES] == [s.split()[1] for s in sentences]
    assert any(verdicts) and not all(verdicts)


def test_checklists_leave_the_other_conversations_of_a_scene_unchanged():
    """Checklists are drawn after everything else, so a recipe without them keeps its data."""
    from lisa_ros.train.conversations import make_conversations
    from lisa_ros.train.scratch.data_hooks import ScratchData

    record = SynthSource(34, size=(160, 120)).record(0)
    common = dict(extra_explicit=2, extra_absent=1.0, extra_vqa=4)
    plain = make_conversations(record, np.random.default_rng(5), 2, hooks=ScratchData(**common))
    more = make_conversations(record, np.random.default_rng(5), 2, hooks=ScratchData(extra_checklist=2, **common))
    assert [(c.question, c.answer) for c in more[:len(plain)]] == [(c.question, c.answer) for c in plain]
    assert len(more) == len(plain) + 2 and all(vqa_kind(c.question) == "checklist" for c in more[len(plain):])
