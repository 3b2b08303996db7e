"""TensorRT engines: build from ONNX, run through make_backend, compare with torch.

These need the ``tensorrt`` package and a CUDA GPU; neither the project machines nor the lent
GPU machine have TensorRT, so here they skip and the TensorRT path is unverified.
"""

import pytest
import torch

from lisa_ros.export.trt_engine import tensorrt_unavailable

REASON = tensorrt_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"TensorRT path untestable here: {REASON}")


@pytest.mark.parametrize("fp16", [False, True])
def test_engines_match_torch(official, tmp_path, fp16):
    from lisa_ros.export.backends import make_backend
    from lisa_ros.export.exporter import ExportOptions, export_folder

    model = official.segmenter.model
    export_folder(model, tmp_path, ExportOptions(tensorrt=True, fp16=fp16, max_prompts=4))
    decoder, warning = make_backend("decoder", "tensorrt", model, tmp_path)
    assert warning is None, warning
    encoder, warning = make_backend("encoder", "tensorrt", model, tmp_path)
    assert warning is None, warning
    tolerance = 5e-2 if fp16 else 1e-4
    shape = model.sam_shape
    pixels = torch.randn(1, 3, shape.img_size, shape.img_size)
    with torch.inference_mode():
        embedding = model.encode_sam(pixels)
        assert (encoder(pixels) - embedding).abs().max().item() <= tolerance
        for count in (1, 3, 5):  # 5 > max_prompts: run in chunks
            prompts = torch.randn(count, shape.prompt_embed_dim)
            low_ref, iou_ref = model.decode_masks(embedding, prompts)
            low, iou = decoder(embedding, prompts)
            assert (low.cpu() - low_ref).abs().max().item() <= tolerance
            assert (iou.cpu() - iou_ref).abs().max().item() <= tolerance
