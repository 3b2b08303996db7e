"""Wall-clock timing that is honest on GPUs (CUDA work is asynchronous: synchronise first).

Only the current stream is synchronised: work queued on other streams (SAM's encoder
overlapping generation, lisa_ros.core.streams) keeps running and is not charged to the stage
being timed.
"""

from __future__ import annotations

import time

__all__ = ["Stopwatch"]


class Stopwatch:
    """Milliseconds between laps; synchronises ``device``'s current stream when it is CUDA."""

    def __init__(self, device=None):
        self._cuda = device is not None and str(device).startswith("cuda")
        self._last = self._now()

    def _now(self) -> float:
        if self._cuda:
            import torch

            torch.cuda.current_stream().synchronize()
        return time.perf_counter()

    def lap(self) -> float:
        """Milliseconds since the previous lap (or construction)."""
        now = self._now()
        elapsed = (now - self._last) * 1000.0
        self._last = now
        return elapsed
