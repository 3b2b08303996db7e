"""Data parallelism over local processes (gloo; CPU or one GPU each) for ``lisa-train --processes``.

Every rank computes its own micro-batches; gradients are averaged before clipping, so all ranks
hold the same weights. With one process every method is a no-op, so the single-process run is the
plain loop.
"""

from __future__ import annotations

import torch

__all__ = ["DataParallel"]


class DataParallel:
    """This process's place among ``world`` data-parallel processes (``rank`` 0 writes files)."""

    def __init__(self, rank: int = 0, world: int = 1):
        self.rank = rank
        self.world = world

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, params: list) -> None:
        if self.world == 1:
            return
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for param in params:
            count = param.numel()
            param.grad = flat[offset : offset + count].view_as(param).clone()
            offset += count

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        if self.world == 1:
            return values
        import torch.distributed as dist

        keys = sorted(values)
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(tensor)
        return {k: float(v) / self.world for k, v in zip(keys, tensor)}

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        import torch.distributed as dist

        tensor = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(tensor)
        return bool(tensor.item() > 0)

    def gather_rng(self) -> list:
        state = torch.get_rng_state()
        if self.world == 1:
            return [state]
        import torch.distributed as dist

        states = [None] * self.world
        dist.all_gather_object(states, state)
        return states

    def broadcast_parameters(self, model) -> None:
        """Every rank starts from rank 0's weights (trainable or not)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for tensor in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(tensor.data, src=0)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
