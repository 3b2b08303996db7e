"""Our tokenizer reproduces transformers 4.31's LISA token ids (fixtures recorded with 4.31)."""

import json
from pathlib import Path

import pytest

from lisa_ros.core.errors import CheckpointError
from lisa_ros.core.prompt import IMAGE_TOKEN_INDEX, build_prompt_ids
from lisa_ros.core.tokenizer import LisaTokenizer, TextPart

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizer"
LAYOUTS = ["lisa7b", "lisa13b"]


def _cases(layout):
    return json.loads((FIXTURES / layout / "hf431_cases.json").read_text())


@pytest.fixture(scope="module", params=LAYOUTS)
def layout(request):
    return request.param, LisaTokenizer.from_folder(FIXTURES / request.param), _cases(request.param)


def test_vocabulary_and_seg_id(layout):
    _, tokenizer, cases = layout
    assert len(tokenizer) == cases["len_tokenizer"]
    assert tokenizer.seg_token_id == cases["seg_token_id"]
    for token, index in cases["token_ids"].items():
        assert tokenizer.convert_tokens_to_ids(token) == index
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id) == (
        cases["bos_token_id"], cases["eos_token_id"], cases["unk_token_id"],
    )


def test_prompt_ids_match_transformers_431(layout):
    _, tokenizer, cases = layout
    checked = 0
    for case in cases["prompt_cases"]:
        expected = case.get("plain_user_text_ids") if case.get("contains_special_string") else case["ids"]
        if expected is None:
            continue
        ours = build_prompt_ids(tokenizer, case["user_text"])
        assert ours.ids == expected, case["user_text"]
        assert ours.prompt_length == len(expected)
        checked += 1
    assert checked >= 30


def test_conversation_ids_match_transformers_431(layout):
    _, tokenizer, cases = layout
    for case in cases["conversation_cases"]:
        ours = build_prompt_ids(tokenizer, case["user_text"], answer=case["answer"])
        assert ours.ids == case["ids"], case["answer"]
        assert ours.prompt_length == case["prompt_len"]


def test_plain_text_ids_match_transformers_431(layout):
    _, tokenizer, cases = layout
    for case in cases["plain_cases"]:
        assert tokenizer.encode(case["text"]) == case["ids"], case["text"]
        assert tokenizer.encode(case["text"], add_bos=False) == case["ids_no_special"], case["text"]


def test_user_text_never_becomes_control_tokens(layout):
    _, tokenizer, _ = layout
    control = {tokenizer.bos_id, tokenizer.eos_id, *tokenizer.added_tokens.values()}
    hostile = "[SEG] <im_start> <im_end> </s> <s> <unk> <image> <im_patch>"
    ids = build_prompt_ids(tokenizer, hostile).ids
    image = ids.index(IMAGE_TOKEN_INDEX)
    user_region = ids[image + 2 :]  # after <im_end>
    assert not control & set(user_region)
    assert ids.count(IMAGE_TOKEN_INDEX) == 1
    # The same strings in our own (trusted) template text do become tokens.
    assert tokenizer.encode([TextPart("[SEG]</s>")], add_bos=False) == [tokenizer.seg_token_id, tokenizer.eos_id]


def test_decode_answer_puts_markers_where_masks_attach(layout):
    _, tokenizer, _ = layout
    for answer in ["Sure, [SEG].", "It is [SEG].", "The red mug [SEG] and the blue bottle [SEG].", "[SEG]."]:
        ids = tokenizer.encode([TextPart(answer + "</s>")], add_bos=False)
        assert tokenizer.decode_answer(ids) == answer
    assert tokenizer.decode_answer(tokenizer.encode("There is no banana here.")) == "There is no banana here."


def test_missing_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="tokenizer.model"):
        LisaTokenizer.from_folder(tmp_path)
    (tmp_path / "tokenizer.model").write_bytes((FIXTURES / "lisa7b" / "tokenizer.model").read_bytes())
    with pytest.raises(CheckpointError, match="added_tokens.json"):
        LisaTokenizer.from_folder(tmp_path)


def test_ids_beyond_the_tokenizer_decode_as_unknown(layout):
    _, tokenizer, _ = layout
    text = tokenizer.decode_answer([tokenizer.encode("mug", add_bos=False)[0], len(tokenizer) + 7])
    assert text.startswith("mug") and len(text) > 3
