"""Continuous mode in the core: re-prompting later frames with an answer's prompts
(:meth:`LisaSegmenter.reprompt`), its helpers, the frame cache, bad input, and the re-query rule."""

from __future__ import annotations

import numpy as np
import pytest

from lisa_ros.core.errors import InvalidInputError
from lisa_ros.core.results import SegmentationOutput, Status
from lisa_ros.core.segmenter import LisaSegmenter
from lisa_ros.core.tracking import HelperDecoder, RequeryRule, requery_reason, requery_reason_for
from tiny_checkpoints import scene_image

TWO_OBJECTS = "Where are the mug and the cup?"  # the taught tiny model answers with two [SEG]


def assert_same_masks(tracked: SegmentationOutput, answer: SegmentationOutput) -> None:
    assert len(tracked.masks) == len(answer.masks) >= 1
    for got, want in zip(tracked.masks, answer.masks):
        assert np.array_equal(got.mask, want.mask)
        assert got.score == want.score  # bit for bit: same prompts, same embedding, same decoder
        assert got.box == want.box and got.phrase == want.phrase


def count_encoder_calls(model):
    """Hooks counting CLIP and SAM image encoder runs; returns (counts, remove)."""
    calls = {"clip": 0, "sam": 0}
    hooks = [
        model.vision_tower.register_forward_hook(lambda *a: calls.__setitem__("clip", calls["clip"] + 1)),
        model.sam.image_encoder.patch_embed.register_forward_hook(lambda *a: calls.__setitem__("sam", calls["sam"] + 1)),
    ]
    return calls, lambda: [hook.remove() for hook in hooks]


# -- exactness on the answer's own frame -------------------------------------------------------

def test_answer_carries_what_tracking_needs(segmenter):
    image = scene_image(height=75, width=110)
    answer = segmenter.segment(image, TWO_OBJECTS)
    channels = segmenter.model.sam_shape.prompt_embed_dim
    low_res = 4 * segmenter.model.sam_shape.embedding_size
    assert answer.prompts.dtype == np.float32 and answer.prompts.shape == (2, channels)
    assert answer.low_res_logits.dtype == np.float32 and answer.low_res_logits.shape == (2, low_res, low_res)
    assert answer.tracked is False and answer.frames_since_answer == 0 and answer.answered_at is not None
    empty = segmenter.segment(image, "Is there a banana?")
    assert empty.prompts is None and empty.low_res_logits is None


def test_reprompting_the_answer_frame_reproduces_the_answer(segmenter):
    image = scene_image(height=75, width=110, seed=4)
    answer = segmenter.segment(image, TWO_OBJECTS)
    tracked = segmenter.reprompt(image, answer)  # frame cache hit: the answer's own embedding
    assert tracked.frame_cache_hit
    assert_same_masks(tracked, answer)
    assert tracked.status == Status.OK and tracked.answer == answer.answer and tracked.tracked
    assert tracked.frames_since_answer == 1 and tracked.seconds_since_answer >= 0.0
    assert np.array_equal(tracked.prompts, answer.prompts)
    assert np.array_equal(tracked.low_res_logits, answer.low_res_logits)
    # SAM's encoder run again for this frame (another key): still the same masks
    again = segmenter.reprompt(image, answer, frame_key="fresh-encoding", previous=tracked, seconds_since_answer=0.25)
    assert not again.frame_cache_hit and again.timings["sam_encoder"] > 0.0 and again.timings["clip"] == 0.0
    assert_same_masks(again, answer)
    assert again.frames_since_answer == 2 and again.seconds_since_answer == 0.25


@pytest.mark.slow
def test_lisa_tiny_reprompt_reproduces_its_answer(exports):
    from lisa_ros.data.synth import render_scene

    lisa_tiny = exports("lisa-tiny").segmenter
    scene = render_scene(3, 5, size=(320, 240))
    answer = lisa_tiny.segment(scene.image, scene.texts[0], forced_answer="The book [SEG] and the ball [SEG].")
    tracked = lisa_tiny.reprompt(scene.image, answer, frame_key="lisa-tiny-other-key")
    assert_same_masks(tracked, answer)
    assert [m.phrase for m in tracked.masks] == ["The book", "the ball"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["official", "lisa-tiny"])
def test_reprompt_on_onnxruntime_reproduces_the_answer(exports, variant):
    """Both SAM parts on onnxruntime: the re-prompt uses the installed runners (no torch SAM
    run), and gives the answer's masks on its frame; a plain torch re-prompt agrees closely."""
    from lisa_ros.export.backends import attach_backends

    exported = exports(variant)
    onnx = attach_backends(LisaSegmenter(exported.segmenter.loaded, device="cpu"), decoder="onnxruntime",
                           encoder="onnxruntime", artifacts=exported.folder)
    assert onnx.backend_names == {"decoder": "onnxruntime", "encoder": "onnxruntime"}, onnx.backend_warnings
    image = scene_image(height=90, width=120, seed=8)
    answer = onnx.segment(image, TWO_OBJECTS, forced_answer="The mug [SEG] and the cup [SEG].")
    calls, remove = count_encoder_calls(onnx.model)
    torch_decoder_calls = []
    hook = onnx.model.sam.mask_decoder.register_forward_hook(lambda *a: torch_decoder_calls.append(1))
    try:
        tracked = onnx.reprompt(image, answer, frame_key="onnx-fresh")
    finally:
        remove()
        hook.remove()
    assert calls == {"clip": 0, "sam": 0} and torch_decoder_calls == []  # onnxruntime ran SAM
    assert_same_masks(tracked, answer)
    on_torch = exported.segmenter.reprompt(image, answer, frame_key="torch-fresh")
    for got, want in zip(on_torch.masks, tracked.masks):
        assert (got.mask == want.mask).mean() >= 0.999 and abs(got.score - want.score) <= 1e-4


# -- frames after the answer ----------------------------------------------------------------------

def test_a_new_frame_runs_sam_only_and_an_instruction_on_it_adds_clip(segmenter):
    answer = segmenter.segment(scene_image(seed=30), TWO_OBJECTS)
    new_frame = scene_image(seed=31)
    calls, remove = count_encoder_calls(segmenter.model)
    try:
        tracked = segmenter.reprompt(new_frame, answer, frame_key="camera-31")
        after_tracking = calls.copy()
        full = segmenter.segment(new_frame, TWO_OBJECTS, frame_key="camera-31")
    finally:
        remove()
    assert after_tracking == {"clip": 0, "sam": 1}
    assert calls == {"clip": 1, "sam": 1}  # the instruction reused SAM's embedding, computed CLIP
    assert full.frame_cache_hit and full.timings["clip"] > 0.0 and full.timings["sam_encoder"] == 0.0
    assert [m.phrase for m in tracked.masks] == ["The mug", "the cup"]
    # the completed cache entry gives the answer a fresh encoding gives
    fresh = segmenter.segment(new_frame, TWO_OBJECTS, frame_key="camera-31-fresh")
    assert fresh.answer == full.answer
    assert_same_masks(full, fresh)


def test_tracked_outputs_count_frames_and_take_the_callers_age(segmenter):
    answer = segmenter.segment(scene_image(seed=40), TWO_OBJECTS)
    previous = None
    for frame in range(1, 4):
        previous = segmenter.reprompt(scene_image(seed=40 + frame), answer, previous=previous,
                                      seconds_since_answer=frame / 30)
        assert previous.frames_since_answer == frame and previous.seconds_since_answer == pytest.approx(frame / 30)
        assert previous.answered_at == answer.answered_at and len(previous.masks) == 2


@pytest.mark.parametrize("helper", ["box", "mask"])
def test_helpers_decode_one_mask_per_prompt_and_change_the_prompt(segmenter, helper):
    image = scene_image(seed=50)
    answer = segmenter.segment(image, TWO_OBJECTS)
    helped = segmenter.reprompt(scene_image(seed=51), answer, helper=helper)
    assert len(helped.masks) == 2 and helped.low_res_logits.shape == answer.low_res_logits.shape
    plain = segmenter.reprompt(scene_image(seed=51), answer)
    # the helper prompt reached SAM: the logits differ from the [SEG]-only decode
    assert not np.array_equal(helped.low_res_logits, plain.low_res_logits)
    again = segmenter.reprompt(scene_image(seed=52), answer, helper=helper, previous=helped)
    assert again.frames_since_answer == 2


def test_helper_decoder_without_helpers_is_the_models_decoder(segmenter):
    import torch

    model = segmenter.model
    shape = model.sam_shape
    generator = torch.Generator().manual_seed(0)
    embedding = torch.randn(1, shape.prompt_embed_dim, shape.embedding_size, shape.embedding_size, generator=generator)
    prompts = torch.randn(3, shape.prompt_embed_dim, generator=generator)
    with torch.inference_mode():
        want = model.decode_masks(embedding, prompts)
        got = HelperDecoder(model)(embedding, prompts)
        # an empty previous mask (NaN box) gives SAM's padding tokens, not a box at the origin
        boxes = np.array([[np.nan] * 4, [0, 0, 5, 5], [np.nan] * 4], np.float32)
        padded = HelperDecoder(model, boxes=boxes)(embedding, prompts)
        origin = HelperDecoder(model, boxes=np.nan_to_num(boxes))(embedding, prompts)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert torch.equal(padded[0][1], origin[0][1])  # row 1 has the same box in both
    assert not torch.equal(padded[0][0], origin[0][0])


def test_a_stage_callback_can_cancel_a_tracked_frame(segmenter):
    answer = segmenter.segment(scene_image(seed=60), TWO_OBJECTS)
    seen = []
    segmenter.reprompt(scene_image(seed=61), answer, on_stage=seen.append)
    assert seen == ["encoding_image", "decoding_masks"]

    class Stop(Exception):
        pass

    def stop(stage):
        if stage == "decoding_masks":
            raise Stop

    with pytest.raises(Stop):
        segmenter.reprompt(scene_image(seed=62), answer, on_stage=stop)
    assert segmenter.reprompt(scene_image(seed=62), answer).status == Status.OK  # lock released


# -- bad input: refused before anything runs -----------------------------------------------------

@pytest.fixture(scope="module")
def two_object_answer(segmenter):
    return segmenter.segment(scene_image(seed=70), TWO_OBJECTS)


def _with(answer, **changes):
    from dataclasses import replace

    return replace(answer, **changes)


@pytest.mark.parametrize(
    "make, options, message",
    [
        (lambda a, s: s.segment(scene_image(seed=70), "Is there a banana?"), {}, "no masks to track"),
        (lambda a, s: "Sure, [SEG].", {}, "SegmentationOutput"),
        (lambda a, s: _with(a, prompts=None), {}, "no masks to track"),
        (lambda a, s: _with(a, prompts=a.prompts[:, :5]), {}, "float32 \\[K, "),
        (lambda a, s: _with(a, prompts=a.prompts[:1]), {}, "one row per mask"),
        (lambda a, s: _with(a, prompts=np.full_like(a.prompts, np.nan)), {}, "NaN"),
        (lambda a, s: a, {"helper": "optical-flow"}, "helper must be one of"),
        (lambda a, s: a, {"seconds_since_answer": -1.0}, "finite and >= 0"),
        (lambda a, s: a, {"seconds_since_answer": float("nan")}, "finite and >= 0"),
        (lambda a, s: a, {"previous": "last frame"}, "same answer"),
        (lambda a, s: a, {"previous": "one mask"}, "same answer"),
        (lambda a, s: _with(a, low_res_logits=None), {"helper": "mask"}, "low_res_logits"),
    ],
)
def test_bad_answers_and_options_are_refused(segmenter, two_object_answer, make, options, message):
    answer = make(two_object_answer, segmenter)
    if options.get("previous") == "one mask":
        options = {"previous": _with(two_object_answer, masks=two_object_answer.masks[:1])}
    calls, remove = count_encoder_calls(segmenter.model)
    try:
        with pytest.raises(InvalidInputError, match=message):
            segmenter.reprompt(scene_image(seed=71), answer, frame_key="never-encoded", **options)
    finally:
        remove()
    assert calls == {"clip": 0, "sam": 0}
    assert segmenter.frame_cache.get("never-encoded") is None


def test_mask_helper_needs_a_previous_output_of_the_same_size(segmenter, two_object_answer):
    with pytest.raises(InvalidInputError, match="same|this image size"):
        segmenter.reprompt(scene_image(height=50, width=90), two_object_answer, helper="mask")
    # the box helper maps a box from another image size
    out = segmenter.reprompt(scene_image(height=50, width=90), two_object_answer, helper="box")
    assert out.image_size == (50, 90)


@pytest.mark.parametrize(
    "image, message",
    [(np.zeros((10, 10, 3), dtype=np.float32), "uint8"), (np.zeros((10, 10), dtype=np.uint8), "HxWx3")],
)
def test_bad_images_are_refused(segmenter, two_object_answer, image, message):
    with pytest.raises(InvalidInputError, match=message):
        segmenter.reprompt(image, two_object_answer)


def test_tracking_a_model_with_other_prompt_width_is_refused(segmenter, two_object_answer, tiny_safetensors):
    other = LisaSegmenter.from_pretrained(tiny_safetensors, precision="fp32", device="cpu")
    if other.model.sam_shape.prompt_embed_dim == segmenter.model.sam_shape.prompt_embed_dim:
        pytest.skip("both tiny checkpoints have the same prompt width")
    with pytest.raises(InvalidInputError, match="for this model"):
        other.reprompt(scene_image(), two_object_answer)


# -- when to ask the LLM again ------------------------------------------------------------------------

RULE = RequeryRule(max_age_s=5.0, min_score=0.5, max_area_factor=2.0)


@pytest.mark.parametrize(
    "answer_areas, answer_scores, areas, scores, age, reason",
    [
        ([1000, 800], [0.9, 0.8], [1100, 700], [0.85, 0.7], 1.0, None),
        ([1000], [0.9], [1000], [0.9], 5.2, "age 5.2 s > track_max_age 5 s"),
        ([1000, 800], [0.9, 0.8], [1000, 800], [0.41, 0.8], 0.5, "mask 0 score 0.41 < track_min_score 0.50"),
        ([1000, 800], [0.9, 0.8], [1000, 2560], [0.9, 0.8], 0.5, "mask 1 area changed x3.2 > 2"),
        ([1000, 800], [0.9, 0.8], [1000, 250], [0.9, 0.8], 0.5, "mask 1 area changed x3.2 > 2"),
        ([1000, 800], [0.9, 0.8], [0, 800], [0.9, 0.8], 0.5, "mask 0 left the image"),
        # a weak answer is judged against its own score, not against min_score on every frame
        ([1000], [0.2], [1000], [0.15], 0.5, None),
        ([1000], [0.2], [1000], [0.05], 0.5, "mask 0 score 0.05 < 0.10 (its answer's score 0.20 minus 0.1)"),
        # an empty answer mask has no area to compare
        ([0], [0.9], [300], [0.9], 0.5, None),
        ([], [], [], [], 6.0, "age 6.0 s > track_max_age 5 s"),
    ],
)
def test_requery_reason(answer_areas, answer_scores, areas, scores, age, reason):
    assert requery_reason(answer_areas, answer_scores, areas, scores, age, RULE) == reason


def test_requery_reasons_come_in_order():
    # left the image before a low score before an area change before the age
    assert "left the image" in requery_reason([10, 10], [0.9, 0.9], [5, 0], [0.1, 0.9], 9.0, RULE)
    assert "score" in requery_reason([10, 10], [0.9, 0.9], [50, 10], [0.1, 0.9], 9.0, RULE)
    assert "area" in requery_reason([10, 10], [0.9, 0.9], [50, 10], [0.9, 0.9], 9.0, RULE)


@pytest.mark.parametrize(
    "args",
    [
        ([1], [0.5], [1, 2], [0.5, 0.5], 0.0),
        ([1], [0.5], [-1], [0.5], 0.0),
        ([1], [0.5], [1], [float("nan")], 0.0),
        ([1], [0.5], [1], [0.5], -0.1),
        ([1], [0.5], [1], [0.5], float("inf")),
    ],
)
def test_requery_reason_refuses_bad_input(args):
    with pytest.raises(ValueError):
        requery_reason(*args, RULE)


@pytest.mark.parametrize("kwargs", [{"max_age_s": 0}, {"min_score": 1.5}, {"max_area_factor": 1.0}])
def test_requery_rule_refuses_bad_thresholds(kwargs):
    with pytest.raises(ValueError):
        RequeryRule(**kwargs)


def test_requery_reason_for_outputs(segmenter, two_object_answer):
    tracked = segmenter.reprompt(scene_image(seed=70), two_object_answer, seconds_since_answer=7.0)
    assert requery_reason_for(two_object_answer, tracked, RequeryRule(max_age_s=10, min_score=0.0)) is None
    assert requery_reason_for(two_object_answer, tracked, RequeryRule(max_age_s=5, min_score=0.0)) == \
        "age 7.0 s > track_max_age 5 s"


def test_the_rule_is_importable_without_torch(run_python):
    """The node may judge tracked frames from light code: the rule pulls in no torch."""
    done = run_python("import sys\nfrom lisa_ros.core import RequeryRule, requery_reason\n"
                      "assert requery_reason([5], [0.9], [5], [0.9], 1.0, RequeryRule()) is None\n"
                      "print('torch' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
