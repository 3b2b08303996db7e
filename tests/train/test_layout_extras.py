"""Extra spatial and comparative conversations asked of any synthetic scene's layout
(lisa_ros.train.scratch.extras.layout_extras): real targets, the families' own wording, streams that keep
their other draws, and no leak into a base that must not see the family."""

from dataclasses import replace

import numpy as np
import pytest

from lisa_ros.data.reasonseg import count_seg
from lisa_ros.data.synth.families import phrase_on_layout
from lisa_ros.train.scratch.data_hooks import ScratchData
from lisa_ros.train.scratch.extras import layout_extras
from lisa_ros.train.sources import SceneRecord, SynthSource
from lisa_ros.train.stream import TrainStream
from train_helpers import SCENE_SIZE, train_config


@pytest.mark.parametrize("family", ["spatial", "comparative"])
def test_extras_ask_the_family_of_other_scenes_about_their_own_objects(family):
    source = SynthSource(31, families=["explicit", "functional", "absent"])
    made = 0
    for index in range(12):
        record = source.record(index)
        extras = layout_extras(record, np.random.default_rng(index), family, 3)
        assert len(extras) <= 3
        made += len(extras)
        keys = set()
        for conversation in extras:
            assert count_seg(conversation.answer) == len(conversation.masks) == 1
            assert any(mask is conversation.masks[0] for mask in record.object_masks)
            assert conversation.masks[0].sum() >= 24 and not conversation.absent_target
            keys.add((conversation.question, conversation.answer))
        assert len(keys) == len(extras)
    assert made >= 12  # most scenes of two or more objects offer a relation or an extreme
    words = {"spatial": ("left", "right", "front", "back", "behind", "near", "closest", "next"),
             "comparative": ("large", "small", "big", "tin", "long", "most", "left", "right", "front", "back")}
    record = source.record(1)
    questions = " ".join(c.question.lower() for c in layout_extras(record, np.random.default_rng(0), family, 3))
    assert any(word in questions for word in words[family])


def test_records_without_a_layout_and_other_families_give_nothing():
    record = SceneRecord("x", np.zeros((4, 4, 3), np.uint8), ["mug"], False, [], [])
    assert layout_extras(record, np.random.default_rng(0), "spatial", 3) == []
    layout = SynthSource(31).record(0).layout
    with pytest.raises(ValueError, match="own plan"):
        phrase_on_layout("functional", np.random.default_rng(0), layout)


def test_the_stream_keeps_its_other_draws_and_adds_the_extras_last():
    source = SynthSource(31, size=SCENE_SIZE)
    plain = TrainStream(source, 5, 2, hooks=ScratchData(extra_explicit=2, extra_absent=1.0))
    more = TrainStream(source, 5, 2, hooks=ScratchData(extra_explicit=2, extra_absent=1.0,
                                                       extra_layout={"spatial": 2, "comparative": 1}))
    added = 0
    for position in range(8):
        before, after = plain.item(position).conversations, more.item(position).conversations
        assert [(c.question, c.answer) for c in after[: len(before)]] == [(c.question, c.answer) for c in before]
        added += len(after) - len(before)
        again = more.item(position).conversations
        assert [(c.question, c.answer) for c in again] == [(c.question, c.answer) for c in after]
    assert added > 0


def test_a_run_refuses_extras_of_a_family_it_leaves_out(micro_spec, synth_folder, tmp_path):
    from lisa_ros.train.loop import train

    cfg = replace(train_config(tmp_path / "run", micro_spec, synth_folder, synth_seed=9, synth_size=SCENE_SIZE,
                               families=["explicit", "comparative"], extra_spatial=1), data=[])
    with pytest.raises(ValueError, match="--extra-spatial"):
        train(cfg)
    result = train(replace(cfg, extra_spatial=0, extra_comparative=1, steps=1))
    assert result.steps == 1
