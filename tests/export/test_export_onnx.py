"""ONNX export of SAM's decoder / encoder: file layout, metadata, and parity with torch (fp32).

Parity bar (issue 6): onnxruntime vs torch max abs logit difference <= 1e-4 and mask IoU
>= 0.999, for K = 1..5 and 8 prompts, on both tiny variants (and lisa-tiny once it exists).
"""

import json

import numpy as np
import pytest
import torch

from lisa_ros.export.artifacts import MANIFEST_NAME, ONNX_ARTIFACTS
from lisa_ros.export.runners import DecoderRunner, EncoderRunner, OrtEngine
from lisa_ros.export.verify import mask_iou

MAX_ABS = 1e-4
# Mask logits of a trained decoder reach tens (the taught tiny one's about 70), where fp32
# round-off alone is a few 1e-5 * the scale: beyond MAX_ABS, differences are judged relative.
MAX_REL = 1e-5
MIN_IOU = 0.999
KS = (1, 2, 3, 4, 5, 8)


def _within_fp32_error(result: torch.Tensor, reference: torch.Tensor) -> bool:
    """Max abs difference within MAX_ABS, or MAX_REL of the reference's largest magnitude."""
    scale = reference.abs().max().item()
    return (result - reference).abs().max().item() <= max(MAX_ABS, MAX_REL * scale)


def _iou(reference: torch.Tensor, result: torch.Tensor) -> float:
    return min(mask_iou(r > 0, g > 0) for r, g in zip(reference.numpy(), result.numpy()))


def _random(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_folder_layout_manifest_and_metadata(exported):
    import onnx

    manifest = json.loads((exported.folder / MANIFEST_NAME).read_text())
    assert manifest["format"] == "lisa_ros.export/1"
    shape = exported.segmenter.model.sam_shape
    channels, grid = shape.prompt_embed_dim, shape.embedding_size
    hidden = exported.segmenter.model.config.hidden_size
    expected_inputs = {
        "decoder": [[1, channels, grid, grid], ["K", channels]],
        "decoder_fcs": [[1, channels, grid, grid], ["K", hidden]],
        "encoder": [[1, 3, shape.img_size, shape.img_size]],
    }
    assert set(manifest["artifacts"]) == set(expected_inputs)
    for name, record in manifest["artifacts"].items():
        spec = ONNX_ARTIFACTS[name]
        assert record["file"] == spec.file and (exported.folder / spec.file).is_file()
        assert record["opset"] == 17 and record["versions"]["onnx"] and record["versions"]["torch"]
        assert record["model"] == str(exported.model_folder)
        assert set(record["weights_sha256"]) == {"float32", "bfloat16", "float16"}
        assert [i["shape"] for i in record["inputs"]] == expected_inputs[name]
        proto = onnx.load(str(exported.folder / spec.file))
        onnx.checker.check_model(proto)
        # graph I/O: names, order, dynamic K on the prompt axis
        assert [i.name for i in proto.graph.input] == list(spec.inputs)
        assert [o.name for o in proto.graph.output] == list(spec.outputs)
        dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]
        assert dims == expected_inputs[name]
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["lisa_ros.artifact"] == name and meta["lisa_ros.scope"] == spec.scope
        for dtype, digest in record["weights_sha256"].items():
            assert meta[f"lisa_ros.weights_sha256.{dtype}"] == digest
    side = shape.low_res_size
    assert manifest["artifacts"]["decoder"]["outputs"] == [
        {"name": "low_res_masks", "shape": ["K", 1, side, side], "dtype": "float32"},
        {"name": "iou_predictions", "shape": ["K", 1], "dtype": "float32"},
    ]
    # the decoder graph folds the PE and the no-mask embedding in: it has exactly two inputs
    assert len(onnx.load(str(exported.folder / "sam_decoder.onnx")).graph.input) == 2


@pytest.fixture(scope="module")
def runners(exported):
    folder = exported.folder
    low_res = exported.segmenter.model.sam_shape.low_res_size
    return {
        "decoder": DecoderRunner(OrtEngine(folder / "sam_decoder.onnx"), low_res),
        "decoder_fcs": DecoderRunner(OrtEngine(folder / "sam_decoder_fcs.onnx"), low_res),
        "encoder": EncoderRunner(OrtEngine(folder / "sam_encoder.onnx")),
    }


@pytest.mark.parametrize("count", KS)
def test_decoder_parity_random_inputs(exported, runners, count):
    model = exported.segmenter.model
    shape = model.sam_shape
    embedding = _random((1, shape.prompt_embed_dim, shape.embedding_size, shape.embedding_size), count)
    prompts = _random((count, shape.prompt_embed_dim), 100 + count)
    states = _random((count, model.config.hidden_size), 200 + count)
    with torch.inference_mode():
        reference = model.decode_masks(embedding, prompts)
        reference_fcs = model.decode_masks(embedding, model.project_seg_states(states))
    for (low_ref, iou_ref), (low, iou) in (
        (reference, runners["decoder"](embedding, prompts)),
        (reference_fcs, runners["decoder_fcs"](embedding, states)),
    ):
        assert low.shape == (count, 1, shape.low_res_size, shape.low_res_size) and iou.shape == (count, 1)
        assert low.dtype == torch.float32
        assert (low - low_ref).abs().max().item() <= MAX_ABS
        assert (iou - iou_ref).abs().max().item() <= MAX_ABS
        assert _iou(low_ref[:, 0], low[:, 0]) >= MIN_IOU


def test_encoder_parity_and_end_to_end_masks(exported, runners):
    """Real image through both encoders, then real [SEG] prompts through the ONNX decoder."""
    from lisa_ros.core.postprocess import upscale_mask_logits
    from lisa_ros.core.preprocess import preprocess_sam
    from lisa_ros.export.verify import RealInputs, synthetic_scene

    segmenter = exported.segmenter
    model = segmenter.model
    real = RealInputs(segmenter, synthetic_scene(), (1, 3))
    pixels, _ = preprocess_sam(synthetic_scene(), model.sam_shape.img_size)
    pixels = torch.from_numpy(pixels).unsqueeze(0)
    with torch.inference_mode():
        reference = model.encode_sam(pixels)
        embedding = runners["encoder"](pixels)
        assert embedding.shape == reference.shape
        assert (embedding - reference).abs().max().item() <= MAX_ABS
        random_pixels = _random(pixels.shape, 7)
        assert (runners["encoder"](random_pixels) - model.encode_sam(random_pixels)).abs().max().item() <= MAX_ABS
        for states in real.states.values():
            prompts = model.project_seg_states(states)
            low_ref, _ = model.decode_masks(reference, prompts)
            low, _ = runners["decoder"](embedding, prompts)
            assert _within_fp32_error(low, low_ref)
            up_ref, up = (upscale_mask_logits(x, real.resize) for x in (low_ref, low))
            assert _iou(up_ref, up) >= MIN_IOU


def test_decoder_runner_handles_zero_and_chunked_prompts(official):
    model = official.segmenter.model
    shape = model.sam_shape
    engine = OrtEngine(official.folder / "sam_decoder.onnx")
    runner = DecoderRunner(engine, shape.low_res_size)
    embedding = _random((1, shape.prompt_embed_dim, shape.embedding_size, shape.embedding_size), 3)
    low, iou = runner(embedding, torch.zeros(0, shape.prompt_embed_dim))
    assert low.shape == (0, 1, shape.low_res_size, shape.low_res_size) and iou.shape == (0, 1)
    prompts = _random((5, shape.prompt_embed_dim), 4)
    whole = runner(embedding, prompts)
    engine.max_batch = 2  # as a TensorRT profile would cap K: 5 prompts run as 2 + 2 + 1
    chunked = runner(embedding, prompts)
    # Same numbers up to fp32 round-off of another batch size (logits reach about 40 here).
    np.testing.assert_allclose(chunked[0].numpy(), whole[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chunked[1].numpy(), whole[1].numpy(), rtol=1e-5, atol=1e-6)


def test_export_leaves_the_model_and_folder_clean(official):
    """Export traces copies: the model's weights still hash as recorded, nothing is left over."""
    from lisa_ros.export.hashing import weights_hash

    model = official.segmenter.model
    manifest = json.loads((official.folder / MANIFEST_NAME).read_text())
    for name, record in manifest["artifacts"].items():
        assert weights_hash(model, record["scope"]) == record["weights_sha256"]["float32"], name
    assert not model.training and not any(p.requires_grad for p in model.sam.parameters())
    assert sorted(p.name for p in official.folder.iterdir()) == sorted(
        [MANIFEST_NAME] + [spec.file for spec in ONNX_ARTIFACTS.values()]
    )


def test_large_graphs_keep_weights_in_one_external_file(official, tmp_path, monkeypatch):
    """ViT-H's encoder (2.5 GB) cannot live inside an ONNX protobuf: above the threshold the
    weights go to ``<file>.data`` beside it, and the metadata and runtime still work."""
    from lisa_ros.export import onnx_export
    from lisa_ros.export.backends import make_backend

    monkeypatch.setattr(onnx_export, "_EXTERNAL_BYTES", 0)
    record = onnx_export.export_onnx(official.segmenter.model, "encoder", tmp_path)
    data = tmp_path / "sam_encoder.onnx.data"
    assert data.is_file() and (tmp_path / "sam_encoder.onnx").stat().st_size < data.stat().st_size
    assert record["bytes"] == (tmp_path / "sam_encoder.onnx").stat().st_size + data.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sam_encoder.onnx", "sam_encoder.onnx.data"]
    runner, warning = make_backend("encoder", "onnxruntime", official.segmenter.model, tmp_path)
    assert warning is None
    size = official.segmenter.model.sam_shape.img_size
    pixels = _random((1, 3, size, size), 9)
    with torch.inference_mode():
        assert (runner(pixels) - official.segmenter.model.encode_sam(pixels)).abs().max().item() <= MAX_ABS
