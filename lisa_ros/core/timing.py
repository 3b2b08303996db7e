"""Wall-clock timing that is honest on GPUs (CUDA work is asynchronous: synchronise first)."""

from __future__ import annotations

import time

__all__ = ["Stopwatch"]


class Stopwatch:
    """Milliseconds between laps; synchronises ``device`` first when it is a CUDA device."""

    def __init__(self, device=None):
        self._cuda = device is not None and str(device).startswith("cuda")
        self._last = self._now()

    def _now(self) -> float:
        if self._cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def lap(self) -> float:
        """Milliseconds since the previous lap (or construction)."""
        now = self._now()
        elapsed = (now - self._last) * 1000.0
        self._last = now
        return elapsed
