"""Training runs end to end on micro models: loss goes down, checkpoints load everywhere,
resume is exact, LoRA runs save merged weights, official-format folders train."""

import json

import numpy as np
import pytest
import torch

from train_helpers import train_config
from lisa_ros.train.checkpoints import load_state
from lisa_ros.train.loop import train
from lisa_ros.train.model_setup import build_segmenter
from lisa_ros.train.schedule import lr_factor


@pytest.fixture(scope="module")
def trained(micro_spec, synth_folder, tmp_path_factory):
    """A micro model trained from scratch for a few steps on 2 images (fp32 storage)."""
    out = tmp_path_factory.mktemp("run")
    cfg = train_config(out, micro_spec, synth_folder, steps=16, limit=2, lr=3e-3, warmup=2, schedule="constant")
    return train(cfg)


def _log(run_dir):
    lines = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return [x for x in lines if "step" in x]


def test_loss_goes_down(trained):
    log = _log(trained.model_folder.parent)
    assert len(log) == 16
    first = np.mean([x["loss"] for x in log[:3]])
    last = np.mean([x["loss"] for x in log[-3:]])
    assert last < 0.7 * first, (first, last)
    assert trained.trainable["trainable"] == trained.trainable["total"]


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (60, 80, 3), dtype=np.uint8)


def _compare(segmenter_a, segmenter_b, instruction="Can you segment the mug in this image?"):
    image = _image()
    a = segmenter_a.segment_teacher_forced(image, instruction, "Sure, [SEG].", keep_logits=True)
    b = segmenter_b.segment_teacher_forced(image, instruction, "Sure, [SEG].", keep_logits=True)
    assert len(a.masks) == len(b.masks) == 1
    np.testing.assert_allclose(a.masks[0].logits, b.masks[0].logits, rtol=1e-4, atol=1e-4)
    ga = segmenter_a.segment(image, instruction, max_new_tokens=8)
    gb = segmenter_b.segment(image, instruction, max_new_tokens=8)
    assert ga.answer_ids == gb.answer_ids


def test_saved_checkpoint_matches_memory(trained):
    from lisa_ros.core.segmenter import LisaSegmenter

    folder = trained.model_folder
    assert (folder / "config.json").is_file() and (folder / "pytorch_model.bin.index.json").is_file()
    assert (folder / "clip" / "preprocessor_config.json").is_file()
    assert json.loads((folder / "config.json").read_text())["vision_tower"] == "clip"
    loaded = LisaSegmenter.from_pretrained(folder, precision="fp32", device="cpu")
    trained.model.eval()
    memory = build_segmenter(trained.model, trained.tokenizer, loaded.config, trained.clip_preprocess, "cpu")
    _compare(memory, loaded)


def test_resume_equals_uninterrupted(micro_spec, synth_folder, tmp_path):
    whole = train_config(tmp_path / "whole", micro_spec, synth_folder, steps=4, limit=6, lora_dropout=0.05)
    train(whole)
    part = train_config(tmp_path / "part", micro_spec, synth_folder, steps=4, limit=6, stop_after=2)
    result = train(part)
    assert result.steps == 2 and load_state(tmp_path / "part" / "state.pt")["step"] == 2
    train(train_config(tmp_path / "part", micro_spec, synth_folder, steps=4, limit=6, resume=True))
    a = load_state(tmp_path / "whole" / "state.pt")
    b = load_state(tmp_path / "part" / "state.pt")
    assert a["step"] == b["step"] == 4
    for name, tensor in a["trainable"].items():
        torch.testing.assert_close(b["trainable"][name], tensor, rtol=0, atol=0, msg=name)
    assert a["scheduler"]["schedule"] == b["scheduler"]["schedule"]
    for key, value in a["optimizer"]["state"].items():
        torch.testing.assert_close(b["optimizer"]["state"][key]["exp_avg"], value["exp_avg"], rtol=0, atol=0)


def test_lora_run_from_checkpoint_saves_merged(trained, synth_folder, tmp_path):
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.train.trainable import lora_layers

    cfg = train_config(tmp_path / "lora", None, synth_folder, init=None, model=str(trained.model_folder),
                       mode="lora", steps=3, lr=5e-3, lora_dropout=0.0)
    result = train(cfg)
    assert result.trainable["lora"] > 0 and "vision_tower" not in result.trainable
    assert lora_layers(result.model)
    state = load_state(tmp_path / "lora" / "state.pt")
    assert any(".lora_A." in name for name in state["trainable"])
    # LoRA B starts at zero: after a few steps the adapters must have moved
    assert any(".lora_B." in n and t.abs().sum() > 0 for n, t in state["trainable"].items())
    folder = result.model_folder
    assert (folder / "clip" / "config.json").is_file()  # the relative CLIP travels with the model
    keys = json.loads((folder / "pytorch_model.bin.index.json").read_text())["weight_map"]
    assert not any("lora" in k or "base_layer" in k for k in keys)
    loaded = LisaSegmenter.from_pretrained(folder, precision="fp32", device="cpu")
    result.model.eval()
    memory = build_segmenter(result.model, result.tokenizer, loaded.config, result.clip_preprocess, "cpu")
    _compare(memory, loaded)


def test_official_folder_without_answers_trains(micro_spec, official_folder, tmp_path):
    from lisa_ros.data.lisa_templates import ANSWER_LIST
    from lisa_ros.train.sources import FolderSource
    from lisa_ros.train.stream import TrainStream

    stream = TrainStream(FolderSource(official_folder), seed=0, conversations_per_image=3)
    item = stream.item(0)

    assert all(c.answer in ANSWER_LIST and len(c.masks) == 1 for c in item.conversations)
    assert all("segment" in c.question.lower() or "segmentation mask" in c.question for c in item.conversations)
    result = train(train_config(tmp_path / "off", micro_spec, official_folder, steps=2))
    assert result.last_losses["bce"] > 0


def test_lr_schedule_warmup_and_decay():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10) == pytest.approx(0.5)
    assert lr_factor(100, 100, 10) == pytest.approx(0.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)


def test_cli_runs_and_prints_json(micro_spec, synth_folder, tmp_path, capsys):
    from lisa_ros.cli.train import main

    code = main(["--init", str(micro_spec), "--full", "--data", str(synth_folder), "--out", str(tmp_path / "cli"),
                 "--steps", "1", "--images-per-batch", "1", "--device", "cpu", "--threads", "1", "--no-progress",
                 "--families", "multi_target,absent", "--limit", "2"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 1 and (tmp_path / "cli" / "model" / "config.json").is_file()


@pytest.mark.slow
def test_two_processes_train(micro_spec, synth_folder, tmp_path):
    """Data parallelism over 2 local processes (gloo): runs, saves every rank's RNG state."""
    cfg = train_config(tmp_path / "ddp", micro_spec, synth_folder, steps=2, processes=2, images_per_batch=1, limit=4)
    result = train(cfg)
    assert result.steps == 2 and (result.model_folder / "config.json").is_file()
    state = load_state(tmp_path / "ddp" / "state.pt")
    assert state["extra"]["processes"] == 2 and len(state["rank_rng"]) == 2
