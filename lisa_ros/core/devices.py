"""Where and in what precision a model runs: names the tools and the node accept, resolved to
torch devices and dtypes (torch imported only when resolving)."""

from __future__ import annotations

__all__ = ["PRECISIONS", "resolve_precision", "resolve_device"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision: str, device: str):
    """torch dtype for a precision name; ``auto`` is bf16 on CUDA and fp32 on the CPU."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "auto":
        precision = "bf16" if str(device).startswith("cuda") else "fp32"
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def resolve_device(device: str) -> str:
    """``auto``: CUDA when available, else the CPU; a CUDA device that is not there is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device
