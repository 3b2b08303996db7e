"""Requests between the ROS callbacks and the inference worker, and the in-order publisher.

* :class:`Request`: one instruction to answer (from the topic, the service or the action), its
  frame pairing, and a completion that the first finisher sets (worker, timeout, cancel).
* :class:`RequestQueue`: bounded FIFO consumed by the single worker thread; ``try_put`` fails
  when full (the caller answers DROPPED at once).
* :class:`ResultSequencer`: publishes results on ``result`` (and mask/answer/overlay) in the
  order the requests arrived, whatever order they finish in (an INVALID_INPUT or DROPPED answer
  may be ready before an earlier request's inference ends).

No rclpy here (messages are opaque objects to these classes).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from .frames import Frame, FrameWaiter

__all__ = ["Outgoing", "Request", "RequestQueue", "ResultSequencer", "Cancelled", "Stopping", "Wanted"]


class Cancelled(Exception):
    """Raised between model stages when the request's goal was cancelled."""


class Stopping(Exception):
    """Raised at the model's next token or stage when the node deactivates or shuts down
    (the text is the reason the request is answered DROPPED)."""


@dataclass
class Outgoing:
    """What one finished request publishes.

    Attributes:
        result: the ``SegmentationResult`` (``latency_ms`` is stamped at publication), or None
            for the extras that follow a published result.
        mask: union mask image (mono8), or None.
        overlay: overlay image (rgb8), or None.
        answer: clean answer text for the ``answer`` topic, or None.
        cloud: the objects' points (sensor_msgs/PointCloud2), or None.
        label_image: the instance map (sensor_msgs/Image), or None.
        markers: boxes and labels for rviz (visualization_msgs/MarkerArray), or None.
        detections: vision_msgs/Detection3DArray, or None.
    """

    result: Any
    mask: Any = None
    overlay: Any = None
    answer: str | None = None
    cloud: Any = None
    label_image: Any = None
    markers: Any = None
    detections: Any = None


@dataclass(frozen=True)
class Wanted:
    """Which optional outputs of a result someone subscribes to (each is built only then)."""

    mask: bool = True
    overlay: bool = True
    cloud: bool = False
    label_image: bool = False
    markers: bool = False
    detections: bool = False

    def any(self) -> bool:
        return any((self.mask, self.overlay, self.cloud, self.label_image, self.markers, self.detections))


@dataclass
class Request:
    """One instruction to answer.

    Attributes:
        request_id: ``<node-start-id>-<counter>``.
        seq: position in the node's arrival order (the sequencer's slot).
        source: ``topic``, ``service`` or ``action``.
        instruction: as received.
        received: ``time.monotonic()`` at receipt.
        image: explicit ``sensor_msgs/Image`` (service/action), or None to use camera frames.
        depth, camera_info: explicit depth image and its intrinsics (service/action), or None to
            pair them from the depth topics.
        frame: the paired camera frame once known.
        waiter: registered when the frame is the next one (pairing ``next``, or no frame yet).
        deadline: monotonic time after which a missing frame is an error.
        cancel_requested: the caller gave up (action cancel, service timeout): stop at the
            next token or stage, publish nothing more.
        stop_reason: the node stops serving (deactivate, shutdown): stop at the next token or
            stage and answer DROPPED with this reason.
    """

    request_id: str
    seq: int
    source: str
    instruction: str
    received: float
    image: Any = None
    depth: Any = None
    camera_info: Any = None
    frame: Frame | None = None
    waiter: FrameWaiter | None = None
    deadline: float = 0.0
    stage: str = "queued"
    cancel_requested: bool = False
    stop_reason: str | None = None
    outgoing: Outgoing | None = None
    on_stage: Callable[[str], None] | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def finish(self, outgoing: Outgoing | None) -> bool:
        """Record the outcome; only the first call counts (returns whether this one did)."""
        with self._lock:
            if self._done.is_set():
                return False
            self.outgoing = outgoing
            self._done.set()
        return True

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished; False on timeout."""
        return self._done.wait(timeout)

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        if self.on_stage is not None:
            self.on_stage(stage)


class RequestQueue:
    """Bounded FIFO of :class:`Request` with a blocking ``get`` for the worker.

    The request the worker took last is :attr:`in_flight` until the worker calls
    :meth:`task_done`: taking it and draining the rest happen under one lock, so a request is
    always either waiting (returned by :meth:`drain`) or in flight, never in between.
    """

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._items: deque[Request] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._woken = False
        self.in_flight: Request | None = None

    def try_put(self, request: Request) -> bool:
        """Append unless full or closed."""
        with self._cond:
            if self._closed or len(self._items) >= self.capacity:
                return False
            self._items.append(request)
            self._cond.notify()
            return True

    def get(self, timeout: float | None = None) -> Request | None:
        """The oldest request; None on timeout, on :meth:`wake`, or when closed."""
        with self._cond:
            end = None if timeout is None else time.monotonic() + timeout
            while not self._items and not self._closed and not self._woken:
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            self._woken = False
            if self._closed or not self._items:
                return None
            self.in_flight = self._items.popleft()
            return self.in_flight

    def wake(self) -> None:
        """Make a waiting :meth:`get` return None now (new work that is not a request)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def begin(self, request: Request) -> bool:
        """Mark work the worker made itself (a tracked frame) as in flight, like a request it
        took: :meth:`drain` reports it and :meth:`wait_idle` waits for it. False when closed."""
        with self._cond:
            if self._closed:
                return False
            self.in_flight = request
            return True

    def task_done(self) -> None:
        """The worker finished :attr:`in_flight`."""
        with self._cond:
            self.in_flight = None
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until no request is in flight (True), or ``timeout`` seconds passed (False)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self.in_flight is not None:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def drain(self) -> tuple[list[Request], Request | None]:
        """Remove and return everything waiting, and the request in flight (if any)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            return items, self.in_flight

    def close(self) -> list[Request]:
        """Refuse new requests, wake the worker; returns what was waiting."""
        with self._cond:
            self._closed = True
            items = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return items

    def __len__(self) -> int:
        return len(self._items)


class ResultSequencer:
    """Publishes finished requests in arrival order.

    Every request takes a slot (:meth:`open`) on arrival. :meth:`fill` stores its outcome
    and publishes every consecutive finished slot from the oldest; a slot filled with None
    (a cancelled action goal) publishes nothing. At most ``max_held`` finished results wait
    behind an unfinished one; beyond that the oldest waiting ones go out of order (a flood of
    instructions during one long inference must not grow memory without bound).
    """

    def __init__(self, publish: Callable[[Request, Outgoing], None], max_held: int = 256,
                 on_overflow: Callable[[int], None] | None = None):
        self._publish = publish
        self._max_held = int(max_held)
        self._on_overflow = on_overflow
        self._slots: OrderedDict[int, Request | None] = OrderedDict()
        self._lock = threading.Lock()
        self._next = 0

    def open(self) -> int:
        with self._lock:
            seq = self._next
            self._next += 1
            self._slots[seq] = None
            return seq

    def fill(self, request: Request) -> None:
        """Hand over a finished request (its ``outgoing`` may be None: publish nothing)."""
        with self._lock:
            if request.seq not in self._slots:
                return
            self._slots[request.seq] = request
            self._flush()

    def _flush(self) -> None:
        while self._slots:
            seq, request = next(iter(self._slots.items()))
            if request is None:
                break
            del self._slots[seq]
            if request.outgoing is not None:
                self._publish(request, request.outgoing)
        finished = [s for s, r in self._slots.items() if r is not None]
        excess = len(finished) - self._max_held
        if excess > 0:
            early = 0
            for seq in finished[:excess]:
                request = self._slots.pop(seq)
                if request.outgoing is not None:
                    self._publish(request, request.outgoing)
                    early += 1
            if early and self._on_overflow is not None:
                self._on_overflow(early)

    @property
    def pending(self) -> int:
        return len(self._slots)
