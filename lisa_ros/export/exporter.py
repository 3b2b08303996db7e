"""Write an export folder: ONNX files, TensorRT engines where possible, ``manifest.json``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .artifacts import ONNX_ARTIFACTS, engine_file, engine_name, utc_now, write_manifest
from .onnx_export import DEFAULT_OPSET, export_onnx
from .trt_engine import DEFAULT_MAX_PROMPTS

__all__ = ["ExportOptions", "ExportResult", "export_folder", "PART_NAMES"]

log = logging.getLogger(__name__)
PART_NAMES = ("decoder", "encoder")
NO_TENSORRT = "wrote ONNX only"


@dataclass
class ExportOptions:
    """What :func:`export_folder` writes.

    ``parts``: SAM parts (``decoder``, ``encoder``); ``with_fcs``: also the decoder variant
    taking ``[SEG]`` states (``text_hidden_fcs`` inside); ``tensorrt``: build engines (when
    TensorRT and a GPU exist); ``fp16``: engines in half precision; ``max_prompts``: the
    decoder engine's largest K.
    """

    parts: tuple[str, ...] = PART_NAMES
    with_fcs: bool = False
    opset: int = DEFAULT_OPSET
    tensorrt: bool = False
    fp16: bool = False
    max_prompts: int = DEFAULT_MAX_PROMPTS
    workspace_gib: float = 4.0

    def __post_init__(self):
        unknown = set(self.parts) - set(PART_NAMES)
        if unknown or not self.parts:
            raise ValueError(f"parts must be among {PART_NAMES}, got {self.parts}")


@dataclass
class ExportResult:
    folder: Path
    manifest: dict
    written: list[str]  # manifest keys written now
    tensorrt_skipped: str | None  # why no engines were built, when they were asked for


def export_folder(
    model, folder: str | Path, options: ExportOptions | None = None, *,
    model_path: str | None = None, say: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``model``'s SAM parts into ``folder`` and update its manifest.

    Args:
        model: a loaded :class:`lisa_ros.core.modeling.LisaModel` (unchanged).
        model_path: where the weights came from (recorded).
        say: progress messages (default: the module logger).
    """
    options = options or ExportOptions()
    say = say or log.info
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [n for n in ("decoder", "decoder_fcs", "encoder")
             if ONNX_ARTIFACTS[n].part in options.parts and (n != "decoder_fcs" or options.with_fcs)]
    records: dict[str, dict] = {}
    for name in names:
        record = export_onnx(model, name, folder, opset=options.opset, model_path=model_path)
        records[name] = record
        say(f"wrote {folder / record['file']} ({record['bytes'] / 1e6:.1f} MB)")
    skipped = None
    if options.tensorrt or options.fp16:
        from .trt_engine import build_engine, tensorrt_unavailable

        skipped = tensorrt_unavailable()
        if skipped:
            say(f"{skipped}: {NO_TENSORRT}")
        else:
            for name in names:
                engine = folder / engine_file(name)
                facts = build_engine(
                    folder / ONNX_ARTIFACTS[name].file, engine, fp16=options.fp16,
                    max_prompts=options.max_prompts, workspace_gib=options.workspace_gib,
                )
                source = records[name]
                records[engine_name(name)] = {
                    "file": engine.name, "format": "tensorrt", "source": name, "part": source["part"],
                    "scope": source["scope"], "runtime": source["runtime"],
                    "weights_sha256": source["weights_sha256"], "inputs": source["inputs"],
                    "outputs": source["outputs"], "sam_shape": source["sam_shape"], "model": model_path,
                    "versions": source["versions"], "created_utc": utc_now(), "bytes": engine.stat().st_size,
                    **facts,
                }
                say(f"wrote {engine} (TensorRT {facts['precision']})")
    manifest = write_manifest(folder, records)
    return ExportResult(folder, manifest, list(records), skipped)
