"""Draft-and-verify decoding gives plain greedy decoding's tokens and [SEG] states (fp32, CPU),
whatever the guesses: right, wrong at the first, a middle or the last guessed token, or absent."""

import numpy as np
import pytest
import torch

from lisa_ros.core.answer_drafter import AnswerDrafter
from lisa_ros.core.generation import generate_fast
from lisa_ros.core.prompt import build_prompt_ids
from lisa_ros.core.segmenter import LisaSegmenter
from lisa_ros.core.speed_options import SpeedOptions
from lisa_ros.core.static_decoding import StaticDecoder
from tiny_checkpoints import scene_image

QUESTIONS = ["Where is the mug?", "Where are the mug and the cup?", "Is there a banana?"]


@pytest.fixture(scope="module")
def plain(tiny_official):
    """The taught tiny model, one token per step (the baseline the drafts must reproduce)."""
    return LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu",
                                         speed=SpeedOptions(draft_tokens=0))


@pytest.fixture(scope="module")
def random_model(tiny_safetensors):
    return LisaSegmenter.from_pretrained(tiny_safetensors, precision="fp32", device="cpu",
                                         speed=SpeedOptions(draft_tokens=0))


def _inputs(segmenter, question, seed=0):
    features, _, _ = segmenter.encode_image(scene_image(seed=seed))
    prompt = build_prompt_ids(segmenter.tokenizer, segmenter._format_instruction(question))
    embeds = segmenter.model.embed_with_image(prompt.ids, features.clip_tokens)
    return embeds, prompt.ids


class ScriptedDrafter:
    """Guesses the known answer, with the guess at ``wrong_at`` (index into each draft) replaced."""

    def __init__(self, answer, max_draft=4, wrong_at=None, wrong_token=7):
        self.answer, self.max_draft, self.wrong_at, self.wrong_token = list(answer), max_draft, wrong_at, wrong_token
        self.drafts = []

    def start(self, prompt_ids):
        pass

    def propose(self, answer, limit):
        draft = self.answer[len(answer):][: min(limit, self.max_draft)]
        if self.wrong_at is not None and self.wrong_at < len(draft):
            draft[self.wrong_at] = self.wrong_token if draft[self.wrong_at] != self.wrong_token else self.wrong_token + 1
        self.drafts.append(list(draft))
        return draft


def _generate(segmenter, embeds, prompt_ids, drafter=None, decoder=None, **options):
    options.setdefault("max_new_tokens", 32)
    return generate_fast(segmenter.model, embeds, eos_id=segmenter.eos_token_id, seg_id=segmenter.seg_token_id,
                         drafter=drafter, prompt_ids=prompt_ids, decoder=decoder, **options)


def _same(drafted, reference):
    assert drafted.answer_ids == reference.answer_ids
    assert drafted.finished == reference.finished
    assert drafted.seg_states.shape == reference.seg_states.shape
    assert torch.allclose(drafted.seg_states, reference.seg_states, atol=1e-5, rtol=0)


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("wrong_at", [None, 0, 1, 3])
def test_any_draft_gives_the_greedy_answer(plain, random_model, static, wrong_at):
    """Right drafts, and drafts wrong at the first, a middle and the last of 4 guessed tokens,
    on both caches (the static one padding its passes to one width, as with CUDA graphs)."""
    cases = [(plain, q, 0) for q in QUESTIONS] + [(random_model, "anything at all", 5)]
    for segmenter, question, seed in cases:
        embeds, prompt_ids = _inputs(segmenter, question, seed)
        reference = _generate(segmenter, embeds, prompt_ids, max_new_tokens=24)
        drafter = ScriptedDrafter(reference.answer_ids + [segmenter.eos_token_id], wrong_at=wrong_at)
        decoder = None
        if static:
            decoder = StaticDecoder(segmenter.model, 256, use_graph=False)
            decoder.pad_passes = True
        drafted = _generate(segmenter, embeds, prompt_ids, drafter, decoder, max_new_tokens=24)
        _same(drafted, reference)
        full = [d for d in drafter.drafts if len(d) == 4]
        if wrong_at is None:
            assert drafted.accepted == drafted.drafted  # every guess right
        elif full:
            # A pass with a full draft keeps exactly the guesses before the wrong one.
            assert drafted.accepted < drafted.drafted
        if wrong_at is None and len(reference.answer_ids) >= 4:
            assert drafted.passes < reference.passes


def test_rejected_first_guesses_cost_no_extra_passes(plain):
    """Wrong first guesses every time: still one pass per token, as without drafts."""
    embeds, prompt_ids = _inputs(plain, "Where are the mug and the cup?")
    reference = _generate(plain, embeds, prompt_ids)
    drafter = ScriptedDrafter(reference.answer_ids + [plain.eos_token_id], wrong_at=0)
    drafted = _generate(plain, embeds, prompt_ids, drafter)
    _same(drafted, reference)
    assert drafted.accepted == 0 and drafted.passes == reference.passes


def test_limits_and_early_stop_are_kept(plain):
    embeds, prompt_ids = _inputs(plain, "Where are the mug and the cup?")
    drafter = AnswerDrafter(plain.tokenizer, max_draft=8)
    for limit in range(1, 12):
        reference = _generate(plain, embeds, prompt_ids, max_new_tokens=limit)
        drafted = _generate(plain, embeds, prompt_ids, drafter, max_new_tokens=limit)
        _same(drafted, reference)
        assert len(drafted.answer_ids) <= limit
    reference = _generate(plain, embeds, prompt_ids, stop_after_masks=1)
    drafted = _generate(plain, embeds, prompt_ids, ScriptedDrafter(reference.answer_ids + [9, 9, 9]), stop_after_masks=1)
    _same(drafted, reference)
    assert drafted.answer_ids[-1] == plain.seg_token_id


def test_forced_answer_is_verified_against_the_forced_tokens(random_model):
    """A forced answer plays the model's choice: a template answer is accepted in the prompt pass,
    a non-template one is not (honest acceptance for benchmarks with random weights)."""
    segmenter = random_model
    embeds, prompt_ids = _inputs(segmenter, "find it", 3)
    drafter = AnswerDrafter(segmenter.tokenizer, max_draft=8)
    for answer, passes in (("Sure, [SEG].", 1), ("Yes, the cup [SEG] here.", None)):
        forced = build_prompt_ids(segmenter.tokenizer, "find it", answer=answer)
        forced_ids = forced.ids[forced.prompt_length:]
        reference = _generate(segmenter, embeds, prompt_ids, forced_ids=forced_ids)
        drafted = _generate(segmenter, embeds, prompt_ids, drafter, forced_ids=forced_ids)
        _same(drafted, reference)
        assert drafted.finished and reference.passes == len(forced_ids)
        if passes is not None:
            assert drafted.passes == passes and drafted.accepted == len(forced_ids)  # the first token too
        else:
            assert drafted.accepted < drafted.drafted


class _Stop(Exception):
    pass


def test_on_token_sees_each_token_of_a_pass_and_can_stop_between_them(tiny_safetensors):
    """A template answer is settled by the prompt pass alone; the hook still gets its tokens one
    by one, and raising at the second stops there (tests/core/test_generation.py covers a hook
    raising between passes)."""
    segmenter = LisaSegmenter.from_pretrained(tiny_safetensors, precision="fp32", device="cpu")
    assert segmenter.drafter is not None  # drafting is the default
    seen, calls = [], []
    hook = segmenter.model.llm.model.register_forward_hook(lambda *a: calls.append(1))

    def stop_at_the_second(token):
        seen.append(token)
        if len(seen) == 2:
            raise _Stop()

    try:
        with pytest.raises(_Stop):
            segmenter.segment(scene_image(), "anything", on_token=stop_at_the_second, forced_answer="Sure, [SEG].")
    finally:
        hook.remove()
    forced = build_prompt_ids(segmenter.tokenizer, "x", answer="Sure, [SEG].")
    assert seen == forced.ids[forced.prompt_length:][:2] and len(calls) == 1
    done = segmenter.segment(scene_image(), "anything", forced_answer="Sure, [SEG].")
    assert done.timings["llm_passes"] == 1 and len(done.answer_ids) == len(forced.ids) - forced.prompt_length - 1


@pytest.mark.parametrize("question", QUESTIONS)
def test_segmenter_masks_equal_with_and_without_drafts(tiny_official, plain, question):
    drafted = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu",
                                            speed=SpeedOptions(draft_tokens=8))
    image = scene_image(seed=2)
    a = drafted.segment(image, question, keep_logits=True)
    b = plain.segment(image, question, keep_logits=True)
    assert a.answer_ids == b.answer_ids and a.answer == b.answer and len(a.masks) == len(b.masks)
    for ours, theirs in zip(a.masks, b.masks):
        assert np.abs(ours.logits - theirs.logits).max() <= 1e-4
        assert np.array_equal(ours.mask, theirs.mask)
    if question == "Where is the mug?":  # "Sure, [SEG]." is a template: the prompt pass settles it
        assert a.timings["llm_passes"] == 1 and b.timings["llm_passes"] == b.timings["new_tokens"]


def _answer_ids(tokenizer, answer):
    prompt = build_prompt_ids(tokenizer, "?", answer=answer)
    return prompt.ids[prompt.prompt_length:]


def test_drafter_guesses_templates_then_ngrams(plain):
    tokenizer = plain.tokenizer
    drafter = AnswerDrafter(tokenizer, answers=("Sure, [SEG].", "It is [SEG]."), max_draft=8)
    sure, it_is = drafter.templates
    assert drafter.propose([], 8) == sure  # the first template before anything is known
    assert drafter.propose(it_is[:1], 8) == it_is[1:]  # the template the answer has begun
    assert drafter.propose([], 2) == sure[:2]  # never more than asked
    prompt = build_prompt_ids(tokenizer, "Is the red mug on the table?")
    drafter.start(prompt.ids)
    words = tokenizer.encode("the red mug on the table", add_bos=False)
    # An answer that repeats the question: its last two tokens are looked up in the conversation.
    guess = drafter.propose([*it_is[:2], *words[:2]], 8)
    assert guess[:2] == words[2:4]
    assert drafter.propose([5, 5, 5], 0) == []


def test_drafter_uses_slot_templates_and_remembers_answers(plain):
    tokenizer = plain.tokenizer
    drafter = AnswerDrafter(tokenizer, answers=("The {noun} [SEG] is what you need.",), memory=2)
    the = _answer_ids(tokenizer, "The")[:-1]
    assert drafter.templates == [the]  # the piece before the slot may start an answer
    answer = _answer_ids(tokenizer, "The mug [SEG] is what you need.")
    seg = answer.index(plain.seg_token_id)
    drafter.start([])
    assert drafter.propose(answer[: seg + 1], 8) == answer[seg + 1:]  # the piece after the slot
    cup = _answer_ids(tokenizer, "A cup.")
    drafter.remember(cup)
    assert drafter.templates == [the, cup]  # the given templates first, then recent answers
    assert drafter.propose(cup[:1], 8) == cup[1:]  # a remembered answer serves as a template
    for other in ("B.", "C."):
        drafter.remember(_answer_ids(tokenizer, other))
    assert cup not in drafter.templates  # only the most recent two are kept


def test_generation_remembers_free_answers_only(plain):
    embeds, prompt_ids = _inputs(plain, "Where is the mug?")
    drafter = AnswerDrafter(plain.tokenizer, answers=(), memory=4)
    forced = _answer_ids(plain.tokenizer, "It is [SEG].")
    _generate(plain, embeds, prompt_ids, drafter, forced_ids=forced)
    assert drafter.templates == []
    first = _generate(plain, embeds, prompt_ids, drafter)
    assert drafter.templates == [first.answer_ids + [plain.eos_token_id]]
    again = _generate(plain, embeds, prompt_ids, drafter)
    _same(again, first)
    assert again.passes == 1 and again.accepted == len(first.answer_ids) + 1  # guessed from memory


def test_ngram_guessing_pauses_after_rejections(plain):
    """Rejected n-gram guesses pause n-gram guessing for 1, 2, 4 ... passes; template guesses go on."""
    tokenizer = plain.tokenizer
    drafter = AnswerDrafter(tokenizer, answers=("It is [SEG].",), memory=0)
    prompt = build_prompt_ids(tokenizer, "Is the red mug on the table?")
    drafter.start(prompt.ids)
    words = tokenizer.encode("the red mug on the table", add_bos=False)
    answer = [*_answer_ids(tokenizer, "It is")[:-1], *words[:2]]
    pattern = []
    for _ in range(8):
        guess = drafter.propose(answer, 8)
        pattern.append(bool(guess))
        drafter.observe(len(guess), 0)  # every guess wrong
    assert pattern == [True, False, True, False, False, True, False, False]
    assert drafter.propose(_answer_ids(tokenizer, "It")[:1], 8)  # a template guess is still made
    guess = drafter.propose(answer, 8)
    while not guess:
        guess = drafter.propose(answer, 8)
    drafter.observe(len(guess), 2)  # accepted: the pauses start again from one pass
    drafter.observe(len(drafter.propose(answer, 8)), 0)
    assert drafter.propose(answer, 8) == [] and drafter.propose(answer, 8)
