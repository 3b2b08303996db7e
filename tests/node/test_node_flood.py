"""Flood: 30 Hz 640x480 rgb8 frames for 20 s with an instruction every second.

Checks: every instruction is answered (results come in order, one per instruction; DROPPED
allowed, INVALID_INPUT only as the node's own "no recent frame" refusal); the node's RSS grows
by less than 50 MB between 5 s and the end; no result used a frame older than 1 s when its
inference started. For that last point the camera pauses for 3.5 s in the middle, so that
instructions find only old frames: from outside, an instruction whose newest frame was
published more than 1.4 s before it was sent (and no new frame came within 0.5 s) must be
answered INVALID_INPUT "no recent frame", and every answered result's header stamp (the
publisher's wall clock) must be no older than 1 s before its instruction was sent (pairing
``latest`` takes the newest frame when the instruction arrives). Ends with a lifecycle shutdown
from the active state: the process must exit within 5 s.
"""
from __future__ import annotations

import array
import threading
import time

import pytest

from node_helpers import LIVENESS_S, NodeProcess, RosClient, camera_scene, node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

OK, NO_TARGET, INVALID_INPUT, DROPPED, ERROR = range(5)
DURATION_S, RATE_HZ = 20.0, 30.0
CAMERA_PAUSE_S = (10.0, 13.5)  # seconds after the start without frames
INSTRUCTIONS = ("Where is the mug?", "Where are the mug and the cup?", "Is there a banana?")


def test_flood(tiny_model, subprocess_env, tmp_path):
    from sensor_msgs.msg import Image

    params = node_params(tiny_model, max_frame_age=1.0, pairing="latest", max_queue=2)
    node = NodeProcess(subprocess_env, params, tmp_path / "node.log")
    client = None
    try:
        node.wait_log("active:")
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        client.wait_connected()
        pixels = camera_scene().tobytes()
        stop = threading.Event()
        published = [0]
        frame_times: list[float] = []  # wall-clock stamp of each published frame

        def camera():
            period = 1.0 / RATE_HZ
            next_time = time.monotonic()
            while not stop.is_set():
                if not CAMERA_PAUSE_S[0] <= time.monotonic() - start < CAMERA_PAUSE_S[1]:
                    now = time.time()
                    msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=array.array("B", pixels))
                    msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
                    msg.header.frame_id = "flood_cam"
                    client.image_pub.publish(msg)
                    frame_times.append(now)
                    published[0] += 1
                next_time += period
                time.sleep(max(0.0, next_time - time.monotonic()))

        thread = threading.Thread(target=camera, daemon=True)
        start = time.monotonic()
        thread.start()
        sent: list[tuple[float, str]] = []
        rss_at_5s = None
        for second in range(int(DURATION_S)):
            target = start + second + 0.5
            time.sleep(max(0.0, target - time.monotonic()))
            text = INSTRUCTIONS[second % len(INSTRUCTIONS)]
            sent.append((time.time(), text))
            client.instruct(text)
            if rss_at_5s is None and time.monotonic() - start >= 5.0:
                rss_at_5s = node.rss_mb()
        time.sleep(max(0.0, start + DURATION_S - time.monotonic()))
        rss_end = node.rss_mb()
        stop.set()
        thread.join(2)
        achieved_hz = published[0] / (time.monotonic() - start)

        results = client.results.wait_count(len(sent), 60)
        assert len(results) == len(sent), [(r.status, r.error) for r in results]
        assert [r.instruction for r in results] == [text for _, text in sent]  # each once, in order
        for (sent_at, _), result in zip(sent, results):
            if result.status == INVALID_INPUT:
                assert result.error.startswith("no recent frame"), result.error
            else:
                assert result.status in (OK, NO_TARGET, DROPPED), (result.status, result.error)
            if result.status in (OK, NO_TARGET):
                stamp = result.header.stamp.sec + result.header.stamp.nanosec * 1e-9
                assert stamp >= sent_at - 1.0, (stamp, sent_at)
        stale = 0  # instructions sent while the camera paused, with only old frames to pair
        for (sent_at, _), result in zip(sent, results):
            before = [t for t in frame_times if t <= sent_at]
            after = [t for t in frame_times if t > sent_at]
            if before and sent_at - before[-1] > 1.4 and (not after or after[0] - sent_at > 0.5):
                stale += 1
                assert result.status == INVALID_INPUT and result.error.startswith("no recent frame"), (
                    sent_at - before[-1], result.status, result.error)
        assert stale >= 1, "the camera pause left no instruction with only old frames"
        answered = sum(r.status in (OK, NO_TARGET) for r in results)
        assert answered >= len(sent) // 2, [(r.status, r.error) for r in results]

        diagnostics = client.latest_diagnostics()
        assert float(diagnostics["frame_age_max_ms"]) < 1000.0, diagnostics  # the node's own view
        camera_on_s = DURATION_S - (CAMERA_PAUSE_S[1] - CAMERA_PAUSE_S[0])
        assert int(diagnostics["frames_received"]) > 0.5 * camera_on_s * RATE_HZ
        assert rss_at_5s is not None and rss_end - rss_at_5s < 50.0, (rss_at_5s, rss_end)
        print(f"\nflood: camera {achieved_hz:.1f} Hz, {answered}/{len(sent)} answered, "
              f"{sum(r.status == DROPPED for r in results)} dropped, RSS {rss_at_5s:.0f} -> {rss_end:.0f} MB, "
              f"frame age max {diagnostics['frame_age_max_ms']} ms, "
              f"image callback median {diagnostics['image_callback_ms_median']} ms, "
              f"latency median {diagnostics['latency_median_ms']} ms")

        start = time.monotonic()
        assert client.transition(7)  # shutdown from active
        assert node.proc.wait(LIVENESS_S) == 0
        assert time.monotonic() - start < LIVENESS_S
    finally:
        if client is not None:
            client.close()
        node.stop()
