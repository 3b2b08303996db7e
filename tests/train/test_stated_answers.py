"""Stated answers (lisa-train --stated-answers): explicit and absent extras answered with the
verdict right after the name, truthfully, and nothing else about the data changed."""

import numpy as np

from lisa_ros.train.conversations import make_conversations
from lisa_ros.train.scratch.answers import STATED_ABSENT, STATED_PRESENT
from lisa_ros.train.scratch.data_hooks import ScratchData
from lisa_ros.train.scratch.extras import absent_extras, explicit_extras
from lisa_ros.train.sources import SynthSource
from lisa_ros.train.stream import TrainStream


def _split(answer: str) -> tuple[str, bool]:
    """(description, present) of a stated answer."""
    if answer.endswith(" not here."):
        return answer[len("The "):-len(" not here.")].rsplit(" ", 1)[0], False
    assert answer.endswith(" here: [SEG]."), answer
    return answer[len("The "):-len(" here: [SEG].")].rsplit(" ", 1)[0], True


def test_stated_answers_name_the_object_and_tell_the_truth():
    source = SynthSource(41, size=(160, 120))
    seen = {True: 0, False: 0}
    for index in range(12):
        record = source.record(index)
        present = {c for c, _ in record.objects}
        rng = np.random.default_rng(index)
        for conversation in explicit_extras(record, rng, 3, 0.9, stated_prob=1.0):
            desc, here = _split(conversation.answer)
            assert here and len(conversation.masks) == 1 and desc.split()[-1] in present
            assert desc in conversation.question
            seen[True] += 1
        for conversation in absent_extras(record, rng, 2.0, stated_prob=1.0):
            desc, here = _split(conversation.answer)
            assert not here and conversation.masks == [] and desc in conversation.question
            seen[False] += 1
    assert seen[True] > 10 and seen[False] > 10
    assert STATED_PRESENT.format(desc="mug", be="is") == "The mug is here: [SEG]."
    assert STATED_ABSENT.format(desc="scissors", be="are") == "The scissors are not here."


def test_without_stated_answers_the_data_is_unchanged_and_the_stream_passes_the_share_on():
    record = SynthSource(42, size=(160, 120)).record(3)
    kwargs = dict(extra_explicit=3, extra_absent=1.0, described_prob=0.9, extra_vqa=2)
    default = make_conversations(record, np.random.default_rng(7), 2, hooks=ScratchData(**kwargs))
    zero = make_conversations(record, np.random.default_rng(7), 2, hooks=ScratchData(stated_prob=0.0, **kwargs))
    assert [(c.question, c.answer) for c in zero] == [(c.question, c.answer) for c in default]

    source = SynthSource(42, size=(160, 120))
    stream = TrainStream(source, 0, 0, hooks=ScratchData(extra_explicit=3, extra_absent=1.0, stated_prob=1.0))
    answers = [c.answer for k in range(4) for c in stream.item(k).conversations]
    assert answers and all(a.endswith((" here: [SEG].", " not here.")) for a in answers)
