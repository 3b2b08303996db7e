"""4-bit (NF4) and 8-bit weights for the language model, through bitsandbytes.

Which linear layers are quantized matters for masks. The official 4/8-bit path (transformers
4.31 with ``llm_int8_skip_modules=["visual_model"]``) also quantizes ``lm_head``,
``mm_projector`` and ``text_hidden_fcs``: the last one turns ``[SEG]`` states into SAM prompts,
and quantizing it degrades masks (docs/model-reference.md §8). Our default keeps those
three and SAM in the run precision; ``skip="official"`` reproduces the official choice. CLIP
is never quantized (the official code loads it after quantization).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

__all__ = ["QUANTIZATION_MODES", "SKIP_POLICIES", "quantize_model"]

QUANTIZATION_MODES = ("none", "4bit", "8bit")
SKIP_POLICIES = {
    # module name prefixes (in LisaModel) left unquantized
    "default": ("llm.lm_head", "mm_projector", "text_hidden_fcs", "sam", "vision_tower"),
    "official": ("sam", "vision_tower"),
}


def _linear_names(model: nn.Module, skip: tuple[str, ...]) -> list[str]:
    return [
        name
        for name, module in model.named_modules()
        if type(module) is nn.Linear and not any(name == s or name.startswith(s + ".") for s in skip)
    ]


def _quantized_linear(linear: nn.Linear, mode: str, compute_dtype: torch.dtype, device) -> nn.Module:
    import bitsandbytes as bnb

    weight = linear.weight.data.to(torch.float16 if mode == "8bit" else compute_dtype)
    has_bias = linear.bias is not None
    if mode == "4bit":
        layer = bnb.nn.Linear4bit(
            linear.in_features,
            linear.out_features,
            bias=has_bias,
            compute_dtype=compute_dtype,
            quant_type="nf4",
            # As the official 4-bit path (bnb_4bit_use_double_quant=True).
            compress_statistics=True,
            device="meta",
        )
        layer.weight = bnb.nn.Params4bit(
            weight.cpu(), requires_grad=False, quant_type="nf4", compress_statistics=True
        )
    else:
        layer = bnb.nn.Linear8bitLt(
            linear.in_features, linear.out_features, bias=has_bias, has_fp16_weights=False, device="meta"
        )
        layer.weight = bnb.nn.Int8Params(weight.cpu(), requires_grad=False, has_fp16_weights=False)
    if has_bias:
        layer.bias = nn.Parameter(linear.bias.data.to(compute_dtype).cpu(), requires_grad=False)
    # Moving the parameters to their device is what quantizes them.
    return layer.to(device)


def quantize_model(
    model: nn.Module, mode: str, compute_dtype: torch.dtype, device, skip: str = "default"
) -> int:
    """Replace the linear layers of ``model`` by bitsandbytes layers, one at a time.

    One layer at a time keeps peak memory near the quantized size plus one full layer.

    Args:
        model: a loaded :class:`LisaModel` (weights on the CPU or ``device``).
        mode: ``"4bit"`` (NF4, double quantization) or ``"8bit"`` (LLM.int8).
        compute_dtype: dtype of the matmuls (activations) in 4-bit mode.
        device: target device (``"cpu"`` works with bitsandbytes >= 0.45).
        skip: ``"default"`` or ``"official"``, see :data:`SKIP_POLICIES`.
    Returns:
        The number of layers quantized.
    """
    if mode not in ("4bit", "8bit"):
        raise ValueError(f"quantization must be one of {QUANTIZATION_MODES}, not {mode!r}")
    if skip not in SKIP_POLICIES:
        raise ValueError(f"quantize skip policy must be one of {tuple(SKIP_POLICIES)}, not {skip!r}")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    names = _linear_names(model, SKIP_POLICIES[skip])
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, _quantized_linear(getattr(parent, attr), mode, compute_dtype, device))
    return len(names)
