"""The fast path against the official computation rebuilt in the test from its parts.

test_generation.py proves the KV-cache path equals the no-cache path, but the two share our
embedding, projection, decoder and upscaling code. Here every step after tokenization is
computed independently, from the libraries LISA itself builds on and from the weights by hand:

* CLIP pixels from transformers' CLIP image processor, features from transformers'
  ``CLIPVisionModel`` (hidden layer ``mm_vision_select_layer``, CLS dropped), the projector as
  ``x @ W.T + b``;
* the embedded sequence assembled by hand: text embeddings up to ``<im_start>``, the N image
  tokens, ``<im_end>`` and the rest (the official expansion of the one image placeholder);
* the language model's post-norm states from transformers' ``LlamaModel`` on that sequence,
  the ``[SEG]`` state taken at (position of ``[SEG]`` in the expanded sequence) - 1, and
  ``text_hidden_fcs`` as Linear, ReLU, Linear by hand;
* SAM from segment-anything's own modules: ``Sam.preprocess`` on the PIL-resized image, its
  image encoder, ``PromptEncoder`` (no points, boxes or masks: the empty sparse prompt and the
  no-mask dense embedding) with the projected ``[SEG]`` appended as the one sparse token,
  ``MaskDecoder`` with single-mask output, and ``Sam.postprocess_masks``.

All on non-square images of several sizes.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lisa_ros.core.preprocess import SamResize
from lisa_ros.core.postprocess import upscale_mask_logits
from lisa_ros.core.prompt import IMAGE_TOKEN_INDEX, build_prompt_ids
from lisa_ros.core.tokenizer import IM_END_TOKEN, IM_START_TOKEN
from tiny_checkpoints import scene_image

SIZES = [(60, 80), (75, 110), (97, 61), (333, 500)]  # (H, W), none square


def _clip_tokens_by_hand(model, clip_preprocess, image: np.ndarray) -> torch.Tensor:
    """``[N, hidden]``: transformers' processor and CLIP tower, the projector by hand."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    settings = {k: v for k, v in clip_preprocess.to_dict().items() if k != "image_processor_type"}
    pixels = CLIPImageProcessorPil(**settings)(images=image, return_tensors="pt")["pixel_values"]
    hidden = model.vision_tower(pixels, output_hidden_states=True).hidden_states
    features = hidden[model.config.mm_vision_select_layer][0, 1:]  # patch tokens, CLS dropped
    return features @ model.mm_projector.weight.T + model.mm_projector.bias


def _embedded_sequence_by_hand(model, tokenizer, ids: list[int], image_tokens: torch.Tensor) -> torch.Tensor:
    """``[1, len(ids) - 1 + N, hidden]``: the image placeholder replaced by the N image tokens,
    which must sit between ``<im_start>`` and ``<im_end>``."""
    split = ids.index(IMAGE_TOKEN_INDEX)
    assert ids[split - 1] == tokenizer.convert_tokens_to_ids(IM_START_TOKEN)
    assert ids[split + 1] == tokenizer.convert_tokens_to_ids(IM_END_TOKEN)
    table = model.llm.get_input_embeddings().weight
    return torch.cat([table[ids[:split]], image_tokens, table[ids[split + 1 :]]])[None]


def _sam_by_hand(sam, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
    """SAM's image embedding ``[1, C, g, g]`` and the resized (h, w), with segment-anything's own
    preprocessing after a PIL bilinear longest-side resize (rounding half up)."""
    from PIL import Image

    height, width = image.shape[:2]
    scale = sam.image_encoder.img_size / max(height, width)
    resized_h, resized_w = int(height * scale + 0.5), int(width * scale + 0.5)
    resized = np.array(Image.fromarray(image).resize((resized_w, resized_h), Image.BILINEAR))
    pixels = sam.preprocess(torch.from_numpy(resized).permute(2, 0, 1)[None].float())
    return sam.image_encoder(pixels), (resized_h, resized_w)


def _decode_by_hand(sam, embedding: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``[C]`` prompt through segment-anything's PromptEncoder and MaskDecoder."""
    sparse, dense = sam.prompt_encoder(points=None, boxes=None, masks=None)
    sparse = torch.cat([sparse, prompt.reshape(1, 1, -1)], dim=1)
    return sam.mask_decoder(image_embeddings=embedding, image_pe=sam.prompt_encoder.get_dense_pe(),
                            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False)


@pytest.mark.parametrize("height, width", SIZES)
def test_image_tokens_sit_between_im_start_and_im_end_as_projected_clip_features(segmenter, height, width):
    model, tokenizer = segmenter.model, segmenter.tokenizer
    image = scene_image(height, width, seed=3)
    features, _, _ = segmenter.encode_image(image, frame_key=f"placement-{height}x{width}")
    with torch.inference_mode():
        expected_tokens = _clip_tokens_by_hand(model, segmenter.loaded.clip_preprocess, image)
        assert torch.allclose(features.clip_tokens[0], expected_tokens, atol=1e-5)
        ids = build_prompt_ids(tokenizer, segmenter._format_instruction("Where is the mug?")).ids
        ours = model.embed_with_image(ids, features.clip_tokens)
        expected = _embedded_sequence_by_hand(model, tokenizer, ids, expected_tokens)
    assert ours.shape == expected.shape == (1, len(ids) - 1 + model.num_image_tokens, model.config.hidden_size)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_mask_decoder_call_equals_segment_anything(segmenter):
    """The model's decoder call (K prompts at once, LISA's dense positional encoding) against
    segment-anything's PromptEncoder + MaskDecoder, one prompt at a time."""
    sam = segmenter.model.sam
    shape = segmenter.model.sam_shape
    generator = torch.Generator().manual_seed(0)
    embedding = torch.randn(1, shape.prompt_embed_dim, shape.embedding_size, shape.embedding_size, generator=generator)
    prompts = torch.randn(3, shape.prompt_embed_dim, generator=generator)
    with torch.inference_mode():
        low, iou = segmenter.model.decode_masks(embedding, prompts)
        for index in range(3):
            expected_low, expected_iou = _decode_by_hand(sam, embedding, prompts[index])
            assert torch.allclose(low[index : index + 1], expected_low, atol=1e-4)
            assert torch.allclose(iou[index : index + 1], expected_iou, atol=1e-5)
    assert low.shape == (3, 1, shape.low_res_size, shape.low_res_size)


@pytest.mark.parametrize("height, width", SIZES + [(1, 16), (1000, 999)])
def test_mask_upscaling_and_crop_equal_segment_anything(segmenter, height, width):
    sam = segmenter.model.sam
    size = sam.image_encoder.img_size
    scale = size / max(height, width)
    resized = (int(height * scale + 0.5), int(width * scale + 0.5))
    low = torch.randn(2, 1, 4 * size // 16, 4 * size // 16, generator=torch.Generator().manual_seed(height))
    ours = upscale_mask_logits(low, SamResize((height, width), resized, size))
    expected = sam.postprocess_masks(low, input_size=resized, original_size=(height, width))[:, 0]
    assert ours.shape == (2, height, width)
    assert torch.allclose(ours, expected, atol=1e-5)
    # And by hand for one corner: the crop keeps rows/columns from the top-left of SAM's input.
    full = F.interpolate(low, (size, size), mode="bilinear", align_corners=False)[..., : resized[0], : resized[1]]
    assert torch.allclose(ours, F.interpolate(full, (height, width), mode="bilinear", align_corners=False)[:, 0],
                          atol=1e-5)


@pytest.mark.parametrize("height, width", SIZES)
def test_fast_path_masks_equal_the_computation_rebuilt_from_its_parts(segmenter, height, width):
    """segment() (KV cache, our code) against the whole official computation done here."""
    model, tokenizer, sam = segmenter.model, segmenter.tokenizer, segmenter.model.sam
    image = scene_image(height, width, seed=4)
    out = segmenter.segment(image, "Where are the mug and the cup?", keep_logits=True)
    assert out.answer == "The mug [SEG] and the cup [SEG]."
    prompt = build_prompt_ids(tokenizer, segmenter._format_instruction("Where are the mug and the cup?"))
    ids = prompt.ids + out.answer_ids
    with torch.inference_mode():
        sequence = _embedded_sequence_by_hand(
            model, tokenizer, ids, _clip_tokens_by_hand(model, segmenter.loaded.clip_preprocess, image)
        )
        states = model.llm.model(inputs_embeds=sequence).last_hidden_state[0]  # post-norm, last layer
        shift = model.num_image_tokens - 1  # the placeholder became N positions
        positions = [index + shift - 1 for index, token in enumerate(ids) if token == tokenizer.seg_token_id]
        first, _, second, _ = model.text_hidden_fcs[0]
        prompts = F.relu(states[positions] @ first.weight.T + first.bias) @ second.weight.T + second.bias
        embedding, resized = _sam_by_hand(sam, image)
        assert len(positions) == len(out.masks) == 2
        for result, prompt_embedding in zip(out.masks, prompts):
            low, iou = _decode_by_hand(sam, embedding, prompt_embedding)
            logits = sam.postprocess_masks(low, input_size=resized, original_size=(height, width))[0, 0].numpy()
            scale = np.abs(logits).max()
            assert np.abs(result.logits - logits).max() <= 1e-4 * scale
            assert result.score == pytest.approx(float(iou), abs=1e-4)
            # Pixels whose logit is not within the numerical error of 0 agree exactly.
            decided = np.abs(logits) > 1e-3 * scale
            assert np.array_equal(result.mask[decided], (logits > 0)[decided])
