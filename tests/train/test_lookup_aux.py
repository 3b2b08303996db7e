"""The look-up loss (lisa_ros.train.scratch.lookup_aux): the attention it reads is the model's own, its
targets sit on the right columns, it can be learnt, and a run logs it."""

import json

import numpy as np
import pytest
import torch

from lisa_ros.core.prompt import IMAGE_TOKEN_INDEX
from lisa_ros.train.batching import collate
from lisa_ros.train.conversations import Conversation, TrainItem
from lisa_ros.train.forward import _conversation_images, _pad, lisa_forward, lisa_loss
from lisa_ros.train.losses import LossWeights
from lisa_ros.train.scratch.init_spec import build_from_spec, load_init_spec
from lisa_ros.train.scratch.lookup_aux import LookupWatch, lookup_loss, lookup_targets
from lisa_ros.train.scratch.terms import LookupTerm
from train_helpers import train_config


@pytest.fixture()
def micro(micro_spec, tmp_path):
    model, tokenizer, clip_pre, _ = build_from_spec(load_init_spec(str(micro_spec)), tmp_path / "m")
    return model.train(), tokenizer, clip_pre


def _box(top: int, left: int) -> np.ndarray:
    mask = np.zeros((60, 80), bool)
    mask[top : top + 20, left : left + 30] = True
    return mask


def _items() -> list[TrainItem]:
    """Two images: a target in the top-left quarter, an absent target, a multi-target answer
    (bottom-left and bottom-right quarters), and a question about the scene (VQA)."""
    rng = np.random.default_rng(0)
    first = [Conversation("Can you segment the mug in this image?", "Sure, [SEG].", [_box(0, 0)]),
             Conversation("Is there a banana? Please output segmentation mask.", "No banana here.", [],
                          absent_target=True)]
    second = [Conversation("Where are the mug and the cup?", "The mug [SEG] and the cup [SEG].",
                           [_box(40, 0), _box(40, 50)]),
              Conversation("What colour is the mug?", "Red.", [])]
    return [TrainItem(f"s{i}", rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), None, convs)
            for i, convs in enumerate((first, second))]


def _eager_attention(model, batch, layer: int) -> torch.Tensor:
    """``[C, heads, L, L]`` attention weights of ``layer``, from transformers' eager attention."""
    config = model.llm.config
    saved, config._attn_implementation = config._attn_implementation, "eager"
    try:
        with torch.no_grad():
            tokens = model.encode_clip(batch.clip_pixels)
            images = _conversation_images(batch)
            embeds, mask = _pad([model.embed_with_image(ids, tokens[images[row]])[0]
                                 for row, ids in enumerate(batch.input_ids)])
            out = model.llm.model(inputs_embeds=embeds, attention_mask=mask, output_attentions=True)
    finally:
        config._attn_implementation = saved
    return out.attentions[layer]


@pytest.mark.parametrize("share_prefix,single", [(False, False), (True, False), (True, True)])
def test_the_head_attention_read_is_the_models_own(micro, share_prefix, single):
    """At every decision state, the distribution the loss reads equals transformers' eager
    attention of that layer and head, through both forward paths (plain and shared prefix; a
    batch of one conversation shares all ids but the answer's, so its decision state lies in
    the prefix)."""
    model, tokenizer, clip_pre = micro
    items = _items()
    if single:
        items = [TrainItem("one", items[0].image, None, items[0].conversations[:1])]
    batch = collate(items, tokenizer, clip_pre, model.sam_shape.img_size)
    layer, head = 1, 2
    out = lisa_forward(model, batch, tokenizer.seg_token_id, share_prefix, [LookupWatch(model, (layer, head))])
    eager = _eager_attention(model, batch, layer)
    shift = out.image_tokens.shape[1] - 1  # N image tokens replace one placeholder id
    for row, ids in enumerate(batch.input_ids):
        column = batch.prompt_lengths[row] + shift - 1
        expected = eager[row, head, column, : column + 1]
        got = out.readings["lookup"][row].exp().detach()
        torch.testing.assert_close(got[: column + 1], expected, rtol=1e-4, atol=1e-5)
        assert float(got[column + 1 :].sum()) == 0.0


def test_targets_weigh_target_pixels_per_image_token_and_send_absent_targets_to_the_first_position(micro):
    model, tokenizer, clip_pre = micro
    batch = collate(_items(), tokenizer, clip_pre, model.sam_shape.img_size)
    out = lisa_forward(model, batch, tokenizer.seg_token_id, watches=[LookupWatch(model, (0, 0))])
    log_attention = out.readings["lookup"]
    tokens = out.image_tokens.shape[1]
    assert tokens == 4  # the micro CLIP: a 2 x 2 grid over the whole 80 x 60 frame
    length = log_attention.shape[1]
    kept, targets = lookup_targets(batch, out.seg_counts, tokens, length)
    assert kept == [0, 1, 2]  # the VQA question (row 3) is left free
    # the first image token's column: where the placeholder was (the prompts share their start)
    start = batch.input_ids[0].index(IMAGE_TOKEN_INDEX)
    assert start > 0 and all(ids.index(IMAGE_TOKEN_INDEX) == start for ids in batch.input_ids)
    # row 0: rows 0-19 x cols 0-29 lie in cell (0, 0) (cells are 30 rows x 40 cols)
    expected = torch.zeros(length)
    expected[start] = 1.0
    torch.testing.assert_close(targets[0], expected)
    # row 1: absent, all weight on the first position
    expected = torch.zeros(length)
    expected[0] = 1.0
    torch.testing.assert_close(targets[1], expected)
    # row 2: the union of two boxes; cols 0-29 in cell (1, 0), cols 50-79 in cell (1, 1)
    expected = torch.zeros(length)
    expected[start + 2] = expected[start + 3] = 0.5
    torch.testing.assert_close(targets[2], expected)
    loss = lookup_loss(log_attention, kept, targets)
    manual = -torch.stack([(targets[i] * log_attention[r]).nan_to_num(0.0, 0.0, 0.0).sum()
                           for i, r in enumerate(kept)]).mean()
    torch.testing.assert_close(loss, manual)
    assert lookup_loss(log_attention, [], targets[:0]) is None


def test_training_on_the_loss_moves_the_head_to_the_target(micro):
    """A few steps of the look-up term alone: the head's attention mass on each row's target
    rises from its start (gradients reach the layers' projections and the image tokens)."""
    model, tokenizer, clip_pre = micro
    batch = collate(_items(), tokenizer, clip_pre, model.sam_shape.img_size)
    layer_head = (1, 0)

    def target_mass() -> list[float]:
        with torch.no_grad():
            out = lisa_forward(model, batch, tokenizer.seg_token_id, watches=[LookupWatch(model, layer_head)])
            log_attention = out.readings["lookup"]
            kept, targets = lookup_targets(batch, out.seg_counts, out.image_tokens.shape[1], log_attention.shape[1])
            attention = log_attention[kept].exp()
        return ((attention * (targets > 0)).sum(-1)).tolist()

    before = target_mass()
    weights = LossWeights(ce=0.0, bce=0.0, dice=0.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        optimiser.zero_grad()
        parts = lisa_loss(model, batch, tokenizer.seg_token_id, weights, terms=[LookupTerm(1.0, layer_head)])
        parts.total.backward()
        optimiser.step()
    after = target_mass()
    assert parts.extras.get("lookup") is not None
    assert all(a > 0.9 for a in after), (before, after)
    assert all(b < 0.5 for b in before), before


def test_a_lookup_weight_needs_a_head():
    with pytest.raises(ValueError, match="lookup_head"):
        LookupTerm(1.0, None)


def test_a_run_with_the_lookup_term_logs_it_and_refuses_a_missing_layer(micro_spec, synth_folder, tmp_path):
    from lisa_ros.train.loop import train

    common = dict(mode="full", steps=2, extra_absent=1.0, extra_explicit=1, lookup_aux_weight=1.0)
    result = train(train_config(tmp_path / "run", micro_spec, synth_folder, **common))
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [entry for entry in logged if "lookup" in entry]
    assert len(steps) == 2 and all(np.isfinite(entry["lookup"]) and entry["lookup"] > 0 for entry in steps)
    assert result.steps == 2
    with pytest.raises(ValueError, match="--lookup-aux-layer 5"):
        train(train_config(tmp_path / "bad", micro_spec, synth_folder, lookup_aux_layer=5, **common))
    with pytest.raises(ValueError, match="need --full"):
        train(train_config(tmp_path / "lora_grounding", micro_spec, synth_folder,
                           **{**common, "mode": "lora", "grounding_aux_weight": 1.0}))


def test_lora_fine_tuning_takes_the_lookup_term(micro_spec, synth_folder, tmp_path):
    """The look-up term needs no auxiliary head, so a LoRA run (a team's few-shot fine-tuning)
    may use it: the term is logged and its gradient reaches the LoRA weights of the head's layer."""
    from lisa_ros.train.loop import train

    from lisa_ros.train.scratch.lookup_aux import lookup_head

    # the look-up term alone: LISA's own terms weigh nothing, so any change of a LoRA weight is its doing
    result = train(train_config(tmp_path / "lora", micro_spec, synth_folder, mode="lora", steps=2,
                                extra_explicit=1, lookup_aux_weight=1.0, lookup_aux_layer=0, ce_weight=0.0,
                                bce_weight=0.0, dice_weight=0.0))
    logged = [json.loads(line) for line in (tmp_path / "lora" / "log.jsonl").read_text().splitlines()]
    assert [np.isfinite(entry["lookup"]) for entry in logged if "lookup" in entry] == [True, True]
    assert result.steps == 2
    layer, _ = lookup_head(result.model.llm.config, 0)
    moved = {}
    for name, param in result.model.llm.named_parameters():
        if "lora_B" in name and ".q_proj." in name:  # LoRA's B starts at zero
            moved[int(name.split(".layers.")[1].split(".")[0])] = bool(param.detach().abs().sum() > 0)
    # the head's attention pattern depends on the queries of its own layer (the first) and on nothing
    # above it
    assert len(moved) > 1 and moved == {index: index <= layer for index in range(len(moved))}, (layer, moved)


def test_absent_target_conversations_are_marked():
    """The absent family's own conversations and the extra absent ones are marked; conversations
    with masks and questions about the scene (VQA) are not."""
    from lisa_ros.train.conversations import make_conversations
    from lisa_ros.train.scratch.extras import absent_extras
    from lisa_ros.train.scratch.vqa import vqa_extras
    from lisa_ros.train.sources import SynthSource

    source = SynthSource(seed=5, count=None, families=["absent", "explicit"], size=(80, 60))
    seen = {"absent": 0, "explicit": 0}
    for index in range(12):
        record = source.record(index)
        seen[record.family] += 1
        own = make_conversations(record, np.random.default_rng(index), 2)
        assert own and all(c.absent_target == (record.family == "absent") for c in own)
        assert all(not (c.absent_target and c.masks) for c in own)
        extra = absent_extras(record, np.random.default_rng(index), 2.0)
        assert extra and all(c.absent_target and not c.masks for c in extra)
        vqa = vqa_extras(record, np.random.default_rng(index), 3)
        assert vqa and not any(c.absent_target for c in vqa)
    assert seen["absent"] > 0 and seen["explicit"] > 0
