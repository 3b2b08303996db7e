"""make_backend: runners when the artifact fits the loaded model, torch + a warning otherwise;
and the segmenter API running SAM on onnxruntime with the same masks as torch."""

import copy
import shutil
import sys

import numpy as np
import pytest
import torch

from lisa_ros.export import backends
from lisa_ros.export.backends import attach_backends, make_backend
from lisa_ros.export.trt_engine import tensorrt_unavailable
from lisa_ros.export.verify import mask_iou

from tiny_checkpoints import TAUGHT, scene_image


def test_unknown_part_or_backend_raises(official):
    model = official.segmenter.model
    with pytest.raises(ValueError, match="part"):
        make_backend("prompt_encoder", "onnxruntime", model, official.folder)
    with pytest.raises(ValueError, match="decoder_backend"):
        make_backend("decoder", "openvino", model, official.folder)


def test_torch_needs_nothing(official):
    assert make_backend("decoder", "torch", official.segmenter.model, None) == (None, None)


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_onnxruntime_runner_for_matching_weights(official, part):
    runner, warning = make_backend(part, "onnxruntime", official.segmenter.model, official.folder)
    assert warning is None and runner is not None and runner.backend == "onnxruntime"
    assert "CPUExecutionProvider" in repr(runner)


@pytest.mark.parametrize("artifacts", [None, ""])
def test_no_export_folder_falls_back(official, artifacts):
    runner, warning = make_backend("decoder", "onnxruntime", official.segmenter.model, artifacts)
    assert runner is None and "needs an export folder" in warning and "using torch" in warning


def test_missing_folder_or_file_falls_back(official, tmp_path):
    model = official.segmenter.model
    runner, warning = make_backend("encoder", "onnxruntime", model, tmp_path / "nowhere")
    assert runner is None and "does not exist" in warning
    runner, warning = make_backend("encoder", "onnxruntime", model, tmp_path)
    assert runner is None and "sam_encoder.onnx not found" in warning and warning.endswith("using torch")


@pytest.mark.parametrize("part, tensor", [
    ("decoder", "sam.mask_decoder.iou_token.weight"),
    ("decoder", "sam.prompt_encoder.no_mask_embed.weight"),
    ("encoder", "sam.image_encoder.neck.0.weight"),
])
def test_other_weights_fall_back(official, part, tensor):
    """Same shapes, one tensor changed: the recorded hash no longer matches."""
    model = official.segmenter.model
    target = dict(model.named_parameters())[tensor]
    saved = target.detach().clone()
    try:
        with torch.no_grad():
            target.add_(1e-3)
        runner, warning = make_backend(part, "onnxruntime", model, official.folder)
    finally:
        with torch.no_grad():
            target.copy_(saved)
    assert runner is None and "exported from other weights" in warning and "re-export" in warning
    assert make_backend(part, "onnxruntime", model, official.folder)[0] is not None  # restored


def test_other_model_falls_back(exports, official):
    """An export of the official tiny model given to the safetensors tiny model."""
    other = exports("safetensors").segmenter.model
    runner, warning = make_backend("decoder", "onnxruntime", other, official.folder)
    assert runner is None and "exported from other weights" in warning


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_load_of_the_same_weights_matches(official, dtype):
    """A bf16/fp16 load of the exported checkpoint matches that dtype's recorded hash; the
    artifact then computes in fp32 (closer to the fp32 reference than torch in half)."""
    model = official.segmenter.model
    half = copy.deepcopy(model).to(dtype)
    runner, warning = make_backend("decoder", "onnxruntime", half, official.folder)
    assert warning is None and runner is not None
    shape = model.sam_shape
    embedding = torch.randn(1, shape.prompt_embed_dim, shape.embedding_size, shape.embedding_size)
    prompts = torch.randn(3, shape.prompt_embed_dim)
    with torch.inference_mode():
        low_ref, _ = model.decode_masks(embedding, prompts)
        low, iou = runner(embedding.to(dtype), prompts.to(dtype))
        low_half, _ = half.decode_masks(embedding.to(dtype), prompts.to(dtype))
    assert low.dtype == torch.float32 and iou.shape == (3, 1)
    # Only the inputs were rounded to half: within 1% of the logits' scale (the taught decoder's
    # logits reach about 70; bf16 input rounding moves them by about 0.3), and closer to the
    # fp32 reference than torch computing in half.
    error = (low - low_ref).abs().max().item()
    assert error < 0.01 * low_ref.abs().max().item()
    assert error < (low_half.float() - low_ref).abs().max().item()


def test_lone_onnx_file_uses_its_metadata_and_refuses_without_it(official, tmp_path):
    import onnx

    model = official.segmenter.model
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(official.folder / "sam_decoder.onnx", lone)
    runner, warning = make_backend("decoder", "onnxruntime", model, lone)  # no manifest.json
    assert warning is None and runner is not None
    proto = onnx.load(str(lone / "sam_decoder.onnx"))
    kept = [p for p in proto.metadata_props if not p.key.startswith("lisa_ros.weights_sha256")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.save(proto, str(lone / "sam_decoder.onnx"))
    runner, warning = make_backend("decoder", "onnxruntime", model, lone)
    assert runner is None and "records no weights hash" in warning


def test_corrupt_file_falls_back(official, tmp_path):
    (tmp_path / "sam_decoder.onnx").write_bytes(b"not an onnx file")
    runner, warning = make_backend("decoder", "onnxruntime", official.segmenter.model, tmp_path)
    assert runner is None and "onnxruntime cannot load" in warning


def test_missing_onnxruntime_falls_back(official, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    runner, warning = make_backend("decoder", "onnxruntime", official.segmenter.model, official.folder)
    assert runner is None and "onnxruntime not installed" in warning


def test_cuda_model_without_cuda_provider_falls_back(official, monkeypatch):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    monkeypatch.setattr(backends, "_model_device", lambda model: "cuda:0")
    runner, warning = make_backend("encoder", "onnxruntime", official.segmenter.model, official.folder)
    assert runner is None and "no CUDAExecutionProvider" in warning


def test_tensorrt_absent_falls_back(official):
    reason = tensorrt_unavailable()
    if reason is None:
        pytest.skip("TensorRT and a CUDA GPU are present (see test_export_tensorrt.py)")
    runner, warning = make_backend("decoder", "tensorrt", official.segmenter.model, official.folder)
    assert runner is None and reason in warning and "using torch" in warning


def test_attach_backends_records_the_fallback(official, tmp_path):
    from lisa_ros.core.segmenter import LisaSegmenter

    segmenter = LisaSegmenter(official.segmenter.loaded, device="cpu")
    attach_backends(segmenter, decoder="onnxruntime", artifacts=tmp_path)
    assert segmenter.backend_names["decoder"] == "torch"
    assert segmenter.mask_decoder == segmenter.model.decode_masks
    assert len(segmenter.backend_warnings) == 1 and "not found" in segmenter.backend_warnings[0]


def test_segmenter_on_onnxruntime_gives_the_same_masks(official):
    """attach_backends(decoder=/encoder="onnxruntime", artifacts=DIR) vs torch, on the prompts
    the tiny model was taught (one, two and no [SEG])."""
    from lisa_ros.core.segmenter import LisaSegmenter

    onnx_segmenter = attach_backends(
        LisaSegmenter.from_pretrained(official.model_folder, precision="fp32", device="cpu"),
        decoder="onnxruntime", encoder="onnxruntime", artifacts=official.folder,
    )
    assert onnx_segmenter.backend_names == {"decoder": "onnxruntime", "encoder": "onnxruntime"}
    assert onnx_segmenter.backend_warnings == []
    image = scene_image()
    counts = []
    for instruction in TAUGHT:
        question = instruction.replace(" Please output segmentation mask.", "")
        reference = official.segmenter.segment(image, question, keep_logits=True)
        result = onnx_segmenter.segment(image, question, keep_logits=True)
        assert result.answer == reference.answer
        assert len(result.masks) == len(reference.masks)
        counts.append(len(result.masks))
        for got, want in zip(result.masks, reference.masks):
            assert mask_iou(got.mask, want.mask) >= 0.999
            # fp32 round-off grows with the logits (about 50 here): judged relative beyond 1e-4
            scale = float(np.abs(want.logits).max())
            assert np.abs(got.logits - want.logits).max() <= max(1e-4, 1e-5 * scale)
            assert abs(got.score - want.score) <= 1e-4
            assert got.box == want.box and got.phrase == want.phrase
    assert sorted(counts) == [0, 1, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_model_on_onnxruntime(official):
    """A model on the GPU: onnxruntime's CUDA provider runs the artifact (outputs on the GPU),
    or, without that provider, torch is kept with a warning."""
    import onnxruntime

    model = copy.deepcopy(official.segmenter.model).to("cuda")
    runner, warning = make_backend("decoder", "onnxruntime", model, official.folder)
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert runner is None and "no CUDAExecutionProvider" in warning
        return
    assert warning is None, warning
    shape = model.sam_shape
    embedding = torch.randn(1, shape.prompt_embed_dim, shape.embedding_size, shape.embedding_size, device="cuda")
    prompts = torch.randn(3, shape.prompt_embed_dim, device="cuda")
    with torch.inference_mode():
        low_ref, _ = model.decode_masks(embedding, prompts)
        low, iou = runner(embedding, prompts)
    assert low.device.type == "cuda" and iou.device.type == "cuda"
    assert (low - low_ref).abs().max().item() <= 1e-3  # cuDNN/TF32 on the torch side
