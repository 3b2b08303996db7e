"""Continuous mode in the node: keep the answered objects segmented on new frames.

With the runtime parameter ``track`` on, an OK answer to an instruction on the camera frames
becomes the tracked answer. When the worker has no request waiting, it re-prompts the newest
colour frame with that answer's prompt embeddings (SAM's encoder and decoder only: no CLIP, no
LLM; :meth:`LisaSegmenter.reprompt`), at most ``track_rate`` times a second, and publishes the
result with ``tracked`` true, the answer's request_id and phrases, and the 3D of that frame.
Instructions come first: a tracked frame only starts when the queue is empty, so it delays an
instruction by at most one tracked frame.

When a tracked frame should be answered by the LLM again (:func:`~lisa_ros.core.tracking.
requery_reason_for`: a mask left the image, its score fell under ``track_min_score``, its area
changed by more than ``track_area_factor``, or the answer is older than ``track_max_age``) and
``track_requery`` is on, the same instruction is answered again on that frame (``tracked``
false) and tracking continues from the new answer; an answer without ``[SEG]`` is published
NO_TARGET and ends tracking. A new instruction replaces the tracked answer; an empty
instruction, the ``stop_tracking`` service, ``track`` turned off, and deactivation end it.

:class:`Tracker` is the state (thread-safe; no rclpy); :class:`TrackedFrames` is the worker's
second kind of work, run by :class:`~lisa_ros.node.pipeline.Pipeline` between requests.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lisa_ros.core.tracking import RequeryRule, requery_reason_for

from .conversions import msg_to_rgb
from .depth_step import add_3d
from .outgoing import extras_of, result_message
from .requests import Cancelled, Outgoing, Request, Stopping

if TYPE_CHECKING:
    from lisa_ros.core.results import SegmentationOutput

    from .frames import Frame, FrameStore
    from .pipeline import Pipeline

__all__ = ["Tracked", "Tracker", "TrackedFrames", "IDLE_WAIT_S"]

log = logging.getLogger("lisa_ros.node")
IDLE_WAIT_S = 0.5  # the worker's longest wait when nothing is due (a new frame wakes it sooner)


@dataclass
class Tracked:
    """The answer being tracked.

    Attributes:
        request_id, instruction: of the request the LLM answered (kept by every tracked result).
        answer: the LLM's OK output (its ``prompts`` drive SAM on new frames).
        answered_at: receipt time (``time.monotonic()``) of the answer's source frame.
        previous: the last output of this answer (the answer itself, then each tracked frame).
        frame_seq: the frame store's number of the last frame used.
    """

    request_id: str
    instruction: str
    answer: SegmentationOutput
    answered_at: float
    previous: SegmentationOutput
    frame_seq: int


class Tracker:
    """Which answer is tracked and when the next tracked frame is due."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tracked: Tracked | None = None
        self._next_due = 0.0
        self.tracked_frames = 0  # published tracked results
        self.requeries = 0       # LLM answers asked for by the requery rule
        self.last_event = "off"  # for diagnostics: why tracking started or stopped

    @property
    def active(self) -> bool:
        return self._tracked is not None

    def start(self, request: Request, output: SegmentationOutput, frame: Frame) -> None:
        """Track ``output`` (an OK answer to ``request`` on camera frame ``frame``)."""
        with self._lock:
            self._tracked = Tracked(request.request_id, request.instruction, output, frame.received, output,
                                    frame.seq)
            self.last_event = f"tracking request {request.request_id}"

    def stop(self, reason: str) -> str | None:
        """End tracking; returns the request id that was tracked (None when nothing was)."""
        with self._lock:
            tracked, self._tracked = self._tracked, None
            if tracked is not None:
                self.last_event = f"stopped tracking request {tracked.request_id}: {reason}"
        return tracked.request_id if tracked is not None else None

    def due(self, frames: FrameStore, rate_hz: float, now: float) -> tuple[Tracked, Frame] | None:
        """The tracked answer and the newest frame, when a frame newer than the last one used
        exists and ``1 / rate_hz`` seconds passed since the last tracked frame started."""
        with self._lock:
            tracked, frame = self._tracked, frames.latest()
            if tracked is None or frame is None or frame.seq <= tracked.frame_seq or now < self._next_due:
                return None
            self._next_due = now + 1.0 / rate_hz
            return tracked, frame

    def wait_s(self, now: float, newest: Frame | None) -> float:
        """How long the worker may sleep before tracking needs it: until the next tracked frame
        is due when a new frame is there, else :data:`IDLE_WAIT_S` (a new frame wakes it)."""
        with self._lock:
            tracked = self._tracked
            if tracked is None or newest is None or newest.seq <= tracked.frame_seq:
                return IDLE_WAIT_S
            return min(IDLE_WAIT_S, max(0.0, self._next_due - now))

    def advance(self, tracked: Tracked, output: SegmentationOutput, frame: Frame) -> None:
        """``output`` of ``frame`` was published for ``tracked`` (unless tracking moved on)."""
        with self._lock:
            if self._tracked is tracked:
                tracked.previous, tracked.frame_seq = output, frame.seq
                self.tracked_frames += 1

    def is_current(self, tracked: Tracked) -> bool:
        return self._tracked is tracked

    def snapshot(self, now: float, newest: Frame | None = None) -> dict[str, str]:
        """Diagnostics: the state in words (``newest``: the frame store's newest frame), and the
        counters."""
        tracked = self._tracked
        state = self.last_event
        if tracked is not None:
            state = (f"tracking request {tracked.request_id} ({tracked.previous.frames_since_answer} frames, "
                     f"answer {now - tracked.answered_at:.1f} s old)")
            if newest is None or newest.seq <= tracked.frame_seq:
                age = "none received" if newest is None else f"the newest is {now - newest.received:.1f} s old"
                state += f"; waiting for a new frame ({age})"
        return {"tracking": state, "tracked_frames": str(self.tracked_frames), "requeries": str(self.requeries)}


def requery_rule(settings) -> RequeryRule:
    return RequeryRule(max_age_s=settings.track_max_age, min_score=settings.track_min_score,
                       max_area_factor=settings.track_area_factor)


class TrackedFrames:
    """The worker's tracked frames (run only by the pipeline's worker thread)."""

    def __init__(self, pipeline: Pipeline, tracker: Tracker):
        self.pipeline = pipeline
        self.tracker = tracker

    def after_answer(self, request: Request, output: SegmentationOutput | None) -> None:
        """An instruction was answered (``output`` None: not OK or no model output): with
        ``track`` on, an OK answer on a camera frame becomes the tracked one, anything else
        ends tracking (the new instruction replaced the tracked answer)."""
        if not self.pipeline.settings.track:
            return
        if output is not None and output.masks and request.frame is not None and request.image is None:
            self.tracker.start(request, output, request.frame)
        else:
            self.tracker.stop(f"request {request.request_id} was answered without masks to track")

    def run_if_due(self) -> None:
        """Re-prompt the newest frame when it is due (the worker calls this when idle)."""
        pipeline = self.pipeline
        settings = pipeline.settings
        if not self.tracker.active:
            return
        if not settings.track:
            self.tracker.stop("parameter track is false")
            return
        due = self.tracker.due(pipeline.frames, settings.track_rate, time.monotonic())
        if due is None:
            return
        tracked, frame = due
        request = pipeline.begin_internal(tracked.request_id, tracked.instruction, frame)
        if request is None:  # the pipeline stopped serving meanwhile
            return
        try:
            self._track(tracked, frame, request)
        finally:
            pipeline.queue.task_done()

    def _track(self, tracked: Tracked, frame: Frame, request: Request) -> None:
        pipeline = self.pipeline
        settings = pipeline.settings
        header = frame.msg.header
        try:
            rgb = msg_to_rgb(frame.msg, settings.max_image_pixels)
            output = pipeline.segmenter.reprompt(
                rgb, tracked.answer, frame_key=f"frame-{frame.seq}", helper=settings.track_helper,
                previous=tracked.previous, seconds_since_answer=max(0.0, frame.received - tracked.answered_at),
                on_stage=lambda stage: pipeline.check(request),
            )
            pipeline.check(request)
            output = output.without_small_components(settings.min_component_area)
            output = add_3d(output, header, request, pipeline.depths, settings)
        except (Stopping, Cancelled):
            pipeline.finish(request, None)
            return
        except Exception as exc:  # noqa: BLE001 - a bad frame ends tracking, never the worker
            pipeline.warn(f"tracked frame of request {tracked.request_id} failed: {type(exc).__name__}: {exc}")
            pipeline.finish(request, None)
            self.tracker.stop(f"a tracked frame failed: {type(exc).__name__}: {exc}")
            return
        reason = requery_reason_for(tracked.answer, output, requery_rule(settings))
        if reason is not None and settings.track_requery and self.tracker.is_current(tracked):
            pipeline.finish(request, None)  # this frame is answered by the LLM instead
            self.tracker.requeries += 1
            log.info("request %s: asking the model again (%s)", tracked.request_id, reason)
            again = pipeline.begin_internal(tracked.request_id, tracked.instruction, frame)
            if again is not None:  # on the same frame; process continues or ends tracking
                pipeline.process(again)
            return
        result = result_message(output, header, request)
        result.tracked = True
        result.frames_since_answer = int(output.frames_since_answer)
        result.seconds_since_answer = float(output.seconds_since_answer)
        if pipeline.finish(request, Outgoing(result=result)):
            self.tracker.advance(tracked, output, frame)
            wanted = pipeline.wanted()
            if wanted.any():
                pipeline.publish(request, extras_of(output, rgb, header, wanted))
