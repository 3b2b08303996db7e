"""The node's building blocks without DDS: frame store and pairing, request queue, in-order
publication, and the pipeline with a real core output from a stand-in segmenter."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from lisa_ros.node.frames import FrameStore
from lisa_ros.node.requests import Outgoing, Request, RequestQueue, ResultSequencer, Wanted


def _request(seq: int) -> Request:
    return Request(request_id=f"t-{seq}", seq=seq, source="topic", instruction="q", received=time.monotonic())


def test_frame_store_is_bounded_and_keeps_the_newest():
    store = FrameStore(3)
    for index in range(10):
        store.push(f"m{index}")
    assert len(store) == 3 and store.latest().msg == "m9" and store.latest().seq == 10
    assert store.received == 10
    store.resize(1)
    assert len(store) == 1 and store.latest().msg == "m9"


def test_next_pairing_gets_the_first_frame_after_registration():
    store = FrameStore(2)
    store.push("before")
    waiter = store.wait_next()
    assert waiter.wait(0.01) is None
    store.push("first")
    store.push("second")
    assert waiter.wait(0).msg == "first"
    assert store.waiting == 0


def test_latest_or_wait():
    store = FrameStore(2)
    frame, waiter = store.latest_or_wait()
    assert frame is None and waiter is not None
    threading.Timer(0.05, store.push, args=("late",)).start()
    assert waiter.wait(2.0).msg == "late"
    frame, waiter = store.latest_or_wait()
    assert frame.msg == "late" and waiter is None


def test_wake_all_and_forget():
    store = FrameStore(2)
    waiter = store.wait_next()
    store.forget(waiter)
    assert store.waiting == 0
    waiter = store.wait_next()
    store.wake_all()
    assert waiter.wait(1.0) is None


def test_image_callback_stores_references_and_stays_bounded():
    """What the image callback does per frame: keep a reference to the message (no conversion,
    no copy) in a bounded buffer. Its time is measured by bench/node_overhead.py, not here."""
    store = FrameStore(10)
    messages = [object() for _ in range(20000)]
    for msg in messages:
        store.push(msg)
    assert len(store) == 10 and store.received == 20000
    assert store.latest().msg is messages[-1]  # the very object, unconverted


def test_queue_bounded_and_closable():
    queue = RequestQueue(2)
    assert queue.try_put(_request(0)) and queue.try_put(_request(1))
    assert not queue.try_put(_request(2))
    assert queue.get(0.1).seq == 0
    assert [r.seq for r in queue.close()] == [1]
    assert not queue.try_put(_request(3))
    assert queue.get(0.1) is None


def test_sequencer_publishes_in_arrival_order():
    published = []
    sequencer = ResultSequencer(lambda request, out: published.append(request.seq))
    requests = []
    for _ in range(4):
        request = _request(sequencer.open())
        requests.append(request)
    for index in (2, 3, 1):
        requests[index].finish(Outgoing(result=index))
        sequencer.fill(requests[index])
    assert published == []
    requests[0].finish(Outgoing(result=0))
    sequencer.fill(requests[0])
    assert published == [0, 1, 2, 3]


def test_sequencer_skips_cancelled_and_bounds_what_it_holds():
    published, overflow = [], []
    sequencer = ResultSequencer(lambda request, out: published.append(request.seq), max_held=2,
                                on_overflow=overflow.append)
    head = _request(sequencer.open())
    cancelled = _request(sequencer.open())
    cancelled.finish(None)
    sequencer.fill(cancelled)
    for _ in range(4):
        request = _request(sequencer.open())
        request.finish(Outgoing(result=request.seq))
        sequencer.fill(request)
    assert published == [2, 3] and sum(overflow) == 2  # out of order, bounded
    head.finish(Outgoing(result=0))
    sequencer.fill(head)
    assert published == [2, 3, 0, 4, 5]


def test_request_first_finish_wins():
    request = _request(0)
    assert request.finish(Outgoing(result="a"))
    assert not request.finish(Outgoing(result="b"))
    assert request.outgoing.result == "a" and request.wait(0)


# -- the pipeline with a stand-in model stage ---------------------------------------------------

class StandIn:
    """Returns a real SegmentationOutput built from precomputed masks (no model)."""

    def __init__(self, delay: float = 0.0, fail: Exception | None = None, stray: bool = False,
                 tokens: int = 0, step: float = 0.0):
        self.delay, self.fail, self.calls, self.stray = delay, fail, [], stray
        self.tokens, self.step, self.steps_done = tokens, step, 0

    def segment(self, image, instruction, *, frame_key=None, max_new_tokens=None, on_stage=None, on_token=None):
        from lisa_ros.core.postprocess import mask_box
        from lisa_ros.core.results import MaskResult, SegmentationOutput, Status

        self.calls.append((image.shape, instruction, frame_key))
        for stage in ("encoding_image", "generating"):
            on_stage(stage)
            time.sleep(self.delay)
        for token in range(self.tokens):  # decode steps, as the core reports them
            time.sleep(self.step)
            self.steps_done += 1
            on_token(token)
        if self.fail is not None:
            raise self.fail
        mask = np.zeros(image.shape[:2], bool)
        mask[1:3, 1:3] = True
        if self.stray:  # one pixel in the far corner: the box grows to the whole frame
            mask[-1, -1] = True
        on_stage("decoding_masks")
        box = mask_box(mask)
        return SegmentationOutput(Status.OK, "Sure, [SEG].", [MaskResult(mask, 0.9, box, "Sure")], image.shape[:2])


def _pipeline(segmenter, accepting=True, **overrides):
    from lisa_ros.node.diagnostics import NodeStats
    from lisa_ros.node.parameters import load_params_file
    from lisa_ros.node.pipeline import Pipeline, Settings

    from pathlib import Path

    values = load_params_file(Path(__file__).resolve().parents[2] / "config" / "lisa.yaml")
    values.update(overrides)
    published = []  # results in publication order; the pictures that follow go to .pictures

    def publish(request, out):
        if out.result is not None:
            published.append(out.result)
        else:
            pipe.pictures.append(out)

    pipe = Pipeline(segmenter, Settings(values), FrameStore(values["frame_buffer"]), publish, NodeStats(), "unit",
                    accepting=accepting)
    pipe.pictures = []
    return pipe, published


def _frame(height=6, width=8):
    from node_helpers import image_msg

    return image_msg(np.full((height, width, 3), 50, np.uint8), stamp=(1, 2))


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert predicate()


def test_pipeline_topic_request_and_ids():
    pipe, published = _pipeline(StandIn())
    try:
        pipe.frames.push(_frame())
        first = pipe.submit("topic", "find it")
        second = pipe.submit("topic", "   ")
        _wait(lambda: len(published) == 2)
        assert [r.request_id for r in published] == ["unit-1", "unit-2"]
        assert [r.status for r in published] == [0, 2]
        assert published[0].header.stamp.sec == 1 and len(published[0].masks) == 1
        assert first.outgoing.answer == "Sure." and second.outgoing.result.error == "instruction is empty"
        assert pipe.segmenter.calls[0][2] == "frame-1"
    finally:
        pipe.close()


@pytest.mark.parametrize("min_area, box, pixels", [(0, (1, 1, 7, 5), 5), (2, (1, 1, 2, 2), 4)])
def test_pipeline_drops_small_mask_parts_only_when_asked(min_area, box, pixels):
    """min_component_area 0 publishes the model's mask as it is; 2 drops the stray pixel, and
    the published box and mask follow."""
    pipe, published = _pipeline(StandIn(stray=True), min_component_area=min_area)
    try:
        pipe.frames.push(_frame())
        pipe.submit("topic", "find it")
        _wait(lambda: len(published) == 1)
        roi = published[0].boxes[0]
        assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == box
        assert sum(1 for value in published[0].masks[0].data if value) == pixels
    finally:
        pipe.close()


def test_pipeline_queue_overflow_is_dropped_at_once():
    pipe, published = _pipeline(StandIn(delay=0.2), max_queue=1)
    try:
        pipe.frames.push(_frame())
        requests = [pipe.submit("service", "q")]
        _wait(lambda: pipe.busy)
        requests += [pipe.submit("service", "q") for _ in range(3)]
        assert [r.done for r in requests[2:]] == [True, True]
        assert all(r.outgoing.result.status == 3 and "queue full" in r.outgoing.result.error for r in requests[2:])
        _wait(lambda: len(published) == 4, timeout=10)
        assert [r.status for r in published] == [0, 0, 3, 3]  # still in arrival order
    finally:
        pipe.close()


def test_pipeline_model_exception_is_error():
    pipe, published = _pipeline(StandIn(fail=RuntimeError("CUDA out of memory")))
    try:
        pipe.frames.push(_frame())
        request = pipe.submit("topic", "q")
        assert request.wait(5)
        result = request.outgoing.result
        assert result.status == 4 and result.error == "model failure: RuntimeError: CUDA out of memory"
        assert pipe.stats.snapshot()["last_error"] == result.error
    finally:
        pipe.close()


def test_pipeline_cancel_running_request_between_stages():
    pipe, published = _pipeline(StandIn(delay=0.3))
    try:
        stages = []
        request = pipe.submit("action", "q", image=_frame(), on_stage=stages.append)
        _wait(lambda: "encoding_image" in stages)
        assert not pipe.cancel(request)  # running: takes effect at the next boundary
        assert request.wait(5) and request.outgoing is None
        assert "decoding_masks" not in stages
        time.sleep(0.1)
        assert published == []  # a cancelled goal publishes nothing
    finally:
        pipe.close()


def test_pipeline_close_answers_pending_requests():
    pipe, published = _pipeline(StandIn(delay=0.5))
    pipe.frames.push(_frame())
    running = pipe.submit("service", "q")
    waiting = pipe.submit("service", "q")
    _wait(lambda: pipe.busy)
    assert pipe.close(timeout=3.0)
    assert waiting.outgoing.result.status == 3 and waiting.outgoing.result.error == "node is shutting down"
    assert running.done


def test_pipeline_skips_pictures_nobody_wants():
    pipe, published = _pipeline(StandIn())
    pipe.wanted = lambda: Wanted(mask=False, overlay=False)
    try:
        request = pipe.submit("service", "q", image=_frame())
        assert request.wait(5)
        assert request.outgoing.result.status == 0 and len(request.outgoing.result.masks) == 1
        time.sleep(0.2)
        assert pipe.pictures == []
        pipe.wanted = lambda: Wanted(mask=True, overlay=False)
        request = pipe.submit("service", "q", image=_frame())
        _wait(lambda: len(pipe.pictures) == 1)
        assert pipe.pictures[0].mask is not None and pipe.pictures[0].overlay is None
        assert pipe.pictures[0].mask.header == request.outgoing.result.header
    finally:
        pipe.close()


def test_pipeline_interrupt_answers_every_request_and_stops_the_running_one():
    """Deactivation: the waiting requests and the running one are answered DROPPED with the
    reason, in arrival order, before interrupt returns; the running one stopped at its next
    decode step (it would have taken 10 s); later submissions are refused until resume."""
    model = StandIn(tokens=10_000, step=0.001)
    pipe, published = _pipeline(model)
    try:
        requests = [pipe.submit("service", f"q{i}", image=_frame()) for i in range(3)]
        _wait(lambda: model.steps_done > 0)
        pipe.interrupt("node deactivated", timeout=5.0)
        assert all(r.done for r in requests)
        assert [(r.instruction, r.status, r.error) for r in published] == [
            (f"q{i}", 3, "node deactivated") for i in range(3)]
        steps = model.steps_done
        time.sleep(0.2)
        assert model.steps_done == steps < 10_000 and not pipe.busy
        refused = pipe.submit("topic", "late")
        assert refused.outgoing.result.status == 3 and refused.outgoing.result.error == "node deactivated"
        assert len(published) == 4  # answered once, at once
        model.tokens = 0
        pipe.resume()
        served = pipe.submit("service", "again", image=_frame())
        assert served.wait(5) and served.outgoing.result.status == 0
    finally:
        pipe.close()


def test_pipeline_interrupt_answers_a_request_that_does_not_stop():
    """A model stage that never reaches a stop point (native code): after the timeout the
    request is answered DROPPED anyway, and what it computes later is not published."""
    model = StandIn(delay=1.0)
    pipe, published = _pipeline(model)
    try:
        request = pipe.submit("service", "slow", image=_frame())
        _wait(lambda: pipe.busy)
        pipe.interrupt("node deactivated", timeout=0.1)
        assert request.done and request.outgoing.result.status == 3
        assert [r.status for r in published] == [3]
        time.sleep(2.2)
        assert [r.status for r in published] == [3]
    finally:
        pipe.close()


def test_pipeline_refuses_until_resumed():
    pipe, published = _pipeline(StandIn(), accepting=False)
    try:
        pipe.frames.push(_frame())
        request = pipe.submit("topic", "too early")
        assert request.outgoing.result.status == 3 and request.outgoing.result.error == "node is not active"
        assert published == [request.outgoing.result]
        pipe.resume()
        assert pipe.submit("topic", "now").wait(5) and [r.status for r in published] == [3, 0]
    finally:
        pipe.close()
