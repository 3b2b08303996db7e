"""From instructions to published results: intake, the single inference worker, and outcomes.

:class:`Pipeline` is the node's request logic without the ROS plumbing (no rclpy import; the
node hands it a ``publish`` function and feeds it from its callbacks):

* :meth:`Pipeline.submit` (called from topic, service and action callbacks; cheap): gives the
  request an id and its place in the output order, answers bad input (INVALID_INPUT) and a full
  queue (DROPPED) at once, pairs camera frames, and queues the rest;
* one worker thread takes requests in order: waits for the paired frame when needed, checks
  the frame's age, converts the message, runs the model (through the core), and builds the
  messages: the result and answer first, then the union mask and overlay (drawn only while
  someone subscribes);
* every outcome goes through :class:`ResultSequencer` so results go out in arrival order.

Serving and stopping: the pipeline accepts requests only between :meth:`resume` and
:meth:`interrupt` (the node's activate and deactivate); a request submitted outside that window
is answered DROPPED at once with the reason, so every request gets exactly one outcome.
:meth:`interrupt` answers the waiting requests DROPPED and stops the running one at its next
decode step or stage (the core's ``on_token`` / ``on_stage`` hooks), then waits for the worker,
so that every outcome is published before the node deactivates its publishers.

Threads: callbacks call :meth:`submit` from executor threads; the worker is a daemon thread,
so shutdown (:meth:`close`) never waits for native code that does not return.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Callable

from std_msgs.msg import Header

from lisa_ros.core.errors import InvalidInputError, LisaError
from lisa_ros.msg import SegmentationResult

from . import conversions as conv
from .depth_frames import DepthStore
from .depth_step import add_3d
from .diagnostics import NodeStats
from .frames import Frame, FrameStore
from .outgoing import extras_of, result_message
from .requests import Cancelled, Outgoing, Request, RequestQueue, ResultSequencer, Stopping, Wanted
from .tracking import TrackedFrames, Tracker

__all__ = ["Pipeline", "Settings"]

log = logging.getLogger("lisa_ros.node")

R = SegmentationResult
WAIT_SLICE_S = 0.1  # how often a frame wait checks for stop/cancel


class Settings:
    """The runtime parameters the pipeline reads per request (plain attributes; the node
    updates them from its parameter callback, reads are atomic)."""

    def __init__(self, values: dict[str, Any]):
        self.update(values)

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name.replace(".", "_"), value)


class Pipeline:
    """Request intake, the inference worker and the in-order publication of outcomes.

    Args:
        segmenter: a loaded :class:`lisa_ros.core.segmenter.LisaSegmenter` (or anything with
            its ``segment`` signature).
        settings: runtime parameters (:class:`Settings`).
        frames: the node's frame store.
        publish: ``publish(request, outgoing)``: put one outcome on the wire. Results (with
            the answer) are handed over in arrival order, from whichever thread finished the
            oldest pending request; the union mask and overlay follow from the worker as an
            outgoing without result (so ``result`` is not delayed by drawing).
        stats: counters for diagnostics.
        start_id: prefix of request ids (unique per node start).
        wanted: ``() -> Wanted``: which optional outputs someone subscribes to; default: union
            mask and overlay (as the ``publish_overlay`` setting says), no 3D outputs.
        warn: where warnings go (the node passes its ROS logger).
        accepting: whether :meth:`submit` queues requests from the start (the node starts
            with False and calls :meth:`resume` when it activates).
        depths: the depth images received on the node's topics (None: none), for 3D.
    """

    def __init__(self, segmenter, settings: Settings, frames: FrameStore,
                 publish: Callable[[Request, Outgoing], None], stats: NodeStats, start_id: str,
                 wanted: Callable[[], Wanted] | None = None,
                 warn: Callable[[str], None] | None = None, accepting: bool = True,
                 depths: DepthStore | None = None):
        self.segmenter = segmenter
        self.settings = settings
        self.frames = frames
        self.depths = depths
        self.stats = stats
        self.start_id = start_id
        self.warn = warn or log.warning
        # the node skips optional outputs nobody subscribes to
        self.wanted = wanted or (lambda: Wanted(overlay=bool(self.settings.publish_overlay)))
        self.queue = RequestQueue(settings.max_queue)
        self.publish = publish
        self.sequencer = ResultSequencer(publish, on_overflow=self._overflow)
        self._counter = itertools.count(1)
        self._intake_lock = threading.Lock()
        self._stopping = threading.Event()
        self._refusal = None if accepting else "node is not active"
        self.tracker = Tracker()
        self.tracked_frames = TrackedFrames(self, self.tracker)
        # a new camera frame wakes the idle worker while an answer is tracked (event, not polling)
        frames.on_push = lambda: self.queue.wake() if self.tracker.active else None
        self._worker = threading.Thread(target=self._run, name="lisa-inference", daemon=True)
        self._worker.start()

    # -- intake (executor threads) ------------------------------------------------------------

    def submit(self, source: str, instruction: str, image=None,
               on_stage: Callable[[str], None] | None = None, depth=None, camera_info=None) -> Request:
        """Take one instruction (``image``: an explicit sensor_msgs/Image, or None for the
        camera frames; ``depth`` / ``camera_info``: an explicit depth image and its intrinsics,
        or None to pair them from the depth topics). Returns the request; it may already be
        finished (bad input, full queue).
        """
        received = time.monotonic()
        settings = self.settings
        with self._intake_lock:  # id, output slot and queue position in the same order
            number = next(self._counter)
            request = Request(
                request_id=f"{self.start_id}-{number}", seq=self.sequencer.open(), source=source,
                instruction=instruction, received=received, image=image, on_stage=on_stage,
                deadline=received + settings.pairing_timeout, depth=depth, camera_info=camera_info,
            )
            if self._refusal is not None:
                self._finish_status(request, R.DROPPED, self._refusal, self._header_of(image))
                return request
            problem = conv.request_problem(instruction, image, settings.max_instruction_chars,
                                           settings.max_image_pixels)
            if problem == conv.EMPTY_INSTRUCTION and self.tracker.stop("an empty instruction"):
                problem += " (tracking stopped)"
            if problem is not None:
                self._finish_status(request, R.INVALID_INPUT, problem, self._header_of(image))
                return request
            if image is None:
                self._pair(request, settings)
            self.queue.capacity = settings.max_queue
            if not self.queue.try_put(request):
                if request.waiter is not None:
                    self.frames.forget(request.waiter)
                reason = (f"queue full ({self.queue.capacity} waiting besides the running request); "
                          "raise max_queue or send fewer requests") if not self._stopping.is_set() \
                    else "node is shutting down"
                paired = request.frame.msg.header if request.frame is not None else None
                self._finish_status(request, R.DROPPED, reason, self._header_of(image) or paired)
        return request

    def _pair(self, request: Request, settings: Settings) -> None:
        if settings.pairing == "next":
            request.waiter = self.frames.wait_next()
        else:
            request.frame, request.waiter = self.frames.latest_or_wait()

    @staticmethod
    def _header_of(image) -> Header | None:
        return image.header if image is not None else None

    # -- outcomes -----------------------------------------------------------------------------

    def finish(self, request: Request, outgoing: Outgoing | None) -> bool:
        """First outcome of ``request`` wins; counted, then handed to the sequencer."""
        if not request.finish(outgoing):
            return False
        if request.waiter is not None:
            self.frames.forget(request.waiter)
        if outgoing is not None:
            result = outgoing.result
            result.latency_ms = float((time.monotonic() - request.received) * 1000.0)
            if not result.tracked:  # tracked frames are counted by the tracker
                self.stats.result(result.status, result.latency_ms, result.error)
        self.sequencer.fill(request)
        return True

    def _finish_status(self, request: Request, status: int, error: str, header: Header | None) -> bool:
        result = conv.status_result(status, error, header, request.request_id, request.instruction)
        return self.finish(request, Outgoing(result))

    def cancel(self, request: Request) -> bool:
        """Cancel ``request``: at once when still queued (nothing is published), else at the
        model's next decode step or stage. Returns True when it ended here."""
        request.cancel_requested = True
        if request is self.queue.in_flight:
            return False
        return self.finish(request, None)

    def expire(self, request: Request, error: str) -> bool:
        """End ``request`` with ERROR (e.g. a service timeout) and stop its inference at the next
        decode step or stage."""
        request.cancel_requested = True
        return self._finish_status(request, R.ERROR, error, self._header_of(request.image))

    def resume(self) -> None:
        """Accept requests (the node activated)."""
        with self._intake_lock:
            self._refusal = None

    def interrupt(self, reason: str, timeout: float) -> int:
        """Stop serving (the node deactivates): from now on :meth:`submit` answers DROPPED
        ``reason``; the waiting requests are answered so; the running one stops at its next
        decode step or stage and is answered so. Waits up to ``timeout`` seconds for the
        worker; a request still running then is answered DROPPED now (what it computes later
        is discarded), so when this returns every accepted request has its outcome.

        Returns how many requests were answered DROPPED here.
        """
        self.tracker.stop(reason)
        with self._intake_lock:
            self._refusal = reason
            pending, running = self.queue.drain()
            if running is not None:
                running.stop_reason = reason
        count = sum(self._finish_status(r, R.DROPPED, reason, self._header_of(r.image)) for r in pending)
        if running is not None and not self.queue.wait_idle(timeout):
            self.warn(f"request {running.request_id} did not stop within {timeout:g} s; answered DROPPED")
            count += self._finish_status(running, R.DROPPED, reason, self._header_of(running.image))
        return count

    def _overflow(self, count: int) -> None:
        self.stats.out_of_order += count
        self.warn(f"{count} results published out of order (too many finished behind a running request)")

    # -- the worker -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.queue.in_flight is not None

    def _run(self) -> None:
        while not self._stopping.is_set():
            request = self.queue.get(timeout=self.tracker.wait_s(time.monotonic(), self.frames.latest()))
            if request is None:  # nothing waiting: a tracked frame when one is due
                self.tracked_frames.run_if_due()
                continue
            try:
                if not request.done:  # not cancelled or expired while queued
                    self.process(request)
            except Exception as exc:  # noqa: BLE001 - never let the worker die
                self.warn(f"request {request.request_id} failed: {type(exc).__name__}: {exc}")
                self._finish_status(request, R.ERROR, f"{type(exc).__name__}: {exc}",
                                    self._header_of(request.image))
            finally:
                self.queue.task_done()

    def begin_internal(self, request_id: str, instruction: str, frame: Frame) -> Request | None:
        """A request the worker makes itself (a tracked frame, or the LLM asked again for a
        tracked answer) on camera frame ``frame``: it takes a slot in the output order and is
        in flight like a queued request. None when the pipeline no longer serves."""
        with self._intake_lock:
            if self._refusal is not None:
                return None
            request = Request(request_id=request_id, seq=self.sequencer.open(), source="track",
                              instruction=instruction, received=time.monotonic(), frame=frame)
        if not self.queue.begin(request):
            self.finish(request, None)
            return None
        return request

    def check(self, request: Request) -> None:
        """Raise when ``request`` must stop: the place where deactivation, shutdown and
        cancellation take effect (called per frame-wait slice, model stage and decode step)."""
        if request.stop_reason is not None:
            raise Stopping(request.stop_reason)
        if self._stopping.is_set():
            raise Stopping("node is shutting down")
        if request.cancel_requested:
            raise Cancelled()

    def _wait_frame(self, request: Request) -> Frame | None:
        waiter = request.waiter
        while True:
            self.check(request)
            remaining = request.deadline - time.monotonic()
            frame = waiter.wait(min(WAIT_SLICE_S, remaining))
            if frame is not None or remaining <= WAIT_SLICE_S:
                self.frames.forget(waiter)
                return frame

    def process(self, request: Request) -> None:
        """Answer one request (the worker's thread); with ``track`` on, its answer then becomes
        the tracked one, or ends tracking when it has no masks."""
        self.tracked_frames.after_answer(request, self._answer(request))

    def _answer(self, request: Request):
        """The request's outcome, published; returns the model output when it was OK."""
        settings = self.settings
        image_msg, frame_key, frame, header = request.image, None, None, None
        try:
            if image_msg is None:
                frame = request.frame or self._wait_frame(request)
                if frame is None:
                    waited = settings.pairing_timeout
                    what = "after the instruction" if settings.pairing == "next" else "yet"
                    self._finish_status(request, R.INVALID_INPUT,
                                        f"no image received {what} (waited pairing_timeout = {waited:g} s)", None)
                    return
                image_msg, frame_key = frame.msg, f"frame-{frame.seq}"
                age = frame.age()  # at inference start
                if settings.max_frame_age > 0 and age > settings.max_frame_age:
                    self._finish_status(request, R.INVALID_INPUT,
                                        f"no recent frame: the paired frame is {age:.2f} s old "
                                        f"(max_frame_age {settings.max_frame_age:g} s)", image_msg.header)
                    return
            header = image_msg.header
            rgb = conv.msg_to_rgb(image_msg, settings.max_image_pixels)
            if frame is not None:
                self.stats.frame_used(age)
            output = self.segmenter.segment(
                rgb, request.instruction, frame_key=frame_key, max_new_tokens=settings.max_new_tokens,
                on_stage=lambda stage: self._stage(request, stage), on_token=lambda _token: self.check(request),
            )
            self.check(request)  # the end of the last stage is a boundary too
            # stray patches stretch the box a grasp planner reads (opt-in: not the official output)
            output = output.without_small_components(settings.min_component_area)
            output = add_3d(output, header, request, self.depths, settings)
        except conv.ImageConversionError as exc:
            self._finish_status(request, R.INVALID_INPUT, str(exc), header)
            return
        except InvalidInputError as exc:
            self._finish_status(request, R.INVALID_INPUT, str(exc), header)
            return
        except Cancelled:
            self.finish(request, None)
            return
        except Stopping as stop:
            self._finish_status(request, R.DROPPED, str(stop), header)
            return
        except LisaError as exc:
            self._finish_status(request, R.ERROR, f"{type(exc).__name__}: {exc}", header)
            return
        except Exception as exc:  # noqa: BLE001 - model/runtime failure: answer, keep serving
            self.warn(f"model failed on request {request.request_id}: {type(exc).__name__}: {exc}")
            self._finish_status(request, R.ERROR, f"model failure: {type(exc).__name__}: {exc}", header)
            return
        # The result first (what planners wait for), then the extras (pictures, 3D outputs).
        result = result_message(output, header, request)
        if not self.finish(request, Outgoing(result=result, answer=output.answer_text)):
            return None
        wanted = self.wanted()
        if wanted.any():
            self.publish(request, extras_of(output, rgb, header, wanted))
        return output

    def _stage(self, request: Request, stage: str) -> None:
        """The core's on_stage hook: a stop point, then the stage is reported."""
        self.check(request)
        request.set_stage(stage)

    @staticmethod
    def build_outgoing(output, rgb, header: Header, request: Request, wanted: Wanted) -> Outgoing:
        """All messages of one model output at once: result, answer text and the ``wanted``
        extras (the node's whole output work; benchmarks time it)."""
        out = extras_of(output, rgb, header, wanted)
        out.result, out.answer = result_message(output, header, request), output.answer_text
        return out

    # -- shutdown ---------------------------------------------------------------------------------

    def close(self, timeout: float = 2.0, reason: str = "node is shutting down") -> bool:
        """Stop the worker (at the next decode step or stage), answer everything pending with
        DROPPED; :meth:`submit` answers DROPPED ``reason`` from now on.

        Returns True when the worker thread ended within ``timeout`` seconds (it is a daemon
        thread: a generation that does not reach a stage boundary in time cannot block exit).
        """
        self.tracker.stop(reason)
        with self._intake_lock:
            self._refusal = reason
            running = self.queue.in_flight
            if running is not None and running.stop_reason is None:
                running.stop_reason = reason
        self._stopping.set()
        for request in self.queue.close():
            self._finish_status(request, R.DROPPED, reason, self._header_of(request.image))
        self.frames.wake_all()
        self._worker.join(timeout)
        current = self.queue.in_flight
        if current is not None:  # still inside native code: answer its caller now
            self._finish_status(current, R.DROPPED, reason, self._header_of(current.image))
        return not self._worker.is_alive()

    @property
    def worker(self) -> threading.Thread:
        return self._worker

