"""Checks on what callers hand the model, so bad input fails early with a readable message."""

from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS", "DEFAULT_MAX_INSTRUCTION_CHARS", "MAX_ASPECT_RATIO", "check_image", "check_instruction",
    "check_context",
]

DEFAULT_MAX_IMAGE_PIXELS = 16_000_000
DEFAULT_MAX_INSTRUCTION_CHARS = 2000
# Cameras give 4:3 to 16:9; panoramas rarely exceed 8:1.
MAX_ASPECT_RATIO = 16


def check_image(image, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Return ``image`` if it is an ``HxWx3 uint8`` RGB array within ``max_pixels``.

    Raises:
        InvalidInputError: anything else (other dtype or channel count, zero size, too large,
            more elongated than :data:`MAX_ASPECT_RATIO`).
    """
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"image must be a numpy array, not {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(f"image must be HxWx3 (RGB), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidInputError(f"image must be uint8, got {image.dtype}")
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise InvalidInputError(f"image has zero size ({width}x{height})")
    if height * width > max_pixels:
        raise InvalidInputError(
            f"image of {width}x{height} = {height * width} pixels exceeds the limit of {max_pixels}"
        )
    if max(height, width) > MAX_ASPECT_RATIO * min(height, width):
        # CLIP scales the short side to 224: a 1x2000 strip would become 448000 pixels wide,
        # and SAM's resize would round its short side to zero.
        raise InvalidInputError(
            f"image of {width}x{height} is more elongated than {MAX_ASPECT_RATIO}:1"
        )
    return image


def check_instruction(instruction, max_chars: int = DEFAULT_MAX_INSTRUCTION_CHARS) -> str:
    """Return ``instruction`` if it is non-blank text of at most ``max_chars`` characters."""
    if not isinstance(instruction, str):
        raise InvalidInputError(f"instruction must be a string, not {type(instruction).__name__}")
    if len(instruction) > max_chars:
        raise InvalidInputError(
            f"instruction of {len(instruction)} characters exceeds the limit of {max_chars}"
        )
    if not instruction.strip():
        raise InvalidInputError("instruction is empty")
    if "\x00" in instruction:
        raise InvalidInputError("instruction contains a NUL character")
    return instruction


def check_context(prompt_positions: int, max_new_tokens: int, context: int) -> None:
    """Refuse a request whose prompt plus answer budget cannot fit the model's positions.

    Args:
        prompt_positions: the prompt's token ids with the image placeholder counted as the
            CLIP tokens it becomes (for teacher forcing: prompt and answer).
        max_new_tokens: most tokens the answer may take (0 when the answer is given).
        context: the language model's ``max_position_embeddings`` (LISA-7B: 2048).
    Raises:
        InvalidInputError: ``prompt_positions + max_new_tokens > context``. A character limit
            alone does not prevent it: text without pieces of its own (CJK, emoji) falls back
            to UTF-8 bytes, up to four tokens per character.
    """
    if prompt_positions + max_new_tokens > context:
        raise InvalidInputError(
            f"prompt of {prompt_positions} positions (image tokens included) plus max_new_tokens "
            f"{max_new_tokens} exceeds the model's context of {context} positions "
            "(max_position_embeddings); shorten the instruction or lower max_new_tokens"
        )
