"""The box / point prompt term (lisa_ros.train.scratch.prompt_aux): prompts lie on their objects, reach
SAM's prompt encoder in its input frame, each mask is scored against its own object, the term
can be learnt, and a run uses it without changing the conversations it draws."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from lisa_ros.core.preprocess import SamResize
from lisa_ros.train.losses import LossWeights
from lisa_ros.train.scratch.init_spec import build_from_spec, load_init_spec
from lisa_ros.train.scratch.prompt_aux import (BOX_NOISE_MAX, MIN_PIXELS, ObjectPrompt, _sparse_embeddings,
                                               draw_object_prompts, sam_prompt_loss)
from train_helpers import SCENE_SIZE, train_config

WEIGHTS = LossWeights(1.0, 2.0, 2.0)


@pytest.fixture()
def micro(micro_spec, tmp_path):
    model = build_from_spec(load_init_spec(str(micro_spec)), tmp_path / "m")[0]
    return model.train()


def _rect(top: int, left: int, height: int, width: int, shape=(60, 80)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + height, left : left + width] = True
    return mask


def test_prompts_lie_on_their_objects_and_skip_nearly_hidden_ones():
    masks = [_rect(5, 5, 20, 30), _rect(30, 40, 25, 35), _rect(0, 70, 4, 5)]  # the last: 20 pixels
    assert masks[2].sum() < MIN_PIXELS
    seen_box = seen_point = False
    for seed in range(40):
        prompts = draw_object_prompts(masks, np.random.default_rng(seed), max_objects=3)
        assert len(prompts) == 2 and not any(p.mask is masks[2] for p in prompts)
        for prompt in prompts:
            assert (prompt.box is None) != (prompt.point is None)
            if prompt.point is not None:
                seen_point = True
                x, y = prompt.point.astype(int)
                assert prompt.mask[y, x]
            else:
                seen_box = True
                rows, cols = np.nonzero(prompt.mask)
                tight = np.array([cols.min(), rows.min(), cols.max(), rows.max()])
                assert prompt.box[0] <= prompt.box[2] and prompt.box[1] <= prompt.box[3]
                assert np.all(np.abs(prompt.box - tight) <= BOX_NOISE_MAX)
                assert np.all(prompt.box >= 0) and prompt.box[2] <= 79 and prompt.box[3] <= 59
    assert seen_box and seen_point
    assert len(draw_object_prompts(masks, np.random.default_rng(0), max_objects=1)) == 1
    # the same generator state gives the same prompts
    first = draw_object_prompts(masks, np.random.default_rng(7), max_objects=3)
    again = draw_object_prompts(masks, np.random.default_rng(7), max_objects=3)
    for a, b in zip(first, again, strict=True):
        assert a.mask is b.mask and str(a.box) == str(b.box) and str(a.point) == str(b.point)


def test_prompts_reach_the_prompt_encoder_in_sam_input_pixels(micro):
    """A box and a point given in source pixels embed exactly as SAM's prompt encoder embeds them
    given in input pixels (source 80x60 into a 64 px input: a factor 0.8 on both axes)."""
    encoder = micro.sam.prompt_encoder
    resize = SamResize((60, 80), (48, 64), 64)
    box = ObjectPrompt(_rect(0, 0, 10, 10), box=np.array([10, 20, 50, 40], np.float32))
    point = ObjectPrompt(_rect(0, 0, 10, 10), point=np.array([30, 15], np.float32))
    sparse, order = _sparse_embeddings(encoder, [point, box], resize, "cpu")
    assert order == [1, 0] and sparse.shape == (2, 2, encoder.embed_dim)
    with torch.no_grad():
        expected_box = encoder(points=None, boxes=torch.tensor([[8.0, 16.0, 40.0, 32.0]]), masks=None)[0]
        expected_point = encoder(points=(torch.tensor([[[24.0, 12.0]]]), torch.ones(1, 1)), boxes=None,
                                 masks=None)[0]
    torch.testing.assert_close(sparse[0:1].detach(), expected_box)
    torch.testing.assert_close(sparse[1:2].detach(), expected_point)


def test_each_mask_is_scored_against_its_own_object(micro):
    """Boxes are decoded before points; the loss over a mixed list equals the mean of the losses
    of its prompts one at a time, so no mask meets another prompt's target."""
    resize = SamResize((60, 80), (48, 64), 64)
    with torch.no_grad():
        embedding = micro.encode_sam(torch.randn(1, 3, 64, 64))
        prompts = [ObjectPrompt(_rect(5, 5, 20, 30), point=np.array([15, 12], np.float32)),
                   ObjectPrompt(_rect(30, 40, 25, 35), box=np.array([38, 28, 76, 57], np.float32)),
                   ObjectPrompt(_rect(0, 0, 60, 8), point=np.array([3, 30], np.float32))]
        together = sam_prompt_loss(micro, embedding, [prompts], [resize], WEIGHTS)
        alone = [sam_prompt_loss(micro, embedding, [[p]], [resize], WEIGHTS) for p in prompts]
        swapped = [ObjectPrompt(prompts[2].mask, point=prompts[0].point), prompts[1],
                   ObjectPrompt(prompts[0].mask, point=prompts[2].point)]
        wrong = sam_prompt_loss(micro, embedding, [swapped], [resize], WEIGHTS)
    torch.testing.assert_close(together, torch.stack(alone).mean(), rtol=1e-5, atol=1e-6)
    assert not torch.isclose(wrong, together)
    assert sam_prompt_loss(micro, embedding, [[]], [resize], WEIGHTS) is None


def test_the_term_can_be_learnt_and_trains_the_prompt_pathway(micro):
    """A few optimizer steps on one image's prompts lower the term, and its gradient reaches the
    box and point embeddings, the mask decoder and SAM's image encoder."""
    resize = SamResize((60, 80), (48, 64), 64)
    pixels = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    prompts = [ObjectPrompt(_rect(5, 5, 20, 30), box=np.array([5, 5, 34, 24], np.float32)),
               ObjectPrompt(_rect(30, 40, 25, 35), point=np.array([55, 40], np.float32))]
    optimizer = torch.optim.Adam(micro.sam.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = sam_prompt_loss(micro, micro.encode_sam(pixels), [prompts], [resize], WEIGHTS)
        optimizer.zero_grad()
        loss.backward()
        if not losses:
            encoder = micro.sam.prompt_encoder
            for parameter in (encoder.point_embeddings[1].weight, encoder.point_embeddings[2].weight,
                              encoder.not_a_point_embed.weight, micro.sam.mask_decoder.iou_token.weight,
                              next(micro.sam.image_encoder.parameters())):
                assert parameter.grad is not None and parameter.grad.abs().sum() > 0
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_a_run_with_the_term_logs_it_and_draws_the_same_conversations(micro_spec, synth_folder, tmp_path):
    from lisa_ros.train.loop import train
    from lisa_ros.train.scratch.data_hooks import ScratchData
    from lisa_ros.train.sources import SynthSource
    from lisa_ros.train.stream import TrainStream

    cfg = replace(train_config(tmp_path / "run", micro_spec, synth_folder, synth_seed=9, synth_size=SCENE_SIZE,
                               steps=2, sam_prompt_weight=1.0, sam_prompt_objects=2), data=[])
    result = train(cfg)
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(row["sam_prompt"] > 0 for row in logged if "step" in row)
    assert result.last_losses["sam_prompt"] > 0
    # an encoder-only stage (no conversation) trains the mask decoder through the term alone
    encoder_only = replace(cfg, out=str(tmp_path / "encoders"), conversations_per_image=0)
    assert train(encoder_only).last_losses["sam_prompt"] > 0
    source = SynthSource(9, size=SCENE_SIZE)
    plain = TrainStream(source, 0, 3).item(1)
    prompted = TrainStream(source, 0, 3, hooks=ScratchData(object_prompts=2)).item(1)
    assert plain.extras.get("object_prompts", []) == [] and 1 <= len(prompted.extras["object_prompts"]) <= 2
    assert [(c.question, c.answer) for c in plain.conversations] == [
        (c.question, c.answer) for c in prompted.conversations]
    with pytest.raises(ValueError, match="--full"):
        train(replace(cfg, out=str(tmp_path / "lora"), mode="lora"))


def test_probe_prompts_every_large_object_once_with_exact_prompts(micro_spec, synth_folder, tmp_path):
    from lisa_ros.data.synth import render_scene
    from lisa_ros.train.loop import train
    from train_helpers import probe_module

    probe = probe_module("sam_prompt_probe")
    box, point = probe.exact_prompts(_rect(10, 20, 11, 11))
    assert box.box.tolist() == [20, 10, 30, 20] and point.point.tolist() == [25, 15]

    result = train(train_config(tmp_path / "run", micro_spec, synth_folder, steps=1))
    out = tmp_path / "probe.json"
    assert probe.main(["--model", str(result.model_folder), "--scenes", "3", "--seed", "11", "--threads", "1",
                       "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    expected = sum(int(mask.sum()) >= probe.MIN_VISIBLE_PIXELS
                   for index in range(3) for mask in render_scene(11, index, (320, 240), None).object_masks)
    assert summary["objects"] == expected > 0
    assert sum(row["count"] for row in summary["categories"].values()) == expected
    assert 0.0 <= summary["iou_box"] <= 1.0 and 0.0 <= summary["iou_point"] <= 1.0


def test_cli_passes_the_term_and_refuses_a_count_below_one():
    from lisa_ros.cli.train import build_parser, config_from_args

    parser = build_parser()
    cfg = config_from_args(parser.parse_args(["--out", "x", "--model", "lisa-tiny", "--sam-prompt-weight", "0.5",
                                              "--sam-prompt-objects", "6"]))
    assert (cfg.sam_prompt_weight, cfg.sam_prompt_objects) == (0.5, 6)
    assert config_from_args(parser.parse_args(["--out", "x", "--model", "lisa-tiny"])).sam_prompt_weight == 0.0
    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", "x", "--sam-prompt-objects", bad])
