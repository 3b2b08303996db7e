"""Absent-target answers with one lead word (lisa-train --absent-lead): only absent-target answers
change, they all begin with the same first token, and the CLI refuses a lead that would not decide."""

import numpy as np
import pytest

from lisa_ros.train.scratch.answers import lead_absent_answer, present_answer_openings
from lisa_ros.train.scratch.data_hooks import ScratchData
from lisa_ros.train.sources import SynthSource
from lisa_ros.train.stream import TrainStream


def test_lead_word_goes_first_and_keeps_the_answer():
    assert lead_absent_answer("There is no mug in this image.", "No") == "No, there is no mug in this image."
    assert lead_absent_answer("I can't find a mug here.", "No") == "No, I can't find a mug here."
    assert lead_absent_answer("No mug can be seen in this image.", "No") == "No mug can be seen in this image."
    assert lead_absent_answer("The image does not contain a cup.", "") == "The image does not contain a cup."


def test_stream_rewrites_only_absent_targets_and_keeps_its_draws():
    from lisa_ros.core.tokenizer import LisaTokenizer

    tokenizer = LisaTokenizer.from_folder("lisa_ros/models/lisa-tiny")
    source = SynthSource(43, size=(160, 120))
    kwargs = dict(extra_explicit=3, extra_absent=1.5, described_prob=0.9, extra_vqa=2)
    plain = TrainStream(source, 0, 3, hooks=ScratchData(**kwargs))
    led = TrainStream(source, 0, 3, hooks=ScratchData(absent_lead="No", **kwargs))
    first_tokens, absent, other = set(), 0, 0
    for position in range(10):
        before, after = plain.item(position).conversations, led.item(position).conversations
        assert [c.question for c in before] == [c.question for c in after]
        for old, new in zip(before, after):
            if old.absent_target:
                absent += 1
                assert new.answer == lead_absent_answer(old.answer, "No") and new.masks == []
                first_tokens.add(tokenizer.sp.encode(new.answer)[0])
            else:
                other += 1
                assert new.answer == old.answer
    assert absent >= 10 and other >= 20
    assert first_tokens == {tokenizer.sp.piece_to_id("▁No")}
    openings = {tokenizer.sp.piece_to_id("▁" + w) for w in present_answer_openings() if w.isalpha()}
    assert first_tokens.isdisjoint(openings)


def test_cli_takes_one_deciding_word():
    from lisa_ros.cli.train import build_parser, config_from_args

    parser = build_parser()
    assert config_from_args(parser.parse_args(["--out", "x", "--model", "lisa-tiny", "--absent-lead", "No"])).absent_lead == "No"
    assert config_from_args(parser.parse_args(["--out", "x", "--model", "lisa-tiny"])).absent_lead == ""
    for bad in ("The", "I", "No way", "No,"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", "x", "--absent-lead", bad])
    assert np.all([w[:1].isupper() or w == "[SEG]" for w in present_answer_openings()])
