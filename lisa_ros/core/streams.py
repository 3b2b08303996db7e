"""Running SAM's image encoder beside generation on a CUDA side stream.

Generation needs only CLIP's tokens; SAM's image embedding is needed after the answer, when
masks are decoded. On a GPU the two can run at the same time: the encoder (compute-bound
windowed attention) overlaps the LLM's decode steps (memory-bound, batch 1), hiding most of
its latency on a frame-cache miss. On the CPU everything runs in order.
"""

from __future__ import annotations

__all__ = ["DeferredTensor", "run_on_side_stream"]


class DeferredTensor:
    """A tensor that may still be being computed on another CUDA stream.

    ``get()`` makes the caller's current stream wait for it; ``elapsed_ms()`` is the producer's
    GPU time (CUDA events), or the wall time measured by the caller on the CPU.
    """

    def __init__(self, tensor, done=None, started=None, wall_ms: float = 0.0):
        self._tensor = tensor
        self._done = done
        self._started = started
        self._wall_ms = wall_ms
        self._joined = set()

    def get(self):
        if self._done is not None:
            import torch

            stream = torch.cuda.current_stream(self._tensor.device)
            if stream not in self._joined:
                stream.wait_event(self._done)
                # Tell the caching allocator the tensor is used on this stream too, so its
                # memory is not reused while kernels queued here still read it.
                self._tensor.record_stream(stream)
                self._joined.add(stream)
        return self._tensor

    def with_pump(self, on_token):
        """Generation's per-token hook for this embedding: ``on_token`` itself (an embedding
        computed in block groups pumps its encoder there: lisa_ros.core.encoder_schedule)."""
        return on_token

    def elapsed_ms(self, wait: bool = True) -> float:
        """Producer time in ms; with ``wait=False`` an unfinished producer gives 0.0 instead of
        blocking (an answer without masks should not wait for an embedding it did not use)."""
        if self._done is None:
            return self._wall_ms
        if not wait and not self._done.query():
            return 0.0
        self._done.synchronize()
        return float(self._started.elapsed_time(self._done))


def run_on_side_stream(stream, function, tensor) -> DeferredTensor:
    """Queue ``function(tensor)`` on ``stream`` after the work already queued for ``tensor``.

    Returns at once; the result is a :class:`DeferredTensor`.
    """
    import torch

    current = torch.cuda.current_stream(tensor.device)
    stream.wait_stream(current)  # the input's upload is queued on the current stream
    started = torch.cuda.Event(enable_timing=True)
    done = torch.cuda.Event(enable_timing=True)
    with torch.cuda.stream(stream):
        tensor.record_stream(stream)
        started.record(stream)
        result = function(tensor)
        done.record(stream)
    return DeferredTensor(result, done, started)
