"""When SAM's image encoder runs, relative to the answer's critical path (CLIP, then the LLM).

A new frame needs CLIP's tokens before the LLM can start, and SAM's embedding only when masks
are decoded, after the answer. On a GPU the encoder (the largest single stage) can run beside
the answer; how it is launched decides whether it steals the GPU from CLIP and the LLM:

* ``inline``: CLIP, then the encoder, then the answer, all in order on one stream (the CPU
  always runs this way);
* ``concurrent``: the encoder is queued on a low-priority side stream *before* CLIP (until
  2026-12 the only overlap; measured on an H200: CLIP 8 -> 52 ms while the encoder runs);
* ``after_clip``: the encoder is queued on the side stream *after* CLIP, and waits for CLIP to
  finish, so CLIP runs alone and the encoder overlaps the prompt pass and the decode steps;
* ``interleaved``: the encoder runs a few blocks at a time (:class:`StagedSamEncoding`): the
  patch embedding and the first blocks after CLIP, the next blocks each time the answer has a
  new token (between decode steps, while the LLM is memory-bound), the rest when the
  embedding is needed.

Every schedule computes the same numbers (same kernels, same order within the encoder); only
their timing on the GPU differs. On the CPU ``interleaved`` runs its block groups in line at the
same points, which is how the tests check it.
"""

from __future__ import annotations

from .streams import DeferredTensor

__all__ = ["ENCODER_SCHEDULES", "StagedSamEncoding"]

ENCODER_SCHEDULES = ("inline", "concurrent", "after_clip", "interleaved")


class StagedSamEncoding(DeferredTensor):
    """SAM's image embedding computed in block groups, a group per :meth:`pump`.

    The arithmetic is :meth:`lisa_ros.core.modeling.LisaModel.encode_sam`'s: patch embedding
    plus position embedding, the blocks in order, the neck in its own dtype.

    Args:
        model: the :class:`~lisa_ros.core.modeling.LisaModel`.
        pixels: ``float32 [1, 3, S, S]`` SAM input.
        side_stream: CUDA stream the groups run on (``None``: run in line, on the CPU).
        groups: the encoder's blocks are run in this many groups, one per :meth:`pump` (ViT-H:
            4 groups of 8 blocks; the first pump also does the patch embedding, the neck runs
            with the last group).
    """

    def __init__(self, model, pixels, side_stream=None, groups: int = 4):
        super().__init__(None)
        self._model = model
        self._encoder = model.sam.image_encoder
        self._input = pixels
        self._state = None
        self._next_block = 0
        self._stream = side_stream
        depth = len(self._encoder.blocks)
        self._per_pump = max(1, -(-depth // max(1, int(groups))))
        self._spans = []  # (start, end) CUDA events of each group, or wall milliseconds on the CPU
        self.pumps = 0

    @property
    def done(self) -> bool:
        return self._tensor is not None

    def _run_group(self, last: bool) -> None:
        import torch

        encoder = self._encoder
        with torch.inference_mode():
            if self._state is None:
                x = encoder.patch_embed(self._input.to(encoder.patch_embed.proj.weight.dtype))
                self._state = x + encoder.pos_embed if encoder.pos_embed is not None else x
            end = len(encoder.blocks) if last else min(len(encoder.blocks), self._next_block + self._per_pump)
            for block in encoder.blocks[self._next_block:end]:
                self._state = block(self._state)
            self._next_block = end
            if end == len(encoder.blocks):
                neck = encoder.neck
                self._tensor = neck(self._state.permute(0, 3, 1, 2).to(neck[0].weight.dtype))
                self._state = self._input = None

    def _timed_group(self, last: bool) -> None:
        import time

        import torch

        if self._stream is None:
            start = time.perf_counter()
            self._run_group(last)
            self._spans.append((time.perf_counter() - start) * 1000.0)
            return
        if not self._spans:
            # The input's upload and normalisation are queued on the caller's stream.
            self._stream.wait_stream(torch.cuda.current_stream(self._input.device))
            self._input.record_stream(self._stream)
        started, finished = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.cuda.stream(self._stream):
            started.record(self._stream)
            self._run_group(last)
            finished.record(self._stream)
        self._spans.append((started, finished))
        self._done = finished

    def pump(self) -> None:
        """Run (queue, on CUDA) the next block group; nothing once the embedding is complete."""
        if not self.done:
            self.pumps += 1
            self._timed_group(last=False)

    def with_pump(self, on_token):
        """``on_token`` that first pumps the encoder (for generation's per-token hook)."""
        def pump_then(token: int) -> None:
            self.pump()
            if on_token is not None:
                on_token(token)

        return pump_then

    def get(self):
        if not self.done:
            self._timed_group(last=True)
        return super().get()

    def elapsed_ms(self, wait: bool = True) -> float:
        """Sum of the groups' times in ms (GPU time between events on CUDA); 0.0 without
        waiting when the encoder has not finished."""
        if self._stream is None:
            return float(sum(self._spans))
        if not self.done or (not wait and not self._done.query()):
            if not wait:
                return 0.0
            self.get()
        self._done.synchronize()
        return float(sum(start.elapsed_time(end) for start, end in self._spans))
