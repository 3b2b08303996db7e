"""Preprocessing equals the official pipeline (transformers' CLIP processor, SAM's own steps)."""

import numpy as np
import pytest
import torch

from lisa_ros.core.preprocess import ClipPreprocessConfig, preprocess_clip, preprocess_sam, sam_resize_shape
from lisa_ros.core.sam_builder import SamShape, build_sam


def _image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [(480, 640), (640, 480), (333, 500), (224, 224), (100, 900)])
def test_clip_matches_transformers_processor(size):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    image = _image(*size)
    expected = CLIPImageProcessorPil()(images=image, return_tensors="np")["pixel_values"][0]
    ours = preprocess_clip(image, ClipPreprocessConfig())
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
    assert np.abs(ours - expected).max() <= 1e-6


def test_clip_fixed_size_without_crop_follows_the_processor_config():
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    config = ClipPreprocessConfig(shortest_edge=None, height=112, width=112, crop=None)
    processor = CLIPImageProcessorPil(**{k: v for k, v in config.to_dict().items() if k != "image_processor_type"})
    image = _image(240, 320)
    expected = processor(images=image, return_tensors="np")["pixel_values"][0]
    assert np.abs(preprocess_clip(image, config) - expected).max() <= 1e-6


def test_sam_resize_rounds_half_up():
    assert sam_resize_shape(480, 640, 1024) == (768, 1024)
    assert sam_resize_shape(333, 500, 1024) == (682, 1024)  # 681.98 -> 682
    assert sam_resize_shape(1000, 1, 1024) == (1024, 1)  # 1.024 -> 1


def test_sam_matches_segment_anything_preprocess():
    """PIL bilinear resize, then segment-anything's own normalise-and-pad."""
    from PIL import Image

    image = _image(333, 500, seed=3)
    pixels, resize = preprocess_sam(image, 1024)
    assert resize.resized_size == (682, 1024) and resize.original_size == (333, 500)
    resized = np.array(Image.fromarray(image).resize((1024, 682), Image.BILINEAR))
    sam = build_sam(SamShape(1024, 16, 16, 1, 2, 1.0, 0, (), 16, 4, 1, 16, 2, 3, 2, 16))
    expected = sam.preprocess(torch.from_numpy(resized).permute(2, 0, 1)[None].float())[0].numpy()
    assert pixels.shape == (3, 1024, 1024)
    assert np.array_equal(pixels, expected)
    assert not pixels[:, 682:, :].any()
