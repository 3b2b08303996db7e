"""Preprocessing with torch ops (what runs on the GPU) gives PIL's bytes and the official
encoder inputs exactly, not approximately."""

import numpy as np
import pytest
import torch
from PIL import Image

from lisa_ros.core.device_preprocess import (
    clip_pixels_on_device, pil_pass_order, resize_like_pil, sam_resized_on_device,
)
from lisa_ros.core.image_features import encode_frame
from lisa_ros.core.preprocess import ClipPreprocessConfig, preprocess_clip, resize_for_sam
from tiny_checkpoints import scene_image


def _images(rng, count):
    for index in range(count):
        height, width = (int(v) for v in rng.integers(4, 260, size=2))
        out_h, out_w = (int(v) for v in rng.integers(3, 400, size=2))
        if index % 2:  # smooth content, where rounding ties are likelier than in noise
            steps = rng.integers(-6, 7, size=(height, width, 3))
            image = np.clip(np.cumsum(steps, axis=index % 4 // 2) + 128, 0, 255).astype(np.uint8)
        else:
            image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        yield image, out_h, out_w


@pytest.mark.parametrize("resample", [Image.BILINEAR, Image.BICUBIC], ids=["bilinear", "bicubic"])
def test_resize_equals_pil_byte_for_byte(resample):
    rng = np.random.default_rng(int(resample))
    for image, out_h, out_w in _images(rng, 60):
        expected = np.asarray(Image.fromarray(image).resize((out_w, out_h), resample=resample))
        rows_first = pil_pass_order(image.shape[:2], (out_h, out_w), int(resample), "cpu")
        assert rows_first is not None
        ours = resize_like_pil(torch.from_numpy(image), out_h, out_w, int(resample), rows_first).numpy()
        assert np.array_equal(ours, expected), (image.shape, out_h, out_w)


@pytest.mark.parametrize("size", [(480, 640), (640, 480), (720, 1280), (60, 80), (224, 224)])
def test_encoder_inputs_equal_the_official_cpu_path(size):
    image = np.random.default_rng(size[0]).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    frame = torch.from_numpy(image)
    config = ClipPreprocessConfig()
    assert torch.equal(clip_pixels_on_device(frame, config)[0], torch.from_numpy(preprocess_clip(image, config)))
    for side in (1024, 128):
        resized, placement = resize_for_sam(image, side)
        ours, our_placement = sam_resized_on_device(frame, side)
        assert np.array_equal(ours.numpy(), resized) and our_placement == placement


def test_unsupported_filters_fall_back():
    frame = torch.zeros((40, 50, 3), dtype=torch.uint8)
    assert clip_pixels_on_device(frame, ClipPreprocessConfig(resample=Image.LANCZOS)) is None
    with pytest.raises(ValueError, match="not supported"):
        resize_like_pil(frame, 20, 20, Image.LANCZOS)


def test_encode_frame_features_are_identical(segmenter):
    """The whole frame encoding with preprocessing on the model's device (the CPU here)."""
    model, loaded = segmenter.model, segmenter.loaded
    for image in (scene_image(seed=1), scene_image(height=97, width=131, seed=2)):
        official, _ = encode_frame(model, loaded.clip_preprocess, image, model.encode_sam, "cpu")
        ours, _ = encode_frame(model, loaded.clip_preprocess, image, model.encode_sam, "cpu", device_preprocess=True)
        assert torch.equal(ours.clip_pixels, official.clip_pixels)
        assert torch.equal(ours.clip_tokens, official.clip_tokens)
        assert torch.equal(ours.sam_embedding.get(), official.sam_embedding.get())
        assert ours.sam_resize == official.sam_resize
