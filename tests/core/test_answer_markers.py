"""Masks attach to ``[SEG]`` tokens, never to the characters "[SEG]".

A model may write the characters ``[SEG]`` as ordinary sub-word pieces (echoing what a user
typed). The answer's markers and the phrases are derived from the token ids: such text shows as
``\\[SEG\\]`` and opens no phrase, so every phrase stays on its own mask.
"""

from pathlib import Path

import numpy as np
import pytest

from lisa_ros.core.postprocess import seg_phrases
from lisa_ros.core.tokenizer import LisaTokenizer
from tiny_checkpoints import scene_image, scene_regions

TOKENIZERS = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizer"
ESCAPED = "\\[SEG\\]"


@pytest.fixture(scope="module", params=["lisa7b", "lisa13b"])
def tokenizer(request):
    return LisaTokenizer.from_folder(TOKENIZERS / request.param)


def _answer_ids(tokenizer):
    """'Not "[SEG]": the mug' as plain pieces, then the real token twice, by hand."""
    plain = tokenizer.sp.encode('Not "[SEG]": the mug')
    assert tokenizer.seg_token_id not in plain and len(plain) > 5  # the characters, not the token
    seg = tokenizer.seg_token_id
    return plain + [seg] + tokenizer.sp.encode("and the cup") + [seg] + tokenizer.sp.encode(".") + [tokenizer.eos_id]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_plain_text_seg_is_escaped_in_the_answer(tokenizer):
    answer = tokenizer.decode_answer(_answer_ids(tokenizer))
    assert answer == f'Not "{ESCAPED}": the mug [SEG] and the cup [SEG].'
    assert answer.count("[SEG]") == 2


def test_phrases_come_from_the_token_ids(tokenizer):
    ids = _answer_ids(tokenizer)
    assert seg_phrases(ids, tokenizer) == [f'Not "{ESCAPED}": the mug', "the cup"]
    assert seg_phrases(tokenizer.sp.encode("There is no [SEG] here."), tokenizer) == []
    real = tokenizer.encode("Sure, [SEG].</s>", add_bos=False)
    assert seg_phrases(real, tokenizer) == ["Sure"]


def test_echoed_seg_characters_keep_phrases_on_their_masks(segmenter):
    """The taught checkpoint answers this question with the characters "[SEG]" before its two
    real [SEG] tokens (tests/tiny_checkpoints.py, LITERAL_SEG_ANSWER)."""
    image = scene_image()
    out = segmenter.segment(image, 'Is "[SEG]" the mug?')
    assert out.answer == f'Not "{ESCAPED}": the mug [SEG] and the cup [SEG].'
    assert out.answer.count("[SEG]") == len(out.masks) == 2
    assert [m.phrase for m in out.masks] == [f'Not "{ESCAPED}": the mug', "the cup"]
    # Each phrase names the object its mask covers (the checkpoint was taught these regions).
    regions = scene_regions(*image.shape[:2])
    assert _iou(out.masks[0].mask, regions["mug"]) > 0.8
    assert _iou(out.masks[1].mask, regions["cup"]) > 0.8
    # Text for display keeps what the model wrote, without markers.
    assert out.answer_text == 'Not "[SEG]": the mug and the cup.'
