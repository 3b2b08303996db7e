"""The learning-rate schedule: linear warmup, then linear, cosine or no decay.

The official run (DeepSpeed ``WarmupDecayLR``) warms up linearly over 100 steps from 0 to the
peak lr of 3e-4 and decays linearly to 0 at the last step. The schedule is a pure function of the
step (and, with a time budget, of the training time used), so a resumed run needs only the step
and the elapsed time.
"""

from __future__ import annotations

import math

__all__ = ["lr_factor"]


def lr_factor(
    step: int, total: int, warmup: int, schedule: str = "linear", min_ratio: float = 0.0, time_progress: float | None = None
) -> float:
    """Multiplier of the peak lr for optimizer step ``step`` (0-based).

    Linear warmup from 0 over ``warmup`` steps (DeepSpeed ``WarmupDecayLR`` style), then
    linear or cosine decay to ``min_ratio`` at ``total``. ``time_progress`` (share of a time
    budget used, for ``--time-budget`` runs) advances the decay when it is ahead of the steps.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    if time_progress is not None:
        progress = min(1.0, max(progress, time_progress))
    if schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    elif schedule == "linear":
        decay = 1.0 - progress
    elif schedule == "constant":
        decay = 1.0
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    return min_ratio + (1.0 - min_ratio) * decay
