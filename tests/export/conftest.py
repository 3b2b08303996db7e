"""Fixtures for export tests: tiny checkpoints, fp32 CPU segmenters and their export folders,
each made once per session.

``exported`` is parametrised over the model variants: the two tiny test checkpoints and,
once it exists, the bundled demo model ``lisa-tiny``.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[2]
LISA_TINY = REPO_ROOT / "lisa_ros" / "models" / "lisa-tiny"
VARIANTS = ("official", "safetensors", "lisa-tiny")


@dataclass
class Exported:
    """A loaded fp32 CPU segmenter and the export folder written from its model."""

    variant: str
    model_folder: Path
    segmenter: object
    folder: Path


@pytest.fixture(scope="session")
def checkpoint_folder(request):
    """``variant -> checkpoint folder``; the tiny ones are the session's shared checkpoints
    (tests/conftest.py), written on first use."""

    def get(variant: str) -> Path:
        if variant == "lisa-tiny":
            if not LISA_TINY.is_dir():
                pytest.skip("lisa_ros/models/lisa-tiny does not exist yet (it is trained later)")
            return LISA_TINY
        return request.getfixturevalue({"official": "tiny_official", "safetensors": "tiny_safetensors"}[variant])

    return get


@pytest.fixture(scope="session")
def exports(checkpoint_folder, tmp_path_factory):
    """``variant -> Exported`` (segmenter + folder with decoder, decoder_fcs and encoder ONNX)."""
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.export.exporter import ExportOptions, export_folder

    made = {}

    def get(variant: str) -> Exported:
        if variant not in made:
            model_folder = checkpoint_folder(variant)
            segmenter = LisaSegmenter.from_pretrained(model_folder, precision="fp32", device="cpu")
            folder = tmp_path_factory.mktemp(f"export_{variant}")
            export_folder(segmenter.model, folder, ExportOptions(with_fcs=True), model_path=str(model_folder))
            made[variant] = Exported(variant, model_folder, segmenter, folder)
        return made[variant]

    return get


@pytest.fixture(scope="session", params=VARIANTS)
def exported(request, exports) -> Exported:
    return exports(request.param)


@pytest.fixture(scope="session")
def official(exports) -> Exported:
    return exports("official")
