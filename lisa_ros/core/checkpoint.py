"""Reading and writing checkpoints in the official LISA layout (docs/model-reference.md §3).

A LISA folder holds ``config.json``, ``generation_config.json``, the tokenizer
(``tokenizer.model``, ``added_tokens.json``, ``special_tokens_map.json``,
``tokenizer_config.json``) and weights as sharded ``pytorch_model-0000i-of-0000n.bin`` with
``pytorch_model.bin.index.json`` (official), a single ``pytorch_model.bin``, or safetensors
(``model.safetensors`` / ``model-*.safetensors`` with ``model.safetensors.index.json``).

Pickled ``.bin`` files are read with ``torch.load(weights_only=True)`` only: a checkpoint
cannot execute code. Tensors are memory-mapped where the format allows, so a 16 GB checkpoint
is not read into memory twice.

Official key names map onto our module tree (:class:`lisa_ros.core.modeling.LisaModel`) by
prefix; see :func:`official_to_internal`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from .errors import CheckpointError

__all__ = [
    "CheckpointFiles",
    "locate_checkpoint",
    "iter_checkpoint_tensors",
    "official_to_internal",
    "internal_to_official",
    "save_state_dict_sharded",
    "IGNORED_KEY_SUFFIXES",
]

# Official key prefix -> our module path prefix. Order matters: most specific first.
_PREFIXES = (
    ("model.mm_projector.", "mm_projector."),
    ("model.text_hidden_fcs.", "text_hidden_fcs."),
    ("model.visual_model.", "sam."),
    ("model.vision_tower.vision_tower.", "vision_tower."),
    ("model.", "llm.model."),
    ("lm_head.", "llm.lm_head."),
)
# Tensors older transformers saved that carry no learned information.
IGNORED_KEY_SUFFIXES = ("rotary_emb.inv_freq",)

TOKENIZER_FILES = ("tokenizer.model", "added_tokens.json")
OPTIONAL_TOKENIZER_FILES = ("special_tokens_map.json", "tokenizer_config.json")


def official_to_internal(key: str) -> str | None:
    """Our parameter name for an official key, or ``None`` for keys we do not load."""
    if key.endswith(IGNORED_KEY_SUFFIXES):
        return None
    for official, internal in _PREFIXES:
        if key.startswith(official):
            return internal + key[len(official):]
    return None


def internal_to_official(key: str) -> str:
    """The official key of one of our parameter names."""
    for official, internal in _PREFIXES:
        if key.startswith(internal):
            return official + key[len(internal):]
    raise KeyError(f"no official name for parameter {key!r}")


@dataclass(frozen=True)
class CheckpointFiles:
    """The files of one checkpoint folder. ``weights`` are in load order."""

    folder: Path
    config: Path
    weights: tuple[Path, ...]
    weight_format: str  # "bin" or "safetensors"


def _shards_from_index(folder: Path, index_name: str) -> tuple[Path, ...]:
    index_path = folder / index_name
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        weight_map = index["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{index_path} is not a valid weight index: {exc}") from None
    names = sorted(set(weight_map.values()))
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(
            f"{folder} lacks weight shards named in {index_name}: {', '.join(missing)}"
        )
    return tuple(folder / name for name in names)


def locate_checkpoint(folder: str | Path) -> CheckpointFiles:
    """Find config, tokenizer and weight files; raise :class:`CheckpointError` naming what lacks."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    missing = [name for name in ("config.json",) + TOKENIZER_FILES if not (folder / name).is_file()]
    if (folder / "model.safetensors.index.json").is_file():
        weights, fmt = _shards_from_index(folder, "model.safetensors.index.json"), "safetensors"
    elif (folder / "model.safetensors").is_file():
        weights, fmt = (folder / "model.safetensors",), "safetensors"
    elif (folder / "pytorch_model.bin.index.json").is_file():
        weights, fmt = _shards_from_index(folder, "pytorch_model.bin.index.json"), "bin"
    elif (folder / "pytorch_model.bin").is_file():
        weights, fmt = (folder / "pytorch_model.bin",), "bin"
    else:
        weights, fmt = (), ""
        missing.append("weights (pytorch_model.bin.index.json + shards, or model.safetensors)")
    if missing:
        raise CheckpointError(f"checkpoint folder {folder} lacks: {', '.join(missing)}")
    return CheckpointFiles(folder, folder / "config.json", weights, fmt)


def _load_bin(path: Path) -> Mapping[str, "object"]:
    import torch

    try:
        # mmap keeps a shard on disk until each tensor is touched (zip-format pickles only).
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
            raise CheckpointError(f"cannot read weights from {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - weights_only refuses code: report, never run it
        raise CheckpointError(f"cannot read weights from {path}: {exc}") from None


def iter_checkpoint_tensors(files: CheckpointFiles) -> Iterator[tuple[str, "object"]]:
    """Yield ``(official_key, tensor)`` for every tensor, shard by shard (tensors on CPU)."""
    for path in files.weights:
        if files.weight_format == "safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(path), framework="pt", device="cpu") as handle:
                    for key in handle.keys():
                        yield key, handle.get_tensor(key)
            except Exception as exc:  # noqa: BLE001 - corrupt or truncated file
                if isinstance(exc, CheckpointError):
                    raise
                raise CheckpointError(f"cannot read weights from {path}: {exc}") from None
        else:
            state = _load_bin(path)
            if not isinstance(state, Mapping):
                raise CheckpointError(f"{path} does not hold a state dict")
            yield from state.items()
            del state


def save_state_dict_sharded(
    state: Mapping[str, "object"],
    folder: str | Path,
    max_shard_bytes: int = 10 * 1024**3,
    safe: bool = False,
) -> list[Path]:
    """Write ``state`` (official keys) as the official sharded layout; returns the files.

    ``.bin`` shards are written with ``torch.save`` (readable with ``weights_only=True``);
    ``safe=True`` writes safetensors instead. One shard is written without an index only
    for safetensors (``model.safetensors``); ``.bin`` always gets the index, like the official
    checkpoints.
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shards: list[dict] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor.detach().contiguous()
        size += nbytes
    total = len(shards)
    ext = "safetensors" if safe else "bin"
    stem = "model" if safe else "pytorch_model"
    paths = []
    weight_map = {}
    for number, shard in enumerate(shards, start=1):
        name = f"{stem}.{ext}" if safe and total == 1 else f"{stem}-{number:05d}-of-{total:05d}.{ext}"
        path = folder / name
        if safe:
            from safetensors.torch import save_file

            save_file(shard, str(path), metadata={"format": "pt"})
        else:
            torch.save(shard, path)
        paths.append(path)
        weight_map.update({key: name for key in shard})
    if not (safe and total == 1):
        total_size = sum(t.numel() * t.element_size() for t in state.values())
        index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
        (folder / f"{stem}.{ext}.index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return paths
