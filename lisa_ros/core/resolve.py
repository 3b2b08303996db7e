"""Turn a model name into a local folder: a bundled name, a folder, or a Hugging Face hub id.

Accepted names (design.md "Model names the tools accept"):

* ``lisa-tiny``: the demo model shipped inside this package (``lisa_ros/models/lisa-tiny``);
* a local folder in the official LISA layout;
* a hub id such as ``xinlai/LISA-7B-v1``: taken from the local Hugging Face cache, or
  downloaded when a network is reachable. Without either, the error says what to download.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CheckpointError, ModelNotAvailableError

__all__ = ["BUNDLED_MODELS", "resolve_model_path", "resolve_clip_path", "bundled_models_dir"]

BUNDLED_MODELS = ("lisa-tiny",)

# What a LISA folder needs from the hub (the weights pattern covers .bin and safetensors).
_LISA_PATTERNS = ["*.json", "tokenizer.model", "*.bin", "*.safetensors"]
_CLIP_PATTERNS = ["*.json", "*.bin", "*.safetensors", "*.txt"]


def bundled_models_dir() -> Path:
    """Folder holding the models shipped with the package."""
    return Path(__file__).resolve().parent.parent / "models"


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def _from_hub(repo_id: str, patterns: list[str], what: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        raise ModelNotAvailableError(f"{repo_id!r} is not a folder and huggingface_hub is missing")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached: try the network below
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    hint = (
        f"download it where a network exists, e.g. `huggingface-cli download {repo_id} "
        f"--local-dir <folder>`, copy the folder here and pass the folder instead"
    )
    if offline:
        raise ModelNotAvailableError(f"{what} {repo_id!r} is not in the local cache and HF_HUB_OFFLINE is set: {hint}")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:  # noqa: BLE001 - network, auth or missing repo
        raise ModelNotAvailableError(
            f"{what} {repo_id!r} could not be downloaded ({type(exc).__name__}: {exc}); {hint}"
        ) from None


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """Local folder of a LISA checkpoint named by ``name_or_path``."""
    name = str(name_or_path)
    if name in BUNDLED_MODELS:
        folder = bundled_models_dir() / name
        if not folder.is_dir():
            raise CheckpointError(f"bundled model {name!r} is missing from {folder}")
        return folder
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{path} is a file; pass the checkpoint folder")
    if _looks_like_hub_id(name):
        return _from_hub(name, _LISA_PATTERNS, "model")
    raise CheckpointError(
        f"model {name!r} is neither a bundled model ({', '.join(BUNDLED_MODELS)}), "
        "an existing folder, nor a hub id of the form owner/name"
    )


def resolve_clip_path(clip: str | os.PathLike | None, model_folder: Path, config_vision_tower: str) -> Path:
    """Local folder of the CLIP vision tower.

    ``clip`` (the caller's choice) wins; otherwise the checkpoint's ``vision_tower`` field,
    which may be a path relative to the model folder (our bundled models) or a hub id
    (``openai/clip-vit-large-patch14`` in the official checkpoints, which do not contain CLIP).
    """
    name = str(clip) if clip else config_vision_tower
    path = Path(name).expanduser()
    if not path.is_absolute() and (model_folder / path).is_dir() and not clip:
        return model_folder / path
    if path.is_dir():
        return path
    if _looks_like_hub_id(name):
        return _from_hub(name, _CLIP_PATTERNS, "CLIP vision tower")
    raise CheckpointError(f"CLIP vision tower {name!r} is neither a folder nor a hub id")
