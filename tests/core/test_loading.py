"""Loading checkpoints in the official layout: both weight formats, reports and clear failures."""

import json
import os
import pickle
import shutil

import pytest
import torch

from lisa_ros.core.checkpoint import internal_to_official, official_to_internal
from lisa_ros.core.errors import CheckpointError, ModelNotAvailableError
from lisa_ros.core.loading import load_lisa
from lisa_ros.core.resolve import resolve_model_path


def _copy(folder, tmp_path):
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


def test_official_layout_loads_with_sizes_from_the_checkpoint(tiny_official):
    loaded = load_lisa(tiny_official, tiny_official / "clip")
    model = loaded.model
    assert loaded.report.missing == [] and loaded.report.unexpected == []
    assert model.sam_shape.img_size == 128 and model.sam_shape.global_attn_indexes == (1,)
    assert model.num_image_tokens == 16
    assert loaded.tokenizer.seg_token_id == 1003
    # Stored bf16 (LLM) and fp32 (SAM), loaded into fp32 by default.
    assert model.llm.lm_head.weight.dtype == torch.float32
    index = json.loads((tiny_official / "pytorch_model.bin.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1


def test_safetensors_layout_loads(tiny_safetensors):
    loaded = load_lisa(tiny_safetensors, tiny_safetensors / "clip", dtype=torch.bfloat16)
    assert loaded.model.sam_shape.window_size == 0
    assert loaded.model.llm.model.embed_tokens.weight.dtype == torch.bfloat16
    assert loaded.tokenizer.seg_token_id == 1000  # LISA-13B layout


def test_positional_encoding_buffer_comes_from_the_checkpoint(tiny_official):
    stored = {}
    for shard in tiny_official.glob("pytorch_model-*.bin"):
        stored.update(torch.load(shard, weights_only=True))
    key = "model.visual_model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
    torch.manual_seed(12345)  # a fresh random buffer would differ from the stored one
    loaded = load_lisa(tiny_official, tiny_official / "clip")
    assert torch.equal(loaded.model.sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix, stored[key])


def test_key_mapping_round_trips():
    for key in [
        "model.layers.0.self_attn.q_proj.weight", "lm_head.weight", "model.mm_projector.weight",
        "model.text_hidden_fcs.0.2.bias", "model.visual_model.mask_decoder.iou_token.weight",
    ]:
        assert internal_to_official(official_to_internal(key)) == key
    assert official_to_internal("model.layers.3.self_attn.rotary_emb.inv_freq") is None


def _rewrite_shard(folder, edit):
    index = json.loads((folder / "pytorch_model.bin.index.json").read_text())
    shard = folder / sorted(set(index["weight_map"].values()))[-1]
    state = torch.load(shard, weights_only=True)
    edit(state)
    torch.save(state, shard)
    for key in state:
        index["weight_map"][key] = shard.name
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))


def test_unexpected_and_ignored_keys_are_reported(tiny_official, tmp_path):
    folder = _copy(tiny_official, tmp_path)

    def add(state):
        state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(8)
        state["model.some_adapter.weight"] = torch.ones(2)

    _rewrite_shard(folder, add)
    loaded = load_lisa(folder, folder / "clip")
    assert loaded.report.unexpected == ["model.some_adapter.weight"]
    assert loaded.report.ignored == 1


def test_missing_tensor_is_named(tiny_official, tmp_path):
    folder = _copy(tiny_official, tmp_path)

    def drop(state):
        del state["model.visual_model.mask_decoder.iou_token.weight"]

    _rewrite_shard(folder, drop)
    with pytest.raises(CheckpointError, match="lacks 1 tensors: sam.mask_decoder.iou_token.weight"):
        load_lisa(folder, folder / "clip")


def test_shape_mismatch_is_named(tiny_official, tmp_path):
    folder = _copy(tiny_official, tmp_path)

    def widen(state):
        state["model.visual_model.mask_decoder.iou_token.weight"] = torch.zeros(3, 3)

    _rewrite_shard(folder, widen)
    with pytest.raises(CheckpointError, match="iou_token.weight has shape"):
        load_lisa(folder, folder / "clip")


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.model", "added_tokens.json", "pytorch_model-00002-of-00003.bin"])
def test_missing_files_are_named(tiny_official, tmp_path, missing):
    folder = _copy(tiny_official, tmp_path)
    (folder / missing).unlink()
    with pytest.raises(CheckpointError, match=missing.replace(".", r"\.")):
        load_lisa(folder, folder / "clip")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/lisa_ros_pwned_by_checkpoint",))


def test_pickled_code_in_weights_is_refused(tiny_official, tmp_path):
    folder = _copy(tiny_official, tmp_path)
    marker = "/tmp/lisa_ros_pwned_by_checkpoint"
    if os.path.exists(marker):
        os.unlink(marker)
    shard = folder / "pytorch_model-00001-of-00003.bin"
    with open(shard, "wb") as handle:
        pickle.dump({"model.norm.weight": _Exploit()}, handle)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_lisa(folder, folder / "clip")
    assert not os.path.exists(marker)


def test_unknown_names_and_offline_hub_ids_give_clear_errors(monkeypatch):
    with pytest.raises(CheckpointError, match="does not exist.*not a bundled model"):
        resolve_model_path("no-such-model")
    with pytest.raises(ModelNotAvailableError, match="not in the local Hugging Face cache.*allow_download"):
        resolve_model_path("xinlai/LISA-7B-v1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE is set"):
        resolve_model_path("xinlai/LISA-7B-v1", allow_download=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_clip_folder_config_names_the_dtype_it_stores(tmp_path, dtype):
    """A tower loaded in one dtype and cast for storage (lisa-train --clip-dtype) must not keep the
    loaded dtype in its config."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from lisa_ros.core.saving import save_clip_folder
    from lisa_ros.core.preprocess import ClipPreprocessConfig

    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=28, patch_size=14)
    config.dtype = "bfloat16"  # what a config read from a bf16 folder carries
    tower = CLIPVisionModel(config).to(dtype)
    folder = save_clip_folder(tower, ClipPreprocessConfig(), tmp_path / "clip")
    assert json.loads((folder / "config.json").read_text())["dtype"] == str(dtype).replace("torch.", "")
