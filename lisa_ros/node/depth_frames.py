"""Depth images and camera infos as received, bounded, and their pairing with a colour frame.

The depth callbacks only append a reference to the message (constant time). When the worker
has chosen a colour frame, :meth:`DepthStore.pair` finds the depth image whose stamp is nearest
the colour frame's, within a tolerance, and the camera_info that goes with it: the one with the
depth's stamp when there is one, else the newest (intrinsics rarely change; the core checks that
K fits the depth image). Nothing here grows without bound: each buffer keeps the newest
``capacity`` messages. No rclpy: messages are read through ``header.stamp`` only.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["DepthStore", "DepthPairing", "stamp_ns"]


def stamp_ns(header) -> int:
    """A header's stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass(frozen=True)
class DepthPairing:
    """What goes with one colour frame: the depth and camera_info messages, or (both None) the
    reason there are none (it becomes each mask's NO_DEPTH reason)."""

    depth: Any = None
    camera_info: Any = None
    reason: str = ""


class DepthStore:
    """The newest ``capacity`` depth images and camera infos."""

    def __init__(self, capacity: int = 30):
        self._depths: deque = deque(maxlen=max(1, int(capacity)))
        self._infos: deque = deque(maxlen=max(1, int(capacity)))
        self._lock = threading.Lock()
        self.received = 0  # depth images pushed (diagnostics)

    def push_depth(self, msg) -> None:
        with self._lock:
            self._depths.append(msg)
            self.received += 1

    def push_info(self, msg) -> None:
        with self._lock:
            self._infos.append(msg)

    def resize(self, capacity: int) -> None:
        with self._lock:
            self._depths = deque(self._depths, maxlen=max(1, int(capacity)))
            self._infos = deque(self._infos, maxlen=max(1, int(capacity)))

    def clear(self) -> None:
        with self._lock:
            self._depths.clear()
            self._infos.clear()

    def __len__(self) -> int:
        return len(self._depths)

    def pair(self, header, tolerance_s: float) -> DepthPairing:
        """The depth image nearest ``header``'s stamp within ``tolerance_s`` seconds, and its
        camera_info; or the reason there is none."""
        target = stamp_ns(header)
        with self._lock:
            depths, infos = list(self._depths), list(self._infos)
        if not depths:
            return DepthPairing(reason="no depth image received on the depth topic")
        depth = min(depths, key=lambda msg: abs(stamp_ns(msg.header) - target))
        gap = abs(stamp_ns(depth.header) - target) / 1e9
        if gap > tolerance_s:
            return DepthPairing(reason=f"no depth image within depth.pairing_tolerance = {tolerance_s:g} s of the "
                                       f"colour image's stamp (nearest {gap:.3f} s away)")
        if not infos:
            return DepthPairing(reason="no camera_info received on depth/camera_info")
        same = [info for info in infos if stamp_ns(info.header) == stamp_ns(depth.header)]
        return DepthPairing(depth, same[-1] if same else infos[-1])
