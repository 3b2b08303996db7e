"""Continuous mode over DDS: after an answer, each new frame gets a tracked result (``tracked``
true, the answer's request_id and phrases, the frame's header) without the language model;
instructions go first; stop_tracking, an empty instruction, ``track`` off and deactivation end
it; the requery rule asks the model again; no frames means nothing published and no busy loop;
a 100 Hz camera is rate-limited with flat memory; an object that leaves ends in NO_TARGET.

One node process (the taught tiny model, its own namespace) serves the tests in file order;
each starts from "not tracking". The last test runs lisa-tiny on synthetic scenes.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from node_helpers import LIVENESS_S, NodeProcess, RosClient, camera_scene, image_msg, node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

OK, NO_TARGET, INVALID_INPUT = 0, 1, 2
MUG = "Where is the mug?"
# Thresholds that never fire on the tiny model (its SAM scores are arbitrary): pure tracking.
NO_REQUERY = {"track_min_score": 0.0, "track_max_age": 3600.0, "track_area_factor": 1000.0}


class Camera:
    """Publishes one picture at ``rate`` Hz with increasing stamps until stopped."""

    def __init__(self, client: RosClient, rgb: np.ndarray, rate: float = 10.0):
        self.client, self.rate, self.sent = client, rate, 0
        self._rgb = rgb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def show(self, rgb: np.ndarray) -> None:
        self._rgb = rgb

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            self.client.image_pub.publish(image_msg(self._rgb, (1000 + self.sent // 1000, (self.sent % 1000) * 1_000_000),
                                                    "cam"))
            self._stop.wait(1.0 / self.rate)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _since(client: RosClient, count: int) -> list:
    return client.results.msgs()[count:]


def _wait_for(client: RosClient, predicate, timeout: float = LIVENESS_S) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = client.results.msgs()
        if predicate(msgs):
            return msgs
        time.sleep(0.05)
    raise AssertionError(f"condition not met; results: {[(r.request_id, r.tracked, r.status) for r in msgs]}")


@pytest.fixture(scope="module")
def world(tiny_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("tracking") / "node.log"
    node = NodeProcess(dict(os.environ, PYTHONUNBUFFERED="1"),
                       node_params(tiny_model, track=True, track_rate=5.0, max_frame_age=30.0, **NO_REQUERY),
                       log, args=("--ros-args", "-r", "__ns:=/tracking"))
    client = None
    try:
        node.wait_log("active:", timeout=240)
        client = RosClient(int(os.environ["ROS_DOMAIN_ID"]), name="tracking_client", namespace="tracking")
        client.wait_connected()
        yield node, client
    finally:
        if client is not None:
            client.close()
        node.stop()


@pytest.fixture
def fresh(world):
    """Not tracking, default tracking parameters, empty collectors."""
    node, client = world
    from std_srvs.srv import Trigger

    client.set_parameters(track=True, track_rate=5.0, track_requery=True, **NO_REQUERY)
    client.call(client.stop_tracking, Trigger.Request())
    client.wait_idle(quiet=0.8)
    client.clear()
    return node, client


def test_new_frames_get_tracked_results_without_the_model(fresh):
    node, client = fresh
    camera = Camera(client, camera_scene())
    try:
        time.sleep(0.5)
        client.instruct(MUG)
        msgs = _wait_for(client, lambda m: sum(r.tracked for r in m) >= 4)
    finally:
        camera.stop()
    answer, tracked = msgs[0], [r for r in msgs if r.tracked]
    assert answer.status == OK and not answer.tracked and len(answer.masks) == 1
    for index, result in enumerate(tracked[:4], start=1):
        assert result.request_id == answer.request_id and list(result.phrases) == list(answer.phrases)
        assert result.status == OK and result.instruction == MUG and len(result.masks) == 1
        assert result.frames_since_answer == index and result.seconds_since_answer > 0
    stamps = [(r.header.stamp.sec, r.header.stamp.nanosec) for r in [answer, *tracked]]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # each a newer frame
    # the same picture on every frame: re-prompting gives the answer's mask exactly
    assert all(bytes(r.masks[0].data) == bytes(answer.masks[0].data) for r in tracked)
    assert len(client.answers.msgs()) == 1  # the answer topic carries the model's answers only
    diagnostics = client.latest_diagnostics()
    assert int(diagnostics["tracked_frames"]) >= 4 and diagnostics["tracking"].startswith("tracking request")
    assert int(diagnostics["answered_ok"]) >= 1


def test_stop_tracking_service_and_empty_instruction_end_it(fresh):
    from std_srvs.srv import Trigger

    node, client = fresh
    camera = Camera(client, camera_scene())
    try:
        client.instruct(MUG)
        _wait_for(client, lambda m: sum(r.tracked for r in m) >= 2)
        response = client.call(client.stop_tracking, Trigger.Request())
        assert response.success and "stopped tracking request" in response.message
        time.sleep(0.6)  # a tracked frame in flight may still land
        count = len(client.results.msgs())
        time.sleep(1.5)
        assert len(client.results.msgs()) == count
        assert not client.call(client.stop_tracking, Trigger.Request()).success

        client.instruct(MUG)
        _wait_for(client, lambda m: sum(r.tracked for r in m[count:]) >= 2)
        client.instruct("   ")
        msgs = _wait_for(client, lambda m: any(r.status == INVALID_INPUT for r in m))
        refusal = next(r for r in msgs if r.status == INVALID_INPUT)
        assert refusal.error == "instruction is empty (tracking stopped)"
        time.sleep(0.6)
        count = len(client.results.msgs())
        time.sleep(1.5)
        assert len(client.results.msgs()) == count
    finally:
        camera.stop()


def test_an_instruction_replaces_the_tracked_answer_and_goes_first(fresh):
    """While tracking at 10 Hz, a new instruction is answered before any later tracked frame of
    the old answer: at most the one tracked frame running when it arrived comes between."""
    node, client = fresh
    client.set_parameters(track_rate=20.0)
    camera = Camera(client, camera_scene(), rate=30.0)
    try:
        client.instruct(MUG)
        first = _wait_for(client, lambda m: sum(r.tracked for r in m) >= 3)[0]
        start = len(client.results.msgs())
        client.instruct("Where are the mug and the cup?")
        msgs = _wait_for(client, lambda m: any(len(r.masks) == 2 and r.tracked for r in m[start:]))[start:]
    finally:
        camera.stop()
    new_answer = next(i for i, r in enumerate(msgs) if not r.tracked)
    assert sum(r.request_id == first.request_id for r in msgs[:new_answer]) <= 1
    assert all(r.request_id != first.request_id for r in msgs[new_answer:])
    assert all(len(r.masks) == 2 for r in msgs[new_answer:])


def test_track_off_and_deactivation_end_it(fresh):
    node, client = fresh
    camera = Camera(client, camera_scene())
    try:
        client.instruct(MUG)
        _wait_for(client, lambda m: sum(r.tracked for r in m) >= 2)
        client.set_parameters(track=False)
        time.sleep(0.6)
        count = len(client.results.msgs())
        time.sleep(1.2)
        assert len(client.results.msgs()) == count
        client.set_parameters(track=True)
        client.instruct(MUG)
        _wait_for(client, lambda m: sum(r.tracked for r in m[count:]) >= 2)
        assert client.transition(4)  # deactivate: tracking ends, nothing left running
        count = len(client.results.msgs())
        time.sleep(1.2)
        assert len(client.results.msgs()) == count
        assert client.latest_diagnostics()["tracking"].endswith("node deactivated")
        assert client.transition(3)
        client.wait_connected()
        time.sleep(1.2)
        assert len(client.results.msgs()) == count  # activation does not resume it
    finally:
        camera.stop()


def test_no_frames_means_nothing_published_and_no_busy_loop(fresh):
    node, client = fresh
    camera = Camera(client, camera_scene())
    client.instruct(MUG)
    try:
        _wait_for(client, lambda m: sum(r.tracked for r in m) >= 1)
    finally:
        camera.stop()
    time.sleep(0.6)
    count = len(client.results.msgs())
    cpu_before, wall_before = _cpu_seconds(node.proc.pid), time.monotonic()
    time.sleep(3.0)
    cpu = _cpu_seconds(node.proc.pid) - cpu_before
    assert len(client.results.msgs()) == count
    assert cpu < 0.5 * (time.monotonic() - wall_before), f"{cpu:.2f} s of CPU in 3 s idle"
    assert "waiting for a new frame" in client.latest_diagnostics()["tracking"]


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_100_hz_camera_is_rate_limited_with_flat_memory(fresh):
    node, client = fresh
    client.set_parameters(track_rate=5.0)
    camera = Camera(client, camera_scene(), rate=100.0)
    try:
        client.instruct(MUG)
        _wait_for(client, lambda m: sum(r.tracked for r in m) >= 1)
        start_count, start = sum(r.tracked for r in client.results.msgs()), time.monotonic()
        rss_start = node.rss_mb()
        time.sleep(6.0)
        tracked = sum(r.tracked for r in client.results.msgs()) - start_count
        seconds = time.monotonic() - start
        rss_end = node.rss_mb()
    finally:
        camera.stop()
    assert 1 <= tracked <= 5.0 * seconds + 2, (tracked, seconds)
    assert rss_end - rss_start < 50, (rss_start, rss_end)


def test_requery_asks_the_model_again_and_tracking_continues(fresh):
    node, client = fresh
    client.set_parameters(track_max_age=0.5)
    camera = Camera(client, camera_scene())
    try:
        client.instruct(MUG)
        msgs = _wait_for(client, lambda m: sum(not r.tracked for r in m) >= 3 and m[-1].tracked)
    finally:
        camera.stop()
    answers = [r for r in msgs if not r.tracked]
    assert len({r.request_id for r in msgs}) == 1  # one instruction, answered again by the rule
    assert all(r.status == OK and r.answer == answers[0].answer for r in answers)
    assert int(client.latest_diagnostics()["requeries"]) >= 2


def test_an_object_that_leaves_is_asked_again_and_ends_no_target(lisa_tiny_world):
    """lisa-tiny tracks "the green cup" on one synthetic scene; the camera then shows another
    scene without it: the requery rule asks the model again, which answers NO_TARGET, and
    tracking ends."""
    from lisa_ros.data.synth import render_scene

    client = lisa_tiny_world
    instruction = "the green cup here"
    with_cup = render_scene(0, 0, size=(640, 480), family="explicit").image
    without = render_scene(0, 40, size=(640, 480), family="explicit").image
    camera = Camera(client, with_cup)
    try:
        client.instruct(instruction)
        _wait_for(client, lambda m: sum(r.tracked for r in m) >= 1, timeout=120)
        camera.show(without)
        msgs = _wait_for(client, lambda m: any(r.status == NO_TARGET for r in m), timeout=120)
        time.sleep(1.5)
        after = _since(client, len(msgs))
    finally:
        camera.stop()
    end = next(r for r in msgs if r.status == NO_TARGET)
    assert not end.tracked and end.request_id == msgs[0].request_id and "can't find" in end.answer
    assert after == []
    assert "without masks to track" in client.latest_diagnostics()["tracking"]


@pytest.fixture
def lisa_tiny_world(subprocess_env, tmp_path):
    node = NodeProcess(subprocess_env, {"device": "cpu", "track": True, "track_rate": 5.0, "track_max_age": 1.0,
                                        "max_frame_age": 30.0, "diagnostics_period": 0.5}, tmp_path / "node.log")
    client = None
    try:
        node.wait_log("active:", timeout=240)
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        client.wait_connected()
        yield client
    finally:
        if client is not None:
            client.close()
        node.stop()
