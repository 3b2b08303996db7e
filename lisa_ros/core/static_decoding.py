"""One-token decode steps over a static KV cache, replayed as a CUDA graph on GPUs.

Measured on an H100 with the LISA-7B architecture (docs/benchmarks.md): an eager decode step of
transformers' Llama costs about 19 ms at batch 1, almost all of it Python and kernel-launch
overhead, so the KV cache alone buys little over the official no-cache flow for short answers.
A CUDA graph replays the step's few hundred kernels with one launch.

The static cache (transformers ``StaticCache``) keeps its write position in a device tensor
that the step itself advances, so a captured step stays valid as the answer grows. Positions
beyond the current one are masked, so a new prompt only has to reset that counter: stale
entries are overwritten before they are ever attended to.
"""

from __future__ import annotations

import logging

import torch

from .generation import _cache_kwarg

__all__ = ["StaticDecoder"]

log = logging.getLogger(__name__)


class StaticDecoder:
    """Prefill and greedy decode steps for one sequence at a time.

    Args:
        model: a :class:`~lisa_ros.core.modeling.LisaModel`.
        max_length: prompt plus answer tokens the cache holds; longer requests must use the
            dynamic-cache path (:meth:`fits`).
        use_graph: capture the decode step as a CUDA graph (CUDA only).
    """

    def __init__(self, model, max_length: int, use_graph: bool):
        from transformers import StaticCache

        self.model = model
        self.max_length = int(max_length)
        self.device = model.llm.lm_head.weight.device
        self.cache = StaticCache(config=model.llm.config, max_cache_len=self.max_length)
        self._kwarg = _cache_kwarg(type(model.llm.model).forward)
        self.token = torch.zeros((1, 1), dtype=torch.long, device=self.device)
        self.use_graph = bool(use_graph) and self.device.type == "cuda"
        self.graph = None
        self._graph_failed = False
        self._state = None
        self._next = None

    def fits(self, prompt_length: int, max_new_tokens: int) -> bool:
        return prompt_length + max_new_tokens <= self.max_length

    def _run(self, embeds: torch.Tensor) -> torch.Tensor:
        out = self.model.llm.model(inputs_embeds=embeds, use_cache=True, **{self._kwarg: self.cache})
        return out.last_hidden_state[:, -1]

    def _reset(self) -> None:
        for layer in self.cache.layers:
            if getattr(layer, "is_initialized", False):
                layer.cumulative_length.zero_()

    def _rewind(self, steps: int) -> None:
        for layer in self.cache.layers:
            layer.cumulative_length.sub_(steps)

    @torch.inference_mode()
    def prefill(self, embeds: torch.Tensor) -> torch.Tensor:
        """Start a new sequence: states of ``embeds [1, L, H]`` into the cache; returns the
        last position's post-norm state ``[1, H]``."""
        self._reset()
        return self._run(embeds)

    def _step_body(self) -> tuple[torch.Tensor, torch.Tensor]:
        state = self._run(self.model.embed_tokens(self.token))
        next_token = self.model.llm.lm_head(state).float().argmax(dim=-1)
        return state, next_token

    def _capture(self) -> None:
        """Capture the step after two warm-up runs on a side stream (cache rewound after)."""
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._step_body()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        self._rewind(2)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._state, self._next = self._step_body()
        self.graph = graph

    @torch.inference_mode()
    def step(self, token: int) -> tuple[torch.Tensor, int]:
        """Feed ``token`` at the next position; returns its state ``[1, H]`` (a fresh tensor)
        and the greedy next token."""
        self.token.fill_(int(token))
        if self.use_graph and self.graph is None and not self._graph_failed:
            positions = [layer.cumulative_length.clone() for layer in self.cache.layers]
            try:
                self._capture()
            except Exception as exc:  # noqa: BLE001 - any capture failure: stay correct, run eagerly
                self._graph_failed = True
                self.graph = None
                for layer, position in zip(self.cache.layers, positions):
                    layer.cumulative_length.copy_(position)
                log.warning("CUDA graph capture of the decode step failed (%s); decoding eagerly", exc)
        if self.graph is not None:
            self.graph.replay()
            state, next_token = self._state, self._next
        else:
            state, next_token = self._step_body()
        return state.clone(), int(next_token.item())
