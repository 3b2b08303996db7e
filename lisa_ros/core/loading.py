"""Build a :class:`LisaModel` from a checkpoint folder and a CLIP folder.

The model skeleton is created without memory (parameters on the meta device, via
accelerate's ``init_empty_weights``); each checkpoint tensor is then cast to its run dtype and
assigned in place, so peak memory stays near one copy of the weights. CLIP comes from its own
folder through transformers' loader (the official checkpoints do not contain it).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import CheckpointFiles, iter_checkpoint_tensors, locate_checkpoint, official_to_internal
from .config import LisaConfig
from .errors import CheckpointError
from .preprocess import ClipPreprocessConfig
from .sam_builder import infer_sam_shape
from .tokenizer import LisaTokenizer

__all__ = ["LoadReport", "LoadedLisa", "load_lisa", "load_named", "LLM_ATTENTIONS", "set_llm_attention"]

# The LLM's attention implementations we run (transformers' names): fused
# scaled_dot_product_attention, or transformers' reference matmul-softmax-matmul.
LLM_ATTENTIONS = ("sdpa", "eager")

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What loading found. ``missing``: model tensors the checkpoint lacked (an error unless
    empty); ``unexpected``: checkpoint tensors nothing uses (reported, not fatal)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: int = 0


@dataclass
class LoadedLisa:
    """A ready model with everything that belongs to it."""

    model: "object"  # LisaModel
    tokenizer: LisaTokenizer
    config: LisaConfig
    clip_preprocess: ClipPreprocessConfig
    model_folder: Path
    clip_folder: Path
    report: LoadReport


def _read_sam_shapes(files: CheckpointFiles) -> dict[str, tuple[int, ...]]:
    prefix = "model.visual_model."
    return {
        key[len(prefix):]: tuple(tensor.shape)
        for key, tensor in iter_checkpoint_tensors(files)
        if key.startswith(prefix)
    }


def load_lisa(
    model_folder: str | Path,
    clip_folder: str | Path,
    dtype=None,
    device: str = "cpu",
    sam_dtype=None,
    llm_attention: str = "sdpa",
) -> LoadedLisa:
    """Load a LISA checkpoint in the official layout.

    Args:
        model_folder: folder with config.json, tokenizer files and weights.
        clip_folder: folder of a transformers CLIP model (vision part used).
        dtype: torch dtype of the LLM, CLIP, projector and ``text_hidden_fcs`` (default fp32).
        device: where to put the model.
        sam_dtype: dtype of SAM (defaults to ``dtype``, as the official ``model.bfloat16()``).
        llm_attention: the LLM's attention implementation (:data:`LLM_ATTENTIONS`), set
            explicitly rather than left to the transformers version's default.
    Raises:
        CheckpointError: missing files, missing tensors or shape mismatches (named).
    """
    import torch
    from accelerate import init_empty_weights
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from .modeling import LisaModel

    dtype = dtype or torch.float32
    sam_dtype = sam_dtype or dtype
    model_folder = Path(model_folder)
    clip_folder = Path(clip_folder)
    files = locate_checkpoint(model_folder)
    config = LisaConfig.from_file(files.config)
    tokenizer = LisaTokenizer.from_folder(model_folder)
    if len(tokenizer) > config.vocab_size:
        raise CheckpointError(
            f"tokenizer has {len(tokenizer)} tokens but the model's vocabulary is {config.vocab_size}"
        )
    if not (clip_folder / "config.json").is_file():
        raise CheckpointError(f"CLIP folder {clip_folder} lacks config.json")
    clip_config = CLIPVisionConfig.from_pretrained(clip_folder)

    sam_shapes = _read_sam_shapes(files)
    if not sam_shapes:
        raise CheckpointError(f"{model_folder} holds no SAM weights (model.visual_model.*)")
    sam_shape = infer_sam_shape(sam_shapes, config.sam_decoder_num_heads)

    with init_empty_weights(include_buffers=False):
        model = LisaModel(config, sam_shape, clip_config)
    try:
        with _quiet_transformers():
            clip = CLIPVisionModel.from_pretrained(clip_folder, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds on bad folders
        raise CheckpointError(f"cannot load the CLIP vision tower from {clip_folder}: {exc}") from None
    model.vision_tower = clip

    expected = {name: param for name, param in model.named_parameters() if not name.startswith("vision_tower.")}
    expected.update(
        (name, buf)
        for name, buf in model.named_buffers()
        if name.endswith("positional_encoding_gaussian_matrix")
    )
    report = LoadReport()
    loaded = set()
    for key, tensor in iter_checkpoint_tensors(files):
        name = official_to_internal(key)
        if name is None:
            if key.endswith("inv_freq"):
                report.ignored += 1
            else:
                report.unexpected.append(key)
            continue
        if name.startswith("vision_tower."):
            report.ignored += 1
            continue
        target = expected.get(name)
        if target is None:
            report.unexpected.append(key)
            continue
        if tuple(target.shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"tensor {key} has shape {tuple(tensor.shape)}, the model expects {tuple(target.shape)}"
            )
        target_dtype = sam_dtype if name.startswith("sam.") else dtype
        # copy=True: never keep a parameter backed by the memory-mapped file, which a later
        # save into the same folder (resumed training) would change underneath us.
        _assign(model, name, tensor.to(device=device, dtype=target_dtype, copy=True))
        loaded.add(name)
    report.missing = sorted(set(expected) - loaded)
    if "llm.lm_head.weight" in report.missing and config.tie_word_embeddings:
        report.missing.remove("llm.lm_head.weight")
        model.llm.lm_head.weight = model.llm.model.embed_tokens.weight
    if report.missing:
        shown = ", ".join(report.missing[:8]) + (" ..." if len(report.missing) > 8 else "")
        raise CheckpointError(f"{model_folder} lacks {len(report.missing)} tensors: {shown}")
    if report.unexpected:
        log.warning("checkpoint tensors not used by the model: %s", ", ".join(report.unexpected[:8]))

    # Non-persistent buffers (rotary frequencies, SAM pixel statistics) were built on the CPU
    # in fp32; move them along without changing their dtype.
    model.to(device)
    model.vision_tower.to(device=device, dtype=dtype)
    if sam_dtype == torch.float16:
        # LISA runs SAM's neck in fp32 under fp16 (docs/model-reference.md §2.4).
        model.sam.image_encoder.neck.float()
    model.eval().requires_grad_(False)
    set_llm_attention(model, llm_attention)
    return LoadedLisa(
        model=model,
        tokenizer=tokenizer,
        config=config,
        clip_preprocess=ClipPreprocessConfig.from_folder(clip_folder),
        model_folder=model_folder,
        clip_folder=clip_folder,
        report=report,
    )


def load_named(name_or_path, clip=None, precision: str = "auto", quantization: str = "none",
               device: str = "auto", quantize_skip: str = "default", allow_download: bool = False,
               revision: str | None = None, clip_revision: str | None = None) -> tuple[LoadedLisa, str]:
    """A model by name (``lisa-tiny``), folder or hub id, with its CLIP tower, in ``precision`` on
    ``device``, the LLM's linears quantized when asked; and the resolved device. The arguments
    are :meth:`~lisa_ros.core.segmenter.LisaSegmenter.from_pretrained`'s."""
    from .devices import resolve_device, resolve_precision
    from .quantization import quantize_model
    from .resolve import resolve_clip_path, resolve_model_path

    device = resolve_device(device)
    dtype = resolve_precision(precision, device)
    model_folder = resolve_model_path(name_or_path, allow_download=allow_download, revision=revision)
    vision_tower = LisaConfig.from_file(model_folder / "config.json").vision_tower
    clip_folder = resolve_clip_path(clip, model_folder, vision_tower, allow_download=allow_download,
                                    revision=clip_revision)
    quantized = quantization not in (None, "none")
    # Quantized layers are built layer by layer on their device from a CPU copy.
    loaded = load_lisa(model_folder, clip_folder, dtype=dtype, device="cpu" if quantized else device)
    if quantized:
        count = quantize_model(loaded.model, quantization, dtype, device, skip=quantize_skip)
        loaded.model.to(device)
        log.info("quantized %d linear layers to %s", count, quantization)
    return loaded, device


def set_llm_attention(model, implementation: str) -> None:
    """Run the LLM's attention with ``implementation`` (:data:`LLM_ATTENTIONS`). The prompt pass
    (about 330 tokens for LISA) uses fused attention with ``sdpa``; the result equals ``eager``
    within float tolerance (tests/core/test_llm_attention.py)."""
    if implementation not in LLM_ATTENTIONS:
        raise ValueError(f"LLM attention must be one of {LLM_ATTENTIONS}, not {implementation!r}")
    llm = model.llm
    if getattr(llm.config, "_attn_implementation", None) == implementation:
        return
    if hasattr(llm, "set_attn_implementation"):
        llm.set_attn_implementation(implementation)
    else:  # older transformers: the config field is what the attention modules read
        llm.config._attn_implementation = implementation


@contextmanager
def _quiet_transformers():
    """Silence transformers' per-load progress bar (a node's log is no place for it)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _assign(model, name: str, tensor) -> None:
    """Replace parameter or buffer ``name`` of ``model`` by ``tensor`` (no copy)."""
    import torch

    module_name, _, attr = name.rpartition(".")
    module = model.get_submodule(module_name)
    if attr in module._parameters:
        module._parameters[attr] = torch.nn.Parameter(tensor, requires_grad=False)
    else:
        module._buffers[attr] = tensor
