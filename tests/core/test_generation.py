"""The KV-cache path gives the official (no-cache, recompute-everything) path's tokens and masks."""

import numpy as np
import pytest
import torch

from lisa_ros.core.generation import generate_fast, teacher_forced_states
from lisa_ros.core.prompt import build_prompt_ids
from lisa_ros.core.segmenter import LisaSegmenter
from tiny_checkpoints import scene_image

QUESTIONS = ["Where is the mug?", "Where are the mug and the cup?", "Is there a banana?"]


def _compare(fast, reference):
    assert fast.answer_ids == reference.answer_ids
    assert fast.answer == reference.answer
    assert fast.status == reference.status
    assert len(fast.masks) == len(reference.masks)
    for ours, official in zip(fast.masks, reference.masks):
        assert np.abs(ours.logits - official.logits).max() <= 1e-4
        assert np.array_equal(ours.mask, official.mask)
        assert ours.score == pytest.approx(official.score, abs=1e-4)


@pytest.mark.parametrize("question", QUESTIONS)
def test_fast_path_equals_official_reference(segmenter, question):
    image = scene_image()
    fast = segmenter.segment(image, question, keep_logits=True)
    reference = segmenter.segment(image, question, keep_logits=True, reference=True)
    _compare(fast, reference)


def test_taught_answers_give_one_mask_per_seg(segmenter):
    image = scene_image(height=90, width=70)
    counts = {q: len(segmenter.segment(image, q).masks) for q in QUESTIONS}
    assert counts == {"Where is the mug?": 1, "Where are the mug and the cup?": 2, "Is there a banana?": 0}


def test_random_model_equals_reference_too(tiny_safetensors):
    """Untaught weights produce arbitrary tokens; both paths must still agree on all of them."""
    segmenter = LisaSegmenter.from_pretrained(tiny_safetensors, precision="fp32", device="cpu")
    image = scene_image(seed=5)
    fast = segmenter.segment(image, "anything at all", max_new_tokens=24, keep_logits=True)
    reference = segmenter.segment(image, "anything at all", max_new_tokens=24, keep_logits=True, reference=True)
    assert len(fast.answer_ids) == 24 and not fast.finished
    _compare(fast, reference)


def test_seg_state_is_the_state_before_each_seg_token(segmenter):
    """The official shift: the state that predicts [SEG], i.e. at the position before it."""
    model, tokenizer = segmenter.model, segmenter.tokenizer
    features, _, _ = segmenter.encode_image(scene_image())
    question = segmenter._format_instruction("Where are the mug and the cup?")
    prompt = build_prompt_ids(tokenizer, question)
    embeds = model.embed_with_image(prompt.ids, features.clip_tokens)
    generated = generate_fast(model, embeds, eos_id=2, seg_id=tokenizer.seg_token_id, max_new_tokens=32)
    assert generated.seg_states.shape[0] == 2
    # Teacher forcing the same answer reproduces the states (one forward, official selection).
    conversation = prompt.ids + generated.answer_ids + [tokenizer.eos_id]
    states, seg_states = teacher_forced_states(model, conversation, features.clip_tokens, tokenizer.seg_token_id)
    assert torch.allclose(seg_states, generated.seg_states, atol=1e-5)
    # And they are the states at (position of [SEG]) - 1 in the expanded sequence.
    shift = model.num_image_tokens - 1
    positions = [i + shift - 1 for i, t in enumerate(conversation) if t == tokenizer.seg_token_id]
    assert torch.allclose(states[0, positions], seg_states)


def test_token_limit_and_early_stop(segmenter):
    image = scene_image()
    cut = segmenter.segment(image, "Where are the mug and the cup?", max_new_tokens=3)
    assert len(cut.answer_ids) == 3 and not cut.finished
    early = segmenter.segment(image, "Where are the mug and the cup?", stop_after_masks=1)
    assert len(early.masks) == 1 and early.answer == "The mug [SEG]"


def test_reference_path_recomputes_clip_every_step(segmenter):
    calls = []
    handle = segmenter.model.vision_tower.register_forward_hook(lambda *a: calls.append(1))
    try:
        out = segmenter.segment(scene_image(seed=9), "Where is the mug?", reference=True)
    finally:
        handle.remove()
    # One CLIP pass for the frame features plus one per generated token (EOS included).
    assert len(calls) == 1 + out.timings["new_tokens"]


def test_forced_answer_runs_the_same_steps_on_both_paths(tiny_safetensors):
    """Random weights, fixed answer: both paths decode it and give the same masks."""
    segmenter = LisaSegmenter.from_pretrained(tiny_safetensors, precision="fp32", device="cpu")
    image = scene_image(seed=6)
    answer = "The mug [SEG] and the cup [SEG]."
    fast = segmenter.segment(image, "find them", forced_answer=answer, keep_logits=True)
    reference = segmenter.segment(image, "find them", forced_answer=answer, keep_logits=True, reference=True)
    assert fast.answer == answer and fast.finished and len(fast.masks) == 2
    _compare(fast, reference)


def test_static_cache_decoding_equals_the_dynamic_cache(tiny_official, segmenter):
    """The static-cache decoder (CUDA-graph capable; eager here) gives the same answers and masks,
    over several requests reusing one cache, and long requests fall back to the dynamic cache."""
    static = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu", static_cache_length=256)
    written = static.static_decoder.cache.layers[0]
    image = scene_image(seed=4)
    for question in QUESTIONS + QUESTIONS[::-1]:
        _compare(
            static.segment(image, question, keep_logits=True), segmenter.segment(image, question, keep_logits=True)
        )
        assert int(written.cumulative_length) > 0  # the static cache did the work
    long_question = "Where is the mug? " + "Please look carefully. " * 40
    written.cumulative_length.zero_()
    _compare(
        static.segment(image, long_question, max_new_tokens=8, keep_logits=True),
        segmenter.segment(image, long_question, max_new_tokens=8, keep_logits=True),
    )
    assert int(written.cumulative_length) == 0  # too long for it: the dynamic cache served


def test_chunked_sam_attention_changes_nothing(tiny_official, segmenter):
    from lisa_ros.core.sam_memory import limit_attention_memory

    chunked = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu")
    grid = chunked.model.sam_shape.embedding_size
    assert limit_attention_memory(chunked.model.sam, max_score_elements=grid**4) == 1  # one head at a time
    image = scene_image(seed=8)
    _compare(
        chunked.segment(image, "Where are the mug and the cup?", keep_logits=True),
        segmenter.segment(image, "Where are the mug and the cup?", keep_logits=True),
    )


def test_teacher_forced_masks_equal_generated_masks(segmenter):
    """The official validation mode (one forward over prompt + answer) gives the masks that
    generation gives when the answer is the same."""
    image = scene_image(seed=12)
    question = "Where are the mug and the cup?"
    generated = segmenter.segment(image, question, keep_logits=True)
    forced = segmenter.segment_teacher_forced(
        image, segmenter._format_instruction(question), answer=generated.answer, keep_logits=True
    )
    assert len(forced.masks) == len(generated.masks) == 2
    for a, b in zip(forced.masks, generated.masks):
        assert np.abs(a.logits - b.logits).max() <= 1e-4


class _Stop(Exception):
    pass


@pytest.mark.parametrize("reference", [False, True])
def test_on_token_stops_a_generation_within_one_step(tiny_safetensors, reference):
    """A caller (cancel, service timeout, deactivation) stops a long answer at the next token:
    the hook raising after the 3rd token leaves the LLM run only for the prompt and 2 steps
    (fast path) or 3 full passes (official path), not the 40 a forced answer would take."""
    segmenter = LisaSegmenter.from_pretrained(tiny_safetensors, precision="fp32", device="cpu")
    llm_calls = []
    hook = segmenter.model.llm.model.register_forward_hook(lambda *a: llm_calls.append(1))
    seen = []

    def stop_after_three(token):
        seen.append(token)
        if len(seen) == 3:
            raise _Stop()

    try:
        with pytest.raises(_Stop):
            segmenter.segment(scene_image(), "anything", max_new_tokens=40, on_token=stop_after_three,
                              forced_answer="one two three four five six seven eight nine ten " * 4,
                              reference=reference)
    finally:
        hook.remove()
    assert len(seen) == 3
    assert len(llm_calls) == 3
    # The segmenter is not left locked or broken: the next call answers.
    assert segmenter.segment(scene_image(), "anything", max_new_tokens=4).answer_ids
