"""Export LISA's SAM mask decoder and image encoder to ONNX (TorchScript-based exporter).

``torch.onnx.export(..., dynamo=False)``: the dynamo exporter does not handle SAM. Graphs are
traced on float32 CPU copies (:mod:`lisa_ros.export.graphs`); files above 2 GB (ViT-H's
encoder) are written with external data beside them, which the exporter does by itself.
Each file gets ``lisa_ros.*`` metadata: artifact name, weights scope, weights hashes.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

from .artifacts import FORMAT, METADATA_PREFIX, ONNX_ARTIFACTS, utc_now
from .hashing import weights_hashes

__all__ = ["DEFAULT_OPSET", "export_onnx", "read_onnx_metadata", "artifact_bytes", "versions"]

# LayerNormalization is a native op from 17 on; TensorRT 10 and onnxruntime >= 1.14 read it.
DEFAULT_OPSET = 17
# Above this many bytes of weights, a graph keeps them in an external-data file.
_EXTERNAL_BYTES = 1_500_000_000
# K used while tracing; any K works at run time (the axis is dynamic).
_TRACE_PROMPTS = 2


def versions() -> dict[str, str]:
    """Versions of the libraries an export depends on (recorded in the manifest)."""
    import torch

    import lisa_ros

    found = {"torch": torch.__version__, "lisa_ros": lisa_ros.__version__}
    try:
        import onnx

        found["onnx"] = onnx.__version__
    except ImportError:  # pragma: no cover - export needs onnx anyway
        pass
    return found


def _example_inputs(model, name: str):
    import torch

    shape = model.sam_shape
    grid, channels = shape.embedding_size, shape.prompt_embed_dim
    generator = torch.Generator().manual_seed(0)
    if name == "encoder":
        return (torch.randn(1, 3, shape.img_size, shape.img_size, generator=generator),)
    width = model.config.hidden_size if name == "decoder_fcs" else channels
    return (
        torch.randn(1, channels, grid, grid, generator=generator),
        torch.randn(_TRACE_PROMPTS, width, generator=generator),
    )


def _io_shapes(model, name: str) -> tuple[list[dict], list[dict]]:
    shape = model.sam_shape
    grid, channels, side = shape.embedding_size, shape.prompt_embed_dim, shape.low_res_size
    if name == "encoder":
        return (
            [{"name": "pixels", "shape": [1, 3, shape.img_size, shape.img_size], "dtype": "float32"}],
            [{"name": "image_embeddings", "shape": [1, channels, grid, grid], "dtype": "float32"}],
        )
    spec = ONNX_ARTIFACTS[name]
    width = model.config.hidden_size if name == "decoder_fcs" else channels
    return (
        [
            {"name": spec.inputs[0], "shape": [1, channels, grid, grid], "dtype": "float32"},
            {"name": spec.inputs[1], "shape": ["K", width], "dtype": "float32"},
        ],
        [
            {"name": "low_res_masks", "shape": ["K", 1, side, side], "dtype": "float32"},
            {"name": "iou_predictions", "shape": ["K", 1], "dtype": "float32"},
        ],
    )


def export_onnx(model, name: str, folder: str | Path, *, opset: int = DEFAULT_OPSET, model_path: str | None = None) -> dict:
    """Export artifact ``name`` (``decoder`` | ``decoder_fcs`` | ``encoder``) of ``model``.

    Args:
        model: a loaded :class:`lisa_ros.core.modeling.LisaModel` (not modified).
        folder: the export folder; the file name comes from :data:`ONNX_ARTIFACTS`.
        opset: ONNX opset.
        model_path: recorded in the metadata (where the weights came from).
    Returns:
        the artifact's manifest record.
    """
    import torch

    from .graphs import SamDecoderGraph, SamEncoderGraph

    spec = ONNX_ARTIFACTS[name]
    folder = Path(folder)
    path = folder / spec.file
    folder.mkdir(parents=True, exist_ok=True)
    graph = SamEncoderGraph(model) if name == "encoder" else SamDecoderGraph(model, with_fcs=name == "decoder_fcs")
    inputs, outputs = _io_shapes(model, name)
    dynamic_axes = {} if name == "encoder" else {spec.inputs[1]: {0: "K"}, "low_res_masks": {0: "K"}, "iou_predictions": {0: "K"}}
    scratch = tempfile.TemporaryDirectory(prefix=".export-", dir=folder)
    exported = Path(scratch.name) / spec.file
    with scratch, warnings.catch_warnings(), torch.no_grad():
        # Shape-derived Python values (window padding, head sizes) are constants of the graph
        # by design, and the legacy-exporter notice is expected: keep the log readable.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")
        torch.onnx.export(
            graph,
            _example_inputs(model, name),
            str(exported),
            dynamo=False,
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
        )
        del graph
        hashes = weights_hashes(model, spec.scope)
        _save_with_metadata(exported, path, {
            "artifact": name,
            "part": spec.part,
            "scope": spec.scope,
            "format": FORMAT,
            "sam_shape": json.dumps(asdict(model.sam_shape)),
            "model": model_path or "",
            **{f"weights_sha256.{dtype}": digest for dtype, digest in hashes.items()},
        })
    record = {
        "file": spec.file,
        "format": "onnx",
        "part": spec.part,
        "scope": spec.scope,
        "runtime": spec.runtime,
        "precision": "fp32",
        "opset": opset,
        "weights_sha256": hashes,
        "inputs": inputs,
        "outputs": outputs,
        "sam_shape": asdict(model.sam_shape),
        "hidden_size": model.config.hidden_size,
        "model": model_path,
        "versions": versions(),
        "created_utc": utc_now(),
    }
    record["bytes"] = artifact_bytes(path)
    return record


def _save_with_metadata(exported: Path, path: Path, values: dict[str, str]) -> None:
    """Copy the exporter's output to ``path`` with ``lisa_ros.<key>`` metadata_props added.

    Graphs over :data:`_EXTERNAL_BYTES` of weights are written with all weights in one
    ``<file>.data`` beside them (the TorchScript exporter writes one file per tensor; ONNX
    protobufs cannot exceed 2 GB).
    """
    import onnx

    proto = onnx.load(str(exported))  # external data (if any) is read from its folder
    kept = [p for p in proto.metadata_props if not p.key.startswith(METADATA_PREFIX)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key = METADATA_PREFIX + key
        entry.value = str(value)
    data_file = path.with_name(path.name + ".data")
    data_file.unlink(missing_ok=True)
    weights = sum(len(t.raw_data) for t in proto.graph.initializer)
    if weights > _EXTERNAL_BYTES:
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_file.name, size_threshold=1024)
    else:
        onnx.save_model(proto, str(path))


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``lisa_ros.*`` metadata of an ONNX file, prefix removed (weights not read)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {
        p.key[len(METADATA_PREFIX):]: p.value for p in proto.metadata_props if p.key.startswith(METADATA_PREFIX)
    }


def artifact_bytes(path: str | Path) -> int:
    """Size of an ONNX file plus its external-data file, if any."""
    path = Path(path)
    data_file = path.with_name(path.name + ".data")
    return path.stat().st_size + (data_file.stat().st_size if data_file.is_file() else 0)
