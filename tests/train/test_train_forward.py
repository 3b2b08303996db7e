"""The training forward pass: index shift of CE and [SEG] states, offset batching, and the
shared-prefix path equal to the plain one."""


import numpy as np
import pytest
import torch

from lisa_ros.train.batching import collate
from lisa_ros.train.conversations import Conversation, TrainItem
from lisa_ros.train.forward import lisa_forward
from lisa_ros.train.scratch.init_spec import build_from_spec, load_init_spec


@pytest.fixture(scope="module")
def micro(micro_spec, tmp_path_factory):
    model, tokenizer, clip_pre, _ = build_from_spec(load_init_spec(str(micro_spec)), tmp_path_factory.mktemp("t"))
    return model.train(), tokenizer, clip_pre


def _items():
    rng = np.random.default_rng(0)
    items = []
    for index, convs in enumerate(([("Can you segment the mug in this image?", "Sure, [SEG].", 1),
                                    ("Where are the mug and the cup? Please output segmentation mask.",
                                     "The mug [SEG] and the cup [SEG].", 2)],
                                   [("Is there a banana? Please output segmentation mask.", "No banana here.", 0)],
                                   [("Please segment the knife in this image.", "[SEG].", 1)])):
        image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        conversations = []
        for question, answer, k in convs:
            masks = [rng.random((60, 80)) > 0.7 for _ in range(k)]
            conversations.append(Conversation(question, answer, masks))
        items.append(TrainItem(f"s{index}", image, None, conversations))
    return items


def test_shapes_and_seg_counts(micro):
    model, tokenizer, clip_pre = micro
    batch = collate(_items(), tokenizer, clip_pre, model.sam_shape.img_size)
    assert batch.offset == [0, 2, 3, 4]
    out = lisa_forward(model, batch, tokenizer.seg_token_id)
    assert out.seg_counts == [1, 2, 0, 1]
    assert [tuple(m.shape) for m in out.pred_masks] == [(3, 60, 80), (0, 60, 80), (1, 60, 80)]
    assert [tuple(m.shape) for m in batch.gt_masks] == [(3, 60, 80), (0, 60, 80), (1, 60, 80)]
    answer_tokens = sum(len(ids) - start for ids, start in zip(batch.input_ids, batch.prompt_lengths))
    assert out.num_answer_tokens == answer_tokens


def test_ce_uses_the_state_before_each_answer_token(micro):
    """CE equals a hand-computed next-token loss over the answer of one conversation."""
    from lisa_ros.core.generation import teacher_forced_states

    model, tokenizer, clip_pre = micro
    item = _items()[2]
    batch = collate([item], tokenizer, clip_pre, model.sam_shape.img_size)
    out = lisa_forward(model, batch, tokenizer.seg_token_id, share_prefix=False)
    ids = batch.input_ids[0]
    with torch.no_grad():
        tokens = model.encode_clip(batch.clip_pixels)
        states, seg = teacher_forced_states(model, ids, tokens, tokenizer.seg_token_id)
    shift = tokens.shape[1] - 1
    start = batch.prompt_lengths[0]
    positions = torch.arange(start, len(ids)) + shift - 1
    logits = model.llm.lm_head(states[0, positions]).float()
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[start:]))
    torch.testing.assert_close(out.ce.detach(), expected, rtol=1e-5, atol=1e-5)
    # the mask comes from the official [SEG] state (teacher_forced_states picks it by the official rule)
    with torch.no_grad():
        prompts = model.project_seg_states(seg)
        sam = model.encode_sam(batch.sam_pixels)
        low, _ = model.decode_masks(sam, prompts)
    from lisa_ros.core.postprocess import upscale_mask_logits

    torch.testing.assert_close(out.pred_masks[0].detach(), upscale_mask_logits(low, batch.sam_resizes[0]),
                               rtol=1e-4, atol=1e-4)


def test_shared_prefix_equals_full_sequences(micro):
    model, tokenizer, clip_pre = micro
    batch = collate(_items(), tokenizer, clip_pre, model.sam_shape.img_size)
    results = []
    for share in (False, True):
        model.zero_grad()
        out = lisa_forward(model, batch, tokenizer.seg_token_id, share_prefix=share)
        loss = out.ce + sum(m.sigmoid().mean() for m in out.pred_masks if m.numel())
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results.append((loss.detach(), grads))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-4, atol=1e-6)


def test_answer_logits_give_the_training_cross_entropy(micro):
    """``answer_logits`` (probes) row k predicts answer token k: their CE over all answer tokens
    is the CE of the training pass."""
    from lisa_ros.train.forward import answer_logits

    model, tokenizer, clip_pre = micro
    batch = collate(_items(), tokenizer, clip_pre, model.sam_shape.img_size)
    with torch.no_grad():
        out = lisa_forward(model, batch, tokenizer.seg_token_id, share_prefix=False)
        rows = answer_logits(model, batch)
    targets = [ids[start:] for ids, start in zip(batch.input_ids, batch.prompt_lengths)]
    assert [r.shape[0] for r in rows] == [len(t) for t in targets]
    assert all(r.shape[1] == model.llm.lm_head.out_features for r in rows)
    ce = torch.nn.functional.cross_entropy(torch.cat(rows), torch.tensor(sum(targets, [])))
    torch.testing.assert_close(ce, out.ce, rtol=1e-5, atol=1e-5)
