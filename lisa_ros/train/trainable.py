"""Which parameters train, LoRA injection, and merging LoRA back into the weights.

Two modes:

* ``lora`` (default; the official LISA setup of train_ds.py): LoRA (r=8,
  alpha=16, dropout 0.05, no bias; peft) on the LLM's ``q_proj``/``v_proj`` only; fully
  trained: SAM's mask decoder, ``text_hidden_fcs``, ``lm_head`` and ``embed_tokens`` (all rows);
  frozen: everything else (CLIP, ``mm_projector``, SAM's image and prompt encoders, the rest
  of the LLM).
* ``full``: every parameter trains, CLIP and the SAM encoder included (small models, or
  training from scratch).

:func:`merged_state_dict` folds LoRA into the base weights (``W + scale * B @ A``, as peft's
``merge_and_unload`` in the official merge script) and returns plain parameter names, so a
checkpoint written from it loads like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "LoraSettings",
    "LORA_TARGET_REGEX",
    "LLM_LINEAR_MODULES",
    "OFFICIAL_LORA_MODULES",
    "lora_target_regex",
    "FULLY_TRAINED_PREFIXES",
    "setup_trainable",
    "inject_lora",
    "lora_layers",
    "merged_state_dict",
    "merge_lora_",
    "trainable_summary",
    "trainable_state_dict",
    "load_trainable_state_dict",
]

# The official filter: Linear layers named q_proj/v_proj outside SAM, CLIP, the projector and
# text_hidden_fcs. In our module tree those are exactly the LLM's attention projections.
LORA_TARGET_REGEX = r"llm\.model\.layers\.\d+\.self_attn\.(q_proj|v_proj)"
OFFICIAL_LORA_MODULES = ("q_proj", "v_proj")
# The LLaMA decoder layer's Linear layers, by name: what a LoRA run may also adapt.
LLM_LINEAR_MODULES = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
                      "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}

FULLY_TRAINED_PREFIXES = ("llm.lm_head.", "llm.model.embed_tokens.", "sam.mask_decoder.", "text_hidden_fcs.")


def lora_target_regex(modules=OFFICIAL_LORA_MODULES) -> str:
    """The peft ``target_modules`` regex for these LLM Linear layers (official: q_proj, v_proj)."""
    unknown = sorted(set(modules) - set(LLM_LINEAR_MODULES))
    if unknown or not modules:
        raise ValueError(f"LoRA modules must be some of {sorted(LLM_LINEAR_MODULES)}, not {sorted(modules)}")
    alternatives = "|".join(f"{LLM_LINEAR_MODULES[m]}\\.{m}" for m in sorted(set(modules)))
    return rf"llm\.model\.layers\.\d+\.({alternatives})"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters (official: r 8, alpha 16, dropout 0.05, on q_proj and v_proj).

    ``modules`` names the LLM layers' Linear layers that get adapters (keys of
    :data:`LLM_LINEAR_MODULES`; the MLP's too, for a family that needs new word knowledge).
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    modules: tuple[str, ...] = OFFICIAL_LORA_MODULES


def inject_lora(model: nn.Module, settings: LoraSettings) -> None:
    """Wrap the LLM's ``settings.modules`` (official: q/v projections) with peft LoRA layers
    (in place, adapter ``default``)."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        bias="none",
        target_modules=lora_target_regex(settings.modules),
    )
    inject_adapter_in_model(config, model)


def lora_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Name to peft LoRA layer, for every injected layer."""
    from peft.tuners.lora import LoraLayer

    return {name: module for name, module in model.named_modules() if isinstance(module, LoraLayer)}


def setup_trainable(model: nn.Module, mode: str = "lora", lora: LoraSettings | None = None) -> dict[str, int]:
    """Prepare ``model`` for training in ``mode`` (``lora`` or ``full``); returns the counts.

    ``lora`` injects adapters (unless already present, e.g. when resuming) and sets
    ``requires_grad`` as the official run; ``full`` makes everything trainable.
    """
    if mode == "full":
        model.requires_grad_(True)
        return trainable_summary(model)
    if mode != "lora":
        raise ValueError(f"training mode must be 'lora' or 'full', not {mode!r}")
    if not lora_layers(model):
        inject_lora(model, lora or LoraSettings())
    model.requires_grad_(False)
    for name, param in model.named_parameters():
        if name.startswith(FULLY_TRAINED_PREFIXES) or ".lora_" in name:
            param.requires_grad_(True)
    return trainable_summary(model)


def _group(name: str) -> str:
    if ".lora_" in name:
        return "lora"
    for prefix, group in (
        ("llm.lm_head.", "lm_head"),
        ("llm.model.embed_tokens.", "embed_tokens"),
        ("llm.", "llm_other"),
        ("sam.mask_decoder.", "sam_mask_decoder"),
        ("sam.image_encoder.", "sam_image_encoder"),
        ("sam.prompt_encoder.", "sam_prompt_encoder"),
        ("text_hidden_fcs.", "text_hidden_fcs"),
        ("mm_projector.", "mm_projector"),
        ("vision_tower.", "vision_tower"),
    ):
        if name.startswith(prefix):
            return group
    return "other"


def trainable_summary(model: nn.Module) -> dict[str, int]:
    """Trainable parameter counts per part, plus ``trainable`` and ``total``."""
    counts: dict[str, int] = {}
    total = trainable = 0
    for name, param in model.named_parameters():
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
            group = _group(name)
            counts[group] = counts.get(group, 0) + param.numel()
    counts["trainable"] = trainable
    counts["total"] = total
    return counts


def _clean_name(name: str) -> str:
    return name.replace(".base_layer.", ".")


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state with LoRA merged in and peft's wrapper names removed (detached tensors).

    The model itself is left unchanged (training can go on).
    """
    layers = lora_layers(model)
    merged: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        weight = layer.base_layer.weight.detach()
        delta = torch.zeros_like(weight, dtype=torch.float32)
        for adapter in layer.active_adapters:
            if adapter in layer.lora_A:
                delta = delta + layer.get_delta_weight(adapter).detach().float()
        merged[f"{name}.weight"] = (weight.float() + delta).to(weight.dtype)
    state = {}
    for name, tensor in model.state_dict().items():
        if ".lora_" in name:
            continue
        clean = _clean_name(name)
        state[clean] = merged.get(clean, tensor.detach())
    return state


def merge_lora_(model: nn.Module) -> nn.Module:
    """Merge LoRA into the weights and replace each LoRA layer by its base layer (in place)."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer.base_layer)
    return model


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every trainable tensor (LoRA included), detached, on the CPU: the resumable weights."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a :func:`trainable_state_dict` back into ``model`` (names and shapes must match)."""
    params = dict(model.named_parameters())
    missing = [name for name, p in params.items() if p.requires_grad and name not in state]
    unknown = [name for name in state if name not in params]
    if missing or unknown:
        raise ValueError(f"resume state does not fit the model: missing {missing[:4]}, unknown {unknown[:4]}")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor.to(params[name].dtype))


def official_lora_names(names) -> list[str]:
    """Module names the official filter would wrap (for tests): q/v projections outside SAM etc."""
    regex = re.compile(LORA_TARGET_REGEX)
    return [n for n in names if regex.fullmatch(n)]
