"""What an export folder holds, and its ``manifest.json``.

An export folder (``lisa-export --out DIR``, the node's ``export_dir``) contains:

================================  ==========================================================
``sam_decoder.onnx``              image embedding ``[1,C,g,g]`` + prompts ``[K,C]`` -> masks
``sam_decoder_fcs.onnx``          (``--with-fcs``) same, from ``[SEG]`` states ``[K,H]``
``sam_encoder.onnx``              normalised pixels ``[1,3,S,S]`` -> image embedding
``<stem>.engine``                 a TensorRT engine built from the ONNX file of that stem
``manifest.json``                 one record per artifact (below)
================================  ==========================================================

A record's ``file`` is a path relative to the folder, and must stay inside it once resolved
(symlinks followed): :func:`artifact_path` refuses absolute paths, ``..`` escapes and links that
lead out, so a manifest cannot make a runtime load an arbitrary file on the machine.

Each ONNX file also carries its record's essentials in its ``metadata_props`` (keys
``lisa_ros.*``), so a lone ONNX file still says which weights it came from. Engines have no
metadata: their record in the manifest is the only proof of origin.

Manifest (``format`` ``lisa_ros.export/1``)::

    {"format": "lisa_ros.export/1", "updated_utc": "...",
     "artifacts": {"decoder": {"file": "sam_decoder.onnx", "format": "onnx", "part": "decoder",
                               "scope": "decoder", "precision": "fp32", "opset": 17,
                               "weights_sha256": {"float32": "...", "bfloat16": "...", "float16": "..."},
                               "inputs": [{"name": "image_embeddings", "shape": [1, 256, 64, 64]},
                                          {"name": "seg_embeddings", "shape": ["K", 256]}],
                               "outputs": [...], "sam_shape": {...}, "model": "/path",
                               "versions": {"torch": "...", "onnx": "...", "lisa_ros": "..."},
                               "bytes": 16500000, "created_utc": "..."},
                   "decoder_trt": {"file": "sam_decoder.engine", "format": "tensorrt",
                                   "source": "decoder", "precision": "fp16", "max_prompts": 16, ...}}}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MANIFEST_NAME", "FORMAT", "ArtifactSpec", "ONNX_ARTIFACTS", "engine_name", "engine_file",
    "read_manifest", "write_manifest", "utc_now", "METADATA_PREFIX", "artifact_path",
]

MANIFEST_NAME = "manifest.json"
FORMAT = "lisa_ros.export/1"
METADATA_PREFIX = "lisa_ros."
ENGINE_SUFFIX = ".engine"


@dataclass(frozen=True)
class ArtifactSpec:
    """One exportable graph: its file, the SAM part it replaces, the weights it depends on."""

    name: str
    file: str
    part: str  # "decoder" | "encoder": which runtime stage it can replace
    scope: str  # weights scope (lisa_ros.export.hashing.SCOPES)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    runtime: bool  # loadable by make_backend (the fcs variant is for other consumers)


ONNX_ARTIFACTS = {
    spec.name: spec
    for spec in (
        ArtifactSpec("decoder", "sam_decoder.onnx", "decoder", "decoder",
                     ("image_embeddings", "seg_embeddings"), ("low_res_masks", "iou_predictions"), True),
        ArtifactSpec("decoder_fcs", "sam_decoder_fcs.onnx", "decoder", "decoder_fcs",
                     ("image_embeddings", "seg_hidden_states"), ("low_res_masks", "iou_predictions"), False),
        ArtifactSpec("encoder", "sam_encoder.onnx", "encoder", "encoder", ("pixels",), ("image_embeddings",), True),
    )
}


def engine_name(onnx_name: str) -> str:
    """Manifest key of the TensorRT engine built from ONNX artifact ``onnx_name``."""
    return f"{onnx_name}_trt"


def engine_file(onnx_name: str) -> str:
    return Path(ONNX_ARTIFACTS[onnx_name].file).stem + ENGINE_SUFFIX


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def artifact_path(folder: str | Path, file: str) -> Path:
    """The artifact a manifest record names, resolved (symlinks followed) inside ``folder``.

    Raises:
        ValueError: ``file`` is absolute, or resolves outside the (resolved) export folder.
    """
    folder = Path(folder).expanduser()
    if Path(file).is_absolute():
        raise ValueError(f"manifest names {file!r}, an absolute path outside the export folder {folder}")
    root = folder.resolve()
    target = (root / file).resolve()
    if not target.is_relative_to(root):
        raise ValueError(f"manifest names {file!r}, which resolves to {target}, outside the export folder {root}")
    return target


def _exists_inside(folder: Path, file: str) -> bool:
    try:
        return artifact_path(folder, file).is_file()
    except ValueError:
        return False


def read_manifest(folder: str | Path) -> dict | None:
    """The folder's manifest, or None when it has none. Raises ValueError on a foreign format."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} has format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def write_manifest(folder: str | Path, records: dict[str, dict], extra: dict | None = None) -> dict:
    """Merge ``records`` into the folder's manifest and write it.

    Records of artifacts not rewritten now are kept while their file still exists inside the
    folder (each record carries its own weights hash, so an older one can never be mistaken for
    new); records naming files outside it are dropped.
    """
    folder = Path(folder)
    try:
        manifest = read_manifest(folder) or {}
    except (ValueError, json.JSONDecodeError):
        manifest = {}
    artifacts = {
        name: record
        for name, record in manifest.get("artifacts", {}).items()
        if _exists_inside(folder, record.get("file", ""))
    }
    artifacts.update(records)
    manifest = {"format": FORMAT, "updated_utc": utc_now(), **(extra or {}), "artifacts": artifacts}
    path = folder / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return manifest
