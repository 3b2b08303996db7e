"""Reading the training stream ahead in worker processes (lisa_ros.train.stream.Prefetcher): the same
items as the stream itself, and a process that closes its prefetcher while a worker is still busy
exits (lisa-train's data-parallel ranks do exactly that when a run ends)."""

import contextlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np

from lisa_ros.train.sources import SceneRecord
from lisa_ros.train.stream import Prefetcher, TrainStream


class SlowSource:
    """Eight one-object records, each taking ``delay`` seconds to read."""

    def __init__(self, delay: float):
        self.delay = delay

    def __len__(self) -> int:
        return 8

    def record(self, index: int) -> SceneRecord:
        time.sleep(self.delay)
        mask = np.zeros((6, 8), bool)
        mask[index % 6, index] = True
        image = np.full((6, 8, 3), index, np.uint8)
        return SceneRecord(f"s{index}", image, [f"thing {index}", f"object {index}"], False, [], [mask])


def _read_one_then_exit(delay: float, pids: str) -> None:
    prefetcher = Prefetcher(TrainStream(SlowSource(delay), 0, 2), workers=1, lookahead=4)
    prefetcher.items(0, 1)  # the worker goes on reading ahead
    Path(pids).write_text(" ".join(str(p.pid) for p in multiprocessing.active_children()))
    prefetcher.close()
    # the process ends here, its worker still busy with a read-ahead item


def test_workers_read_the_items_of_the_stream():
    stream = TrainStream(SlowSource(0.0), 3, 2)
    prefetcher = Prefetcher(stream, workers=1, lookahead=3)
    try:
        ahead = prefetcher.items(5, 4)
    finally:
        prefetcher.close()
    direct = stream.items(5, 4)
    assert [item.name for item in ahead] == [item.name for item in direct]
    for a, b in zip(ahead, direct):
        assert [(c.question, c.answer) for c in a.conversations] == [(c.question, c.answer) for c in b.conversations]
        for c, d in zip(a.conversations, b.conversations):
            assert all(np.array_equal(m, n) for m, n in zip(c.masks, d.masks))


def test_a_process_that_closes_its_prefetcher_exits(tmp_path):
    pids = tmp_path / "workers"
    child = multiprocessing.get_context("spawn").Process(target=_read_one_then_exit, args=(0.5, str(pids)))
    child.start()
    child.join(120)
    hung = child.is_alive()
    if hung:  # it waits for its worker, which waits for work that never comes
        child.kill()
        child.join()
        for pid in pids.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    assert not hung and child.exitcode == 0
