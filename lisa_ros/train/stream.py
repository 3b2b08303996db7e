"""The deterministic stream of training items, and reading it ahead in worker processes.

A :class:`TrainStream` turns the records of a :class:`~lisa_ros.train.sources.Source` into
:class:`~lisa_ros.train.conversations.TrainItem` objects, each an image with up to
``conversations_per_image`` conversations (:func:`~lisa_ros.train.conversations.make_conversations`).
The image encoders then run once per image for all of its conversations.

Sampling is stateless: the item at global position ``t`` depends only on ``(seed, t)``, so a
resumed run sees exactly the samples the uninterrupted run would have seen, and
:class:`Prefetcher` workers produce the same items as the training process.
"""

from __future__ import annotations

import numpy as np

from .conversations import TrainItem, make_conversations
from .extension import DataHooks
from .sources import Source

__all__ = ["TrainStream", "Prefetcher"]


class TrainStream:
    """The deterministic stream of training items over a source.

    Item ``t`` is record ``perm_e[t mod N]`` of epoch ``e = t // N`` (a fresh permutation per
    epoch, seeded by ``(seed, e)``); endless sources are read in order. Its conversations are
    drawn with a generator seeded by ``(seed, t)``; ``hooks`` (:class:`~lisa_ros.train.extension.DataHooks`)
    may add to them and finish the item (default: LISA's data alone).
    """

    def __init__(self, source: Source, seed: int, conversations_per_image: int = 3, phrase_long_prob: float = 0.0,
                 hooks: DataHooks | None = None):
        self.source = source
        self.hooks = hooks if hooks is not None else DataHooks()
        self.seed = int(seed)
        self.conversations_per_image = int(conversations_per_image)
        self.phrase_long_prob = float(phrase_long_prob)
        self._perm_epoch = -1
        self._perm = None

    def _index(self, position: int) -> int:
        size = len(self.source)
        if size >= 2**62:
            return position
        epoch, offset = divmod(position, size)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, 1, epoch]).permutation(size)
            self._perm_epoch = epoch
        return int(self._perm[offset])

    def item(self, position: int) -> TrainItem:
        record = self.source.record(self._index(position))
        rng = np.random.default_rng([self.seed, 2, position])
        conversations = make_conversations(record, rng, self.conversations_per_image, self.phrase_long_prob,
                                           self.hooks)
        item = TrainItem(record.name, record.image, record.family, conversations)
        self.hooks.finish_item(item, record, self.seed, position)
        return item

    def items(self, start: int, count: int) -> list[TrainItem]:
        return [self.item(start + k) for k in range(count)]


_WORKER_STREAM: TrainStream | None = None


def _worker_init(stream: TrainStream) -> None:
    global _WORKER_STREAM
    _WORKER_STREAM = stream


def _worker_item(position: int) -> TrainItem:
    return _WORKER_STREAM.item(position)


class Prefetcher:
    """Reads a :class:`TrainStream` ahead in worker processes (positions are known in advance).

    With ``workers == 0`` it reads in the calling process. The items are the same either way.
    """

    def __init__(self, stream: TrainStream, workers: int = 0, lookahead: int = 32):
        self.stream = stream
        self.lookahead = int(lookahead)
        self._futures: dict = {}
        self._next = None
        self._pool = None
        if workers > 0:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init, initargs=(stream,)
            )

    def items(self, start: int, count: int) -> list[TrainItem]:
        if self._pool is None:
            return self.stream.items(start, count)
        if self._next is None or self._next < start:
            self._next = start
        while self._next < start + count + self.lookahead:
            self._futures[self._next] = self._pool.submit(_worker_item, self._next)
            self._next += 1
        out = []
        for position in range(start, start + count):
            future = self._futures.pop(position, None)
            out.append(future.result() if future is not None else self.stream.item(position))
        return out

    def close(self) -> None:
        """Drop the items read ahead and stop the workers.

        Waits for the items a worker is already reading (at most one per worker, plus one
        queued): a process that exits while the pool's manager thread is still waiting for them
        closes the pool's queues under it, and its worker then waits for work forever.
        """
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
