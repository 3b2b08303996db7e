"""Per-frame image features, computed once and reused for every instruction on that frame.

The SAM image encoder is the most expensive stage after generation (ViT-H: about 0.15 s on an
A100, 47 s on this CPU); CLIP is next. A robot asking several questions about one camera frame
should pay for them once, as segment-anything's ``SamPredictor.set_image`` does.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .preprocess import SamResize

__all__ = ["FrameFeatures", "FrameCache", "frame_key_of"]


@dataclass
class FrameFeatures:
    """Encoders' outputs for one frame.

    Attributes:
        clip_tokens: ``[1, N, hidden]`` projected CLIP tokens (LLM dtype, model device).
        sam_embedding: ``[1, C, g, g]`` SAM image embedding, as a
            :class:`~lisa_ros.core.streams.DeferredTensor` (on CUDA it may still be computing on a
            side stream: call ``.get()`` on the stream that uses it).
        sam_resize: placement of the frame in SAM's input (to map masks back).
        clip_pixels: ``[1, 3, h, w]`` CLIP input, kept for the reference (no-cache) path.
    """

    clip_tokens: "object"
    sam_embedding: "object"
    sam_resize: SamResize
    clip_pixels: "object"


def frame_key_of(image: np.ndarray) -> str:
    """Content key of an image: shape plus a 128-bit BLAKE2b of its bytes (about 1 ms at VGA)."""
    digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()
    return f"{image.shape[0]}x{image.shape[1]}:{digest}"


class FrameCache:
    """A small LRU of :class:`FrameFeatures` keyed by frame key. ``capacity`` 0 disables it."""

    def __init__(self, capacity: int = 2):
        self.capacity = max(0, int(capacity))
        self._items: OrderedDict[str, FrameFeatures] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> FrameFeatures | None:
        with self._lock:
            features = self._items.get(key)
            if features is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return features

    def put(self, key: str, features: FrameFeatures) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._items[key] = features
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
