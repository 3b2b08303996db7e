"""A manifest's ``file`` cannot make the runtime load a file outside the export folder.

The decoy is a real, loadable ONNX export of the very same weights placed outside the folder, so
only the containment check (not a hash mismatch or a load error) can refuse it.
"""

import json
import shutil

import pytest

from lisa_ros.export.artifacts import MANIFEST_NAME, read_manifest, write_manifest
from lisa_ros.export.backends import make_backend


def _export_with_decoder_file(official, root, file_for):
    """An export folder under ``root`` whose manifest's decoder record names ``file_for(...)``;
    a usable copy of the decoder sits outside it, in ``root/elsewhere``."""
    outside = root / "elsewhere"
    outside.mkdir()
    shutil.copy(official.folder / "sam_decoder.onnx", outside / "sam_decoder.onnx")
    folder = root / "export"
    folder.mkdir()
    manifest = read_manifest(official.folder)
    manifest["artifacts"]["decoder"]["file"] = file_for(folder, outside / "sam_decoder.onnx")
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    return folder


def _symlink_inside(folder, target):
    (folder / "sam_decoder.onnx").symlink_to(target)
    return "sam_decoder.onnx"


ESCAPES = {
    "absolute": lambda folder, target: str(target),
    "dot-dot": lambda folder, target: "../elsewhere/sam_decoder.onnx",
    "symlink": _symlink_inside,
}


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_artifacts_outside_the_export_folder_are_refused(official, tmp_path, escape):
    folder = _export_with_decoder_file(official, tmp_path, ESCAPES[escape])
    runner, warning = make_backend("decoder", "onnxruntime", official.segmenter.model, folder)
    assert runner is None, f"loaded {escape} path from outside the export folder"
    assert "outside the export folder" in warning and warning.endswith("using torch")


def test_paths_inside_the_folder_still_load(official, tmp_path):
    """A subfolder, a symlink to a file inside the folder, and a folder reached through a symlink."""
    folder = tmp_path / "export"
    (folder / "onnx").mkdir(parents=True)
    shutil.copy(official.folder / "sam_decoder.onnx", folder / "onnx" / "decoder_v2.onnx")
    (folder / "sam_encoder.onnx").symlink_to(official.folder / "sam_encoder.onnx")  # escapes: refused
    (folder / "current.onnx").symlink_to(folder / "onnx" / "decoder_v2.onnx")
    manifest = read_manifest(official.folder)
    manifest["artifacts"]["decoder"]["file"] = "current.onnx"
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    model = official.segmenter.model
    runner, warning = make_backend("decoder", "onnxruntime", model, folder)
    assert warning is None and runner is not None
    linked = tmp_path / "exports-link"
    linked.symlink_to(folder, target_is_directory=True)
    runner, warning = make_backend("decoder", "onnxruntime", model, linked)
    assert warning is None and runner is not None
    runner, warning = make_backend("encoder", "onnxruntime", model, folder)
    assert runner is None and "outside the export folder" in warning


def test_rewriting_a_manifest_drops_records_outside_the_folder(official, tmp_path):
    folder = _export_with_decoder_file(official, tmp_path, ESCAPES["absolute"])
    shutil.copy(official.folder / "sam_encoder.onnx", folder)
    kept = write_manifest(folder, {})
    assert set(kept["artifacts"]) == {"encoder"}


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_verification_skips_artifacts_outside_the_export_folder(official, tmp_path, escape):
    """lisa-export --verify reads the same manifest: an artifact outside the folder is reported
    as skipped with the reason, never loaded."""
    from lisa_ros.export.verify import verify_folder

    folder = _export_with_decoder_file(official, tmp_path, ESCAPES[escape])
    report = verify_folder(official.segmenter, folder, names=["decoder"], ks=(1,), real_ks=(1,))
    assert "decoder" not in report["artifacts"]
    assert "outside the export folder" in report["skipped"]["decoder"]
