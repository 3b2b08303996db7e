"""Fingerprints of the weights an exported artifact was built from.

An artifact bakes weights in; a backend must not run it beside a model loaded from other
weights. Each artifact therefore records a SHA-256 over exactly what it depends on (its
*scope*), and the backend recomputes it from the loaded model before using the artifact.

What is hashed, in this order:

1. a format tag and the scope name;
2. the hyper-parameters of the part that tensor shapes do not pin down (e.g. the decoder's
   attention heads), as canonical JSON;
3. for each tensor, in sorted name order: its name, its shape, and its values as
   little-endian float32 bytes.

A model may be loaded in bf16 or fp16 (``precision``) while the export ran on fp32 weights.
The export records one hash per dtype, computed after rounding the fp32 weights to that
dtype (exact in float32 bytes), so a bf16 load of the same checkpoint matches its ``bfloat16``
entry. Hashing ViT-H's 641 M encoder parameters reads 2.5 GB: a few seconds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

__all__ = ["SCOPES", "HASH_DTYPES", "scope_tensors", "weights_hash", "weights_hashes", "hash_key"]

HASH_FORMAT = "lisa_ros.weights/1"
# dtype names as torch spells them (str(torch.float32) without the prefix)
HASH_DTYPES = ("float32", "bfloat16", "float16")

# What each exported graph depends on: parameter/buffer name prefixes of LisaModel.
_DECODER_PREFIXES = (
    "sam.mask_decoder.",
    "sam.prompt_encoder.no_mask_embed.",
    "sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
)
SCOPES = {
    "decoder": _DECODER_PREFIXES,
    "decoder_fcs": _DECODER_PREFIXES + ("text_hidden_fcs.",),
    "encoder": ("sam.image_encoder.",),
}
_DECODER_FIELDS = (
    "prompt_embed_dim", "decoder_depth", "decoder_mlp_dim", "decoder_num_heads",
    "num_multimask_outputs", "iou_head_depth", "iou_head_hidden_dim",
)
_ENCODER_FIELDS = (
    "img_size", "patch_size", "encoder_embed_dim", "encoder_depth", "encoder_num_heads",
    "encoder_mlp_ratio", "window_size", "global_attn_indexes", "prompt_embed_dim",
)


def _scope_config(model, scope: str) -> dict:
    shape = asdict(model.sam_shape)
    if scope == "encoder":
        return {name: shape[name] for name in _ENCODER_FIELDS}
    config = {name: shape[name] for name in _DECODER_FIELDS}
    config["embedding_size"] = model.sam_shape.embedding_size
    return config


def scope_tensors(model, scope: str) -> list[tuple[str, "object"]]:
    """``(name, tensor)`` pairs of ``model`` that artifact ``scope`` depends on, sorted by name."""
    if scope not in SCOPES:
        raise ValueError(f"unknown weights scope {scope!r}; one of {sorted(SCOPES)}")
    prefixes = SCOPES[scope]
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    picked = sorted((name, t) for name, t in tensors.items() if name.startswith(prefixes))
    if not picked:
        raise ValueError(f"model has no tensors for scope {scope!r}")
    return picked


def weights_hashes(model, scope: str, dtypes=HASH_DTYPES) -> dict[str, str]:
    """Hex SHA-256 of ``scope``'s weights, once per dtype in ``dtypes``.

    The ``float32`` entry hashes the tensors as they are (converted to float32); the others
    hash them after rounding to that dtype, i.e. what a load in that precision would hold.
    """
    import numpy as np
    import torch

    digests = {name: hashlib.sha256() for name in dtypes}
    header = json.dumps({"format": HASH_FORMAT, "scope": scope, "config": _scope_config(model, scope)},
                        sort_keys=True).encode()
    for digest in digests.values():
        digest.update(header)
    with torch.no_grad():
        for name, tensor in scope_tensors(model, scope):
            meta = json.dumps([name, list(tensor.shape)]).encode()
            base = tensor.detach().to("cpu")
            for dtype_name, digest in digests.items():
                rounded = base.to(getattr(torch, dtype_name)).float().contiguous()
                array = rounded.numpy()
                if array.dtype.byteorder == ">":  # pragma: no cover - big-endian hosts
                    array = array.astype("<f4")
                digest.update(meta)
                digest.update(np.ascontiguousarray(array).view(np.uint8).reshape(-1))
    return {name: digest.hexdigest() for name, digest in digests.items()}


def hash_key(model, scope: str) -> str:
    """Which recorded hash ``model`` must match for ``scope``: the dtype its tensors are held in
    (``float32`` | ``bfloat16`` | ``float16``), or ``float32`` when they are mixed (e.g. SAM in
    fp32 and ``text_hidden_fcs`` in bf16): that entry hashes the values exactly as held."""
    names = {str(t.dtype).replace("torch.", "") for _, t in scope_tensors(model, scope)}
    name = names.pop() if len(names) == 1 else "float32"
    return name if name in HASH_DTYPES else "float32"


def weights_hash(model, scope: str) -> str:
    """SHA-256 of ``scope``'s weights as the model holds them now (under :func:`hash_key`)."""
    key = hash_key(model, scope)
    return weights_hashes(model, scope, (key,))[key]
