"""Camera frames as received: references to the messages, with receipt times, bounded.

The image callback only calls :meth:`FrameStore.push` (constant time: no conversion, no copy;
the message is converted when a request uses it). Requests are paired with frames here:

* ``latest``: the newest frame when the request arrives (:meth:`FrameStore.latest`);
* ``next``: the first frame received after the request arrived. A request registers a
  :class:`FrameWaiter` on arrival; the next :meth:`push` hands the frame to every waiter, so
  the pairing is exact even when the request waits in the queue longer than the buffer lasts.

A request that arrives before any frame waits the same way (up to ``pairing_timeout``).
No rclpy here: the node and the tests drive it directly.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Frame", "FrameWaiter", "FrameStore"]


@dataclass(frozen=True)
class Frame:
    """One received frame.

    Attributes:
        seq: 1, 2, ... in order of receipt (unique for the store's lifetime).
        received: ``time.monotonic()`` at receipt.
        msg: the ``sensor_msgs/Image`` or ``CompressedImage`` as received (unconverted).
    """

    seq: int
    received: float
    msg: Any

    def age(self, now: float | None = None) -> float:
        """Seconds since receipt."""
        return (time.monotonic() if now is None else now) - self.received


class FrameWaiter:
    """A request waiting for the next frame. Set once by :meth:`FrameStore.push`."""

    __slots__ = ("frame", "_event")

    def __init__(self):
        self.frame: Frame | None = None
        self._event = threading.Event()

    def wait(self, timeout: float) -> Frame | None:
        """The frame, or None when none arrived within ``timeout`` seconds."""
        self._event.wait(max(0.0, timeout))
        return self.frame

    def _deliver(self, frame: Frame) -> None:
        self.frame = frame
        self._event.set()

    def wake(self) -> None:
        """Release a waiting thread without a frame (shutdown)."""
        self._event.set()


class FrameStore:
    """The newest ``capacity`` frames and the requests waiting for the next one."""

    def __init__(self, capacity: int = 10):
        self._frames: deque[Frame] = deque(maxlen=max(1, int(capacity)))
        self._waiters: list[FrameWaiter] = []
        self._lock = threading.Lock()
        self._seq = 0
        self.received = 0  # frames pushed (diagnostics)
        self.on_push = None  # () -> None after each push (the worker's wake-up while tracking)

    def push(self, msg: Any, received: float | None = None) -> Frame:
        """Store a just-received message (O(1) unless requests wait for it)."""
        now = time.monotonic() if received is None else received
        with self._lock:
            self._seq += 1
            self.received += 1
            frame = Frame(self._seq, now, msg)
            self._frames.append(frame)
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter._deliver(frame)
        if self.on_push is not None:
            self.on_push()
        return frame

    def latest(self) -> Frame | None:
        """The newest frame, or None before the first."""
        frames = self._frames
        return frames[-1] if frames else None

    def latest_or_wait(self) -> tuple[Frame | None, FrameWaiter | None]:
        """The newest frame, or (None, a registered waiter) when there is none yet."""
        with self._lock:
            if self._frames:
                return self._frames[-1], None
            return None, self._register()

    def wait_next(self) -> FrameWaiter:
        """A waiter for the first frame pushed after this call."""
        with self._lock:
            return self._register()

    def _register(self) -> FrameWaiter:
        waiter = FrameWaiter()
        self._waiters.append(waiter)
        return waiter

    def forget(self, waiter: FrameWaiter) -> None:
        """Stop waiting (timeout, cancellation)."""
        with self._lock:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass

    def resize(self, capacity: int) -> None:
        """Keep at most ``capacity`` frames from now on (the newest are kept)."""
        with self._lock:
            self._frames = deque(self._frames, maxlen=max(1, int(capacity)))

    def wake_all(self) -> None:
        """Release every waiter without a frame (shutdown)."""
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.wake()

    def clear(self) -> None:
        """Drop stored frames (deactivate): a later activation never answers with old frames."""
        with self._lock:
            self._frames.clear()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def __len__(self) -> int:
        return len(self._frames)
