"""Pick the runtime of SAM's decoder / encoder: torch, onnxruntime or TensorRT.

:func:`attach_backends` installs them on a loaded segmenter (the node's ``decoder_backend`` /
``encoder_backend`` / ``export_dir`` parameters); :func:`make_backend` builds one runner. The
core never imports this package: runners are handed to it. A wrong artifact never runs: whenever the exported one cannot be used it returns ``(None, warning)``
and the caller keeps the torch path, logging the warning and showing it in diagnostics.
"""

from __future__ import annotations

from pathlib import Path

from .artifacts import ONNX_ARTIFACTS, artifact_path, engine_file, engine_name, read_manifest

__all__ = ["BACKENDS", "PARTS", "attach_backends", "make_backend", "locate_artifact", "ArtifactNotUsable"]

BACKENDS = ("torch", "onnxruntime", "tensorrt")
PARTS = ("decoder", "encoder")


class ArtifactNotUsable(Exception):
    """The exported artifact cannot serve this model; the message says why (for the warning)."""


def locate_artifact(folder: str | Path, part: str, backend: str) -> tuple[Path, dict | None]:
    """Path of the artifact for ``part`` under ``backend`` in export folder ``folder``, and its
    manifest record (``None`` when the folder has no manifest, or it does not list the file).

    Raises:
        ArtifactNotUsable: no such folder or file, or a manifest ``file`` that lies outside the
            folder (absolute, ``..``, or a symlink leading out).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ArtifactNotUsable(f"export folder {folder} does not exist")
    key = part if backend == "onnxruntime" else engine_name(part)
    file = ONNX_ARTIFACTS[part].file if backend == "onnxruntime" else engine_file(part)
    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        raise ArtifactNotUsable(str(exc)) from None
    record = (manifest or {}).get("artifacts", {}).get(key)
    if record is not None:
        file = record.get("file", file)
    try:
        path = artifact_path(folder, file)
    except ValueError as exc:
        raise ArtifactNotUsable(str(exc)) from None
    if not path.is_file():
        hint = " (lisa-export --tensorrt builds it)" if backend == "tensorrt" else " (lisa-export writes it)"
        raise ArtifactNotUsable(f"{path} not found{hint}")
    return path, record


def _check_weights(model, scope: str, recorded: dict[str, str], path: Path) -> None:
    """Raise :class:`ArtifactNotUsable` unless ``recorded`` hashes match ``model``'s weights."""
    from .hashing import hash_key, weights_hash

    if not recorded:
        raise ArtifactNotUsable(f"{path} records no weights hash, so its origin is unknown; re-export it")
    dtype = hash_key(model, scope)
    expected = recorded.get(dtype)
    if expected is None:
        raise ArtifactNotUsable(f"{path} records no weights hash for a model held in {dtype}")
    actual = weights_hash(model, scope)
    if actual != expected:
        raise ArtifactNotUsable(
            f"{path} was exported from other weights (sha256 {expected[:12]}..., the loaded "
            f"model's {scope} is {actual[:12]}...); re-export it from this model"
        )


def _onnx_hashes(metadata: dict[str, str]) -> dict[str, str]:
    prefix = "lisa_ros.weights_sha256."
    return {key[len(prefix):]: value for key, value in metadata.items() if key.startswith(prefix)}


def _model_device(model) -> str:
    return str(next(model.sam.parameters()).device)


def _runtime_problem(backend: str, device: str) -> str | None:
    """Why ``backend`` cannot run a model on ``device`` here (``None`` when it can)."""
    if backend == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "onnxruntime not installed (pip install onnxruntime)"
        from .runners import ort_providers

        return ort_providers(device)[1]
    from .trt_engine import tensorrt_unavailable

    return tensorrt_unavailable()


def _open(part: str, backend: str, model, path: Path, record: dict | None, threads: int | None):
    from .runners import DecoderRunner, EncoderRunner

    scope = ONNX_ARTIFACTS[part].scope
    device = _model_device(model)
    if backend == "onnxruntime":
        from .runners import OrtEngine

        try:
            engine = OrtEngine(path, device=device, threads=threads)
        except Exception as exc:  # noqa: BLE001 - corrupt file, unsupported op, provider failure
            raise ArtifactNotUsable(f"onnxruntime cannot load {path}: {type(exc).__name__}: {exc}") from None
        # The file's own metadata is authoritative (a manifest may be stale or absent).
        _check_weights(model, scope, _onnx_hashes(engine.metadata()), path)
    else:
        from .trt_engine import TensorRTEngine

        if record is None:
            raise ArtifactNotUsable(f"{path} is not listed in the folder's manifest.json, so its origin is unknown")
        _check_weights(model, scope, record.get("weights_sha256") or {}, path)
        try:
            engine = TensorRTEngine(path, device=device)
        except Exception as exc:  # noqa: BLE001 - version/GPU mismatch, corrupt file
            raise ArtifactNotUsable(f"TensorRT cannot load {path}: {type(exc).__name__}: {exc}") from None
    if part == "decoder":
        return DecoderRunner(engine, model.sam_shape.low_res_size)
    return EncoderRunner(engine)


def make_backend(part: str, name: str, model, artifacts: str | Path | None, *, threads: int | None = None):
    """A runner for SAM's ``part`` on backend ``name``, or the reason to keep torch.

    Args:
        part: ``decoder`` | ``encoder``.
        name: ``torch`` | ``onnxruntime`` | ``tensorrt``.
        model: the loaded :class:`lisa_ros.core.modeling.LisaModel`.
        artifacts: the export folder (``lisa-export --out``); ``None`` / ``""`` for none.
        threads: onnxruntime intra-op threads (default ``$LISA_ROS_ORT_THREADS`` or all cores).
    Returns:
        ``(runner, None)`` on success: a decoder runner is called as
        ``runner(image_embedding [1,C,g,g], prompts [K,C]) -> (low_res [K,1,4g,4g], iou [K,1])``,
        an encoder runner as ``runner(pixels [1,3,S,S]) -> [1,C,g,g]``, float32 on the model's
        device. ``(None, None)`` for ``torch``. ``(None, warning)`` when the artifact is not
        given, missing, exported from other weights (hash mismatch), unloadable, or its runtime
        (onnxruntime, onnxruntime's CUDA provider for a CUDA model, TensorRT, a CUDA GPU) is
        absent.
    Raises:
        ValueError: unknown ``part`` or ``name``.
    """
    if part not in PARTS:
        raise ValueError(f"SAM part must be one of {PARTS}, not {part!r}")
    if name not in BACKENDS:
        raise ValueError(f"{part}_backend must be one of {BACKENDS}, not {name!r}")
    if name == "torch":
        return None, None
    label = f"{part}_backend={name}"
    if artifacts is None or not str(artifacts).strip():
        return None, f"{label} needs an export folder (artifacts / export_dir; see lisa-export); using torch"
    problem = _runtime_problem(name, _model_device(model))
    if problem:
        return None, f"{label}: {problem}; using torch"
    try:
        path, record = locate_artifact(artifacts, part, name)
        runner = _open(part, name, model, path, record, threads)
    except ArtifactNotUsable as exc:
        return None, f"{label}: {exc}; using torch"
    return runner, None


def attach_backends(segmenter, *, decoder: str = "torch", encoder: str = "torch",
                    artifacts: str | Path | None = None, threads: int | None = None):
    """Run a loaded segmenter's SAM parts on the named backends (what the node's
    ``decoder_backend`` / ``encoder_backend`` / ``export_dir`` parameters and ``lisa-eval``
    ask for). Each part that cannot use its artifact stays on torch, with the warning recorded
    in ``segmenter.backend_warnings``. Returns ``segmenter``.
    """
    for part, name in (("decoder", decoder), ("encoder", encoder)):
        runner, warning = make_backend(part, name, segmenter.model, artifacts, threads=threads)
        segmenter.install_backend(part, name, runner, warning)
    return segmenter
