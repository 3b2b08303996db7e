"""One-token decode steps over a static KV cache, replayed as a CUDA graph on GPUs.

Measured on an H100 with the LISA-7B architecture (docs/benchmarks.md): an eager decode step of
transformers' Llama costs about 19 ms at batch 1, almost all of it Python and kernel-launch
overhead, so the KV cache alone buys little over the official no-cache flow for short answers.
A CUDA graph replays the step's few hundred kernels with one launch.

Draft decoding (:mod:`lisa_ros.core.draft_decoding`) feeds a token and its guessed successors in
one pass of fixed width (``1 + max_draft``, shorter drafts padded and the padding rewound at
once); that pass is captured as a second graph. Rejected guesses are dropped by moving the write
position back (:meth:`StaticDecoder.rollback`), which is all a static cache needs.

The static cache (transformers ``StaticCache``) keeps its write position in a device tensor
that the step itself advances, so a captured step stays valid as the answer grows. Positions
beyond the current one are masked, so a new prompt only has to reset that counter: stale
entries are overwritten before they are ever attended to.
"""

from __future__ import annotations

import logging

import torch

from .generation import _cache_kwarg, embed_ids, greedy_choices

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
        self.use_graph = bool(use_graph) and self.device.type == "cuda"
        # Multi-token passes padded to one width (one graph); on by default with graphs only.
        self.pad_passes = self.use_graph
        # Per pass width: the token buffer, and the captured graph with its outputs (or None).
        self._tokens: dict[int, torch.Tensor] = {}
        self._graphs: dict[int, tuple] = {}
        self._failed_widths: set[int] = set()  # widths whose capture failed: run eagerly

    @property
    def graph(self):
        """The captured one-token step (None before the first step or without graphs)."""
        return self._graphs.get(1, (None,))[0]

    def fits(self, prompt_length: int, max_new_tokens: int) -> bool:
        return prompt_length + max_new_tokens <= self.max_length

    def _run(self, embeds: torch.Tensor) -> torch.Tensor:
        """Post-norm states ``[L, H]`` of ``embeds [1, L, H]`` appended to the cache."""
        out = self.model.llm.model(inputs_embeds=embeds, use_cache=True, **{self._kwarg: self.cache})
        return out.last_hidden_state[0]

    def _reset(self) -> None:
        for layer in self.cache.layers:
            if getattr(layer, "is_initialized", False):
                layer.cumulative_length.zero_()

    def rollback(self, count: int) -> None:
        """Drop the last ``count`` positions (their entries are overwritten before being read)."""
        if count > 0:
            for layer in self.cache.layers:
                layer.cumulative_length.sub_(count)

    @torch.inference_mode()
    def prefill(self, embeds: torch.Tensor) -> torch.Tensor:
        """Start a new sequence: states of ``embeds [1, L, H]`` into the cache; returns the
        last position's post-norm state ``[1, H]``."""
        self._reset()
        return self._run(embeds)[-1:]

    @torch.inference_mode()
    def start(self, embeds: torch.Tensor, draft: list[int]) -> tuple[torch.Tensor, list[int]]:
        """Start a new sequence with the prompt and guesses in one (eager) pass: the last
        ``1 + len(draft)`` states ``[n, H]`` and their greedy choices."""
        self._reset()
        if draft:
            embeds = torch.cat([embeds, embed_ids(self.model, draft)], dim=1)
        states = self._run(embeds)[-(1 + len(draft)):]
        return states, greedy_choices(self.model, states)

    def _body(self, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        states = self._run(self.model.embed_tokens(self._tokens[width]))
        return states, self.model.llm.lm_head(states).float().argmax(dim=-1)

    def _capture(self, width: int) -> None:
        """Capture a pass of ``width`` tokens after two warm-up runs on a side stream (cache
        rewound after)."""
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._body(width)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        self.rollback(2 * width)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self._body(width)
        self._graphs[width] = (graph, *outputs)

    def _pass(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed ``ids`` (``len(ids)`` is a captured or capturable width): states and choices."""
        width = len(ids)
        buffer = self._tokens.get(width)
        if buffer is None:
            buffer = self._tokens[width] = torch.zeros((1, width), dtype=torch.long, device=self.device)
        if width == 1:
            buffer.fill_(ids[0])  # no host-to-device copy for the common one-token step
        else:
            buffer.copy_(torch.tensor([ids], dtype=torch.long))
        if self.use_graph and width not in self._graphs and width not in self._failed_widths:
            positions = [layer.cumulative_length.clone() for layer in self.cache.layers]
            try:
                self._capture(width)
            except Exception as exc:  # noqa: BLE001 - any capture failure: stay correct, run eagerly
                # Only this width runs eagerly (a failed multi-token capture keeps the one-token graph).
                self._failed_widths.add(width)
                for layer, position in zip(self.cache.layers, positions):
                    layer.cumulative_length.copy_(position)
                log.warning("CUDA graph capture of a %d-token decode pass failed (%s); running it eagerly", width, exc)
        captured = self._graphs.get(width)
        if captured is None:
            return self._body(width)
        captured[0].replay()
        return captured[1], captured[2]

    @torch.inference_mode()
    def step(self, token: int) -> tuple[torch.Tensor, int]:
        """Feed ``token`` at the next position; returns its state ``[1, H]`` (a fresh tensor)
        and the greedy next token."""
        states, choices = self._pass([int(token)])
        return states.clone(), int(choices[0].item())

    @torch.inference_mode()
    def extend(self, ids: list[int], width: int | None = None) -> tuple[torch.Tensor, list[int]]:
        """Feed ``ids`` in one pass: their states ``[n, H]`` (fresh tensors) and greedy choices.

        With ``width`` and :attr:`pad_passes` (CUDA graphs: one graph per width), a pass of
        more than one token has ``width`` tokens: ``ids`` are padded with copies of their last
        token, and the padding's positions are rewound at once.
        """
        ids = [int(token) for token in ids]
        padding = 0
        if self.pad_passes and width is not None and 1 < len(ids) < width:
            padding = width - len(ids)
            ids = ids + [ids[-1]] * padding
        states, choices = self._pass(ids)
        self.rollback(padding)
        count = len(ids) - padding
        return states[:count].clone(), choices[:count].tolist()
