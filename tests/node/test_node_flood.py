"""Flood: 30 Hz 640x480 rgb8 frames for 20 s with an instruction every second.

Checks: every instruction is answered (results come in order, one per instruction; DROPPED
allowed, INVALID_INPUT only as the node's own "no recent frame" refusal); the node's RSS grows
by less than 50 MB between 5 s and the end; no result used a frame older than 1 s when its
inference started. That last point is measured two ways: the node's diagnostics report the
largest frame age it saw at inference start (``frame_age_max_ms``, taken right before the
model is called), and from outside each result's header stamp (the publisher's wall clock at
publication) must be no older than 1 s before its instruction was sent (pairing ``latest``
takes the newest frame when the instruction arrives). Ends with a lifecycle shutdown from the
active state: the process must exit within 5 s.
"""
from __future__ import annotations

import array
import threading
import time

import pytest

from node_helpers import NodeProcess, RosClient, camera_scene, node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

OK, NO_TARGET, INVALID_INPUT, DROPPED, ERROR = range(5)
DURATION_S, RATE_HZ = 20.0, 30.0
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

        def camera():
            period = 1.0 / RATE_HZ
            next_time = time.monotonic()
            while not stop.is_set():
                now = time.time()
                msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=array.array("B", pixels))
                msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
                msg.header.frame_id = "flood_cam"
                client.image_pub.publish(msg)
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
        answered = sum(r.status in (OK, NO_TARGET) for r in results)
        assert answered >= len(sent) // 2, [(r.status, r.error) for r in results]

        diagnostics = client.latest_diagnostics()
        assert float(diagnostics["frame_age_max_ms"]) < 1000.0, diagnostics
        assert int(diagnostics["frames_received"]) > 0.5 * DURATION_S * RATE_HZ
        assert rss_at_5s is not None and rss_end - rss_at_5s < 50.0, (rss_at_5s, rss_end)
        print(f"\nflood: camera {achieved_hz:.1f} Hz, {answered}/{len(sent)} answered, "
              f"{sum(r.status == DROPPED for r in results)} dropped, RSS {rss_at_5s:.0f} -> {rss_end:.0f} MB, "
              f"frame age max {diagnostics['frame_age_max_ms']} ms, "
              f"image callback median {diagnostics['image_callback_ms_median']} ms, "
              f"latency median {diagnostics['latency_median_ms']} ms")

        start = time.monotonic()
        assert client.transition(7)  # shutdown from active
        assert node.proc.wait(10) == 0
        assert time.monotonic() - start < 5.0
    finally:
        if client is not None:
            client.close()
        node.stop()
