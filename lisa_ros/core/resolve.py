"""Turn a model name into a local folder: a bundled name, a folder, or a Hugging Face hub id.

Accepted names (docs/architecture.md lists what the tools and the node accept):

* ``lisa-tiny``: the demo model shipped inside this package (``lisa_ros/models/lisa-tiny``);
* a local folder in the official LISA layout;
* a hub id such as ``xinlai/LISA-7B-v1``: taken from the local Hugging Face cache
  (``HF_HUB_CACHE``), at ``revision`` when one is given.

Nothing is downloaded unless the caller says so (``allow_download=True``; the tools'
``--allow-download``, the node's ``allow_download`` parameter): a checkpoint is gigabytes, and a
typo in a folder name such as ``models/LISA-7B`` (shaped like a hub id) must not start a
download. A name that is neither a folder nor cached is an error that says the path does not
exist and how to allow a download. Pin ``revision`` (a commit hash) for reproducible loads.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from .errors import CheckpointError, ModelNotAvailableError

__all__ = ["BUNDLED_MODELS", "resolve_model_path", "resolve_clip_path", "bundled_models_dir"]

log = logging.getLogger(__name__)

BUNDLED_MODELS = ("lisa-tiny",)

# What a LISA folder needs from the hub (the weights pattern covers .bin and safetensors).
_LISA_PATTERNS = ["*.json", "tokenizer.model", "*.bin", "*.safetensors"]
_CLIP_PATTERNS = ["*.json", "*.bin", "*.safetensors", "*.txt"]
# owner/name as the hub spells repository ids (letters, digits, "-", "_", "."; no "..").
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
_HOW_TO_DOWNLOAD = (
    "pass an existing folder, or allow the download (allow_download=True in Python, --allow-download "
    "for lisa-segment / lisa-eval / lisa-export, the node's allow_download parameter)"
)


def bundled_models_dir() -> Path:
    """Folder holding the models shipped with the package."""
    return Path(__file__).resolve().parent.parent / "models"


def _looks_like_hub_id(name: str) -> bool:
    return bool(_HUB_ID.fullmatch(name)) and ".." not in name


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def _from_hub(repo_id: str, patterns: list[str], what: str, allow_download: bool, revision: str | None) -> Path:
    """The local snapshot of ``repo_id`` (at ``revision``), downloaded only if allowed."""
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        raise ModelNotAvailableError(f"{what} {repo_id!r} is not a folder and huggingface_hub is missing") from None
    at = f" at revision {revision!r}" if revision else ""
    try:
        # local_files_only: reads the cache folder, never the network.
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or cached incompletely): decided below
        pass
    missing = (
        f"{what} {repo_id!r}: the folder {Path(repo_id).expanduser().absolute()} does not exist, and the hub id "
        f"{repo_id!r}{at} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE})"
    )
    if not allow_download:
        raise ModelNotAvailableError(f"{missing}; {_HOW_TO_DOWNLOAD}")
    if _hub_offline():
        raise ModelNotAvailableError(f"{missing}, and HF_HUB_OFFLINE is set, so it cannot be downloaded")
    log.warning("downloading %s %s%s from the Hugging Face hub", what, repo_id, at)
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except Exception as exc:  # noqa: BLE001 - network, auth, missing repo or revision
        raise ModelNotAvailableError(
            f"{what} {repo_id!r}{at} could not be downloaded ({type(exc).__name__}: {exc}); download it "
            f"where a network exists (`huggingface-cli download {repo_id} --local-dir <folder>`) and pass the folder"
        ) from None


def _warn_unused_revision(revision: str | None, name: str) -> None:
    if revision:
        log.warning("revision %r applies to hub ids only; %r is a local folder, so it is ignored", revision, name)


def resolve_model_path(
    name_or_path: str | os.PathLike, *, allow_download: bool = False, revision: str | None = None
) -> Path:
    """Local folder of a LISA checkpoint named by ``name_or_path``.

    Args:
        name_or_path: a bundled model name, a folder, or a hub id (``owner/name``).
        allow_download: fetch a hub id that is not in the local cache (default: refuse).
        revision: branch, tag or commit hash of a hub id (default: the cached ``main``).
    Raises:
        CheckpointError: the name is a file, or a path that does not exist.
        ModelNotAvailableError: a hub id neither cached nor downloadable (not allowed, offline,
            no such repository or revision).
    """
    name = str(name_or_path)
    if name in BUNDLED_MODELS:
        folder = bundled_models_dir() / name
        if not folder.is_dir():
            raise CheckpointError(f"bundled model {name!r} is missing from {folder}")
        _warn_unused_revision(revision, name)
        return folder
    path = Path(name).expanduser()
    if path.is_dir():
        _warn_unused_revision(revision, name)
        return path
    if path.exists():
        raise CheckpointError(f"{path} is a file; pass the checkpoint folder")
    if _looks_like_hub_id(name):
        return _from_hub(name, _LISA_PATTERNS, "model", allow_download, revision)
    raise CheckpointError(
        f"model folder {path.absolute()} does not exist ({name!r} is not a bundled model "
        f"({', '.join(BUNDLED_MODELS)}) nor a hub id of the form owner/name either)"
    )


def resolve_clip_path(
    clip: str | os.PathLike | None,
    model_folder: Path,
    config_vision_tower: str,
    *,
    allow_download: bool = False,
    revision: str | None = None,
) -> Path:
    """Local folder of the CLIP vision tower.

    ``clip`` (the caller's choice) wins; otherwise the checkpoint's ``vision_tower`` field,
    which may be a path relative to the model folder (our bundled models) or a hub id
    (``openai/clip-vit-large-patch14`` in the official checkpoints, which do not contain CLIP).
    ``allow_download`` and ``revision`` are as in :func:`resolve_model_path`, for the CLIP hub id.
    """
    name = str(clip) if clip else config_vision_tower
    path = Path(name).expanduser()
    if not path.is_absolute() and (model_folder / path).is_dir() and not clip:
        return model_folder / path
    if path.is_dir():
        return path
    if _looks_like_hub_id(name):
        return _from_hub(name, _CLIP_PATTERNS, "CLIP vision tower", allow_download, revision)
    raise CheckpointError(f"CLIP vision tower folder {path.absolute()} does not exist (nor is {name!r} a hub id)")
