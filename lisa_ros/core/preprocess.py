"""Image preprocessing for LISA's two image encoders, exactly as the official run
(docs/model-reference.md §5).

Both take the same source image: an ``HxWx3`` ``uint8`` RGB array, rows top to bottom.

* CLIP (LLaVA branch): PIL bicubic resize of the shortest side to 224 (long side truncated),
  centre crop 224x224, scale to [0, 1], CLIP mean/std. Parameters come from the CLIP folder's
  ``preprocessor_config.json``; a fixed ``height``/``width`` size without crop is honoured too.
* SAM: longest side to the encoder size (1024) with round-half-up, PIL bilinear (antialiased
  when shrinking), normalised in 0-255 units, zero padded bottom/right to a square.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sam_builder import SAM_PIXEL_MEAN, SAM_PIXEL_STD

__all__ = [
    "ClipPreprocessConfig", "SamResize", "preprocess_clip", "preprocess_sam", "resize_for_sam",
    "normalize_and_pad_for_sam", "sam_resize_shape", "clip_resize_shape",
]

# PIL resample codes as stored in preprocessor_config.json.
_PIL_BICUBIC = 3


@dataclass(frozen=True)
class ClipPreprocessConfig:
    """CLIP preprocessing, as read from ``preprocessor_config.json``.

    ``shortest_edge`` set: resize keeping aspect (official CLIP); otherwise resize to exactly
    ``(height, width)``. ``crop`` is ``(height, width)`` of the centre crop or ``None``.
    """

    shortest_edge: int | None = 224
    height: int | None = None
    width: int | None = None
    crop: tuple[int, int] | None = (224, 224)
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    rescale_factor: float = 1 / 255
    resample: int = _PIL_BICUBIC

    @classmethod
    def from_dict(cls, data: dict) -> "ClipPreprocessConfig":
        size = data.get("size", 224)
        if isinstance(size, int):
            size = {"shortest_edge": size}
        crop = data.get("crop_size", 224)
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        do_crop = data.get("do_center_crop", True)
        return cls(
            shortest_edge=size.get("shortest_edge"),
            height=size.get("height"),
            width=size.get("width"),
            crop=(crop["height"], crop["width"]) if do_crop else None,
            mean=tuple(data.get("image_mean", cls.mean)),
            std=tuple(data.get("image_std", cls.std)),
            rescale_factor=float(data.get("rescale_factor", 1 / 255)),
            resample=int(data.get("resample", _PIL_BICUBIC)),
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> "ClipPreprocessConfig":
        path = Path(folder) / "preprocessor_config.json"
        if not path.is_file():
            return cls()
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def to_dict(self) -> dict:
        """``preprocessor_config.json`` content readable by transformers' CLIPImageProcessor."""
        if self.shortest_edge is not None:
            size = {"shortest_edge": self.shortest_edge}
        else:
            size = {"height": self.height, "width": self.width}
        crop = self.crop or (self.height, self.width)
        return {
            "image_processor_type": "CLIPImageProcessor",
            "do_resize": True,
            "size": size,
            "resample": self.resample,
            "do_center_crop": self.crop is not None,
            "crop_size": {"height": crop[0], "width": crop[1]},
            "do_rescale": True,
            "rescale_factor": self.rescale_factor,
            "do_normalize": True,
            "image_mean": list(self.mean),
            "image_std": list(self.std),
            "do_convert_rgb": True,
        }


def _pil_resize(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    from PIL import Image

    if image.shape[:2] == (height, width):
        return image
    # np.array, not np.asarray: a PIL-backed array is read-only, and torch.from_numpy warns on those.
    return np.array(Image.fromarray(image).resize((width, height), resample=resample))


def clip_resize_shape(height: int, width: int, config: ClipPreprocessConfig) -> tuple[int, int]:
    """(h, w) of CLIP's resize before the crop: the shortest side to ``shortest_edge`` (the
    long side truncated, as CLIPImageProcessor), or the fixed ``(height, width)``."""
    if config.shortest_edge is None:
        return config.height, config.width
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = config.shortest_edge, int(config.shortest_edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def preprocess_clip(image: np.ndarray, config: ClipPreprocessConfig) -> np.ndarray:
    """CLIP input of an ``HxWx3 uint8`` RGB image: ``float32 [3, h, w]`` (h, w = crop size)."""
    new_h, new_w = clip_resize_shape(image.shape[0], image.shape[1], config)
    resized = _pil_resize(image, new_h, new_w, config.resample)
    if config.crop is not None:
        crop_h, crop_w = config.crop
        top = (new_h - crop_h) // 2
        left = (new_w - crop_w) // 2
        resized = resized[top : top + crop_h, left : left + crop_w]
    pixels = (resized.astype(np.float64) * config.rescale_factor).astype(np.float32)
    mean = np.asarray(config.mean, dtype=np.float32)
    std = np.asarray(config.std, dtype=np.float32)
    pixels = (pixels - mean) / std
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


@dataclass(frozen=True)
class SamResize:
    """Where the source image sits in SAM's square input.

    ``original_size``: (H, W) of the source. ``resized_size``: (h, w) after the longest-side
    resize; the image occupies rows ``[0, h)`` and columns ``[0, w)`` of the
    ``input_size x input_size`` padded input. Masks are mapped back by cropping to
    ``resized_size`` and resizing to ``original_size``.
    """

    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    input_size: int


def sam_resize_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) after scaling the longest side to ``long_side``, rounding half up (as SAM)."""
    scale = long_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_for_sam(image: np.ndarray, input_size: int) -> tuple[np.ndarray, SamResize]:
    """First half of SAM's preprocessing: the longest-side resize (PIL bilinear, on the CPU).

    Returns the resized ``uint8 [h, w, 3]`` image and its :class:`SamResize`.
    """
    from PIL import Image

    height, width = image.shape[:2]
    new_h, new_w = sam_resize_shape(height, width, input_size)
    resized = _pil_resize(image, new_h, new_w, Image.BILINEAR)
    return resized, SamResize((height, width), (new_h, new_w), input_size)


def normalize_and_pad_for_sam(resized, input_size: int):
    """Second half, in torch on the tensor's device (a GPU does it in well under 1 ms).

    Args:
        resized: ``uint8 [h, w, 3]`` torch tensor from :func:`resize_for_sam`.
    Returns:
        ``float32 [1, 3, input_size, input_size]``: normalised in 0-255 units, zero padded
        bottom/right (the pad is 0 after normalisation, as SAM's ``preprocess``).
    """
    import torch

    height, width = resized.shape[:2]
    mean = torch.tensor(SAM_PIXEL_MEAN, dtype=torch.float32, device=resized.device).view(3, 1, 1)
    std = torch.tensor(SAM_PIXEL_STD, dtype=torch.float32, device=resized.device).view(3, 1, 1)
    pixels = (resized.permute(2, 0, 1).float() - mean) / std
    padded = pixels.new_zeros((1, 3, input_size, input_size))
    padded[0, :, :height, :width] = pixels
    return padded


def preprocess_sam(image: np.ndarray, input_size: int) -> tuple[np.ndarray, SamResize]:
    """SAM encoder input of an ``HxWx3 uint8`` RGB image, on the CPU.

    Returns ``float32 [3, input_size, input_size]`` (normalised, zero padded bottom/right) and
    the :class:`SamResize` describing the placement.
    """
    import torch

    resized, placement = resize_for_sam(image, input_size)
    pixels = normalize_and_pad_for_sam(torch.from_numpy(np.ascontiguousarray(resized)), input_size)
    return pixels[0].numpy(), placement
