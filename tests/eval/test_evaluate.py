"""lisa-eval: JSON summary keys, worst-case PNG, generate vs teacher-forced, official folders,
and the scoring rules for multi-target and absent samples."""

import json
from pathlib import Path

import numpy as np
import pytest

SIZE = (80, 60)
TOKENIZER = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizer" / "lisa13b"
# A random micro model (scores do not matter here, only the bookkeeping).
MICRO_SPEC = {
    "lisa": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "vocab_size": "auto", "mm_vision_select_layer": -1, "out_dim": 32, "vision_tower": "clip"},
    "sam": {"img_size": 64, "patch_size": 16, "encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
            "encoder_mlp_ratio": 2.0, "window_size": 2, "global_attn_indexes": [1], "prompt_embed_dim": 32,
            "mask_in_chans": 8, "decoder_depth": 1, "decoder_mlp_dim": 64, "decoder_num_heads": 4,
            "num_multimask_outputs": 3, "iou_head_depth": 2, "iou_head_hidden_dim": 32},
    "clip": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "image_size": 28, "patch_size": 14, "projection_dim": 32},
    "clip_preprocess": {"size": {"height": 28, "width": 28}, "do_center_crop": False},
    "tokenizer": str(TOKENIZER),
    "seed": 11,
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from lisa_ros.train.checkpoints import save_model
    from lisa_ros.train.scratch.init_spec import InitSpec, build_from_spec

    root = tmp_path_factory.mktemp("evalmodel")
    model, _, clip_pre, tok_folder = build_from_spec(InitSpec(MICRO_SPEC, root, "micro"), root / "tok")
    return save_model(model.eval(), root / "model", tok_folder, clip_pre, write_clip=True)


@pytest.fixture(scope="module")
def segmenter(tiny_model):
    from lisa_ros.core.segmenter import LisaSegmenter

    return LisaSegmenter.from_pretrained(tiny_model, precision="fp32", device="cpu", max_new_tokens=12)


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory):
    from lisa_ros.data.synth import generate_dataset

    folder = tmp_path_factory.mktemp("evaldata")
    generate_dataset(folder, 8086, 8, size=SIZE)  # one scene of every family
    return folder


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory):
    from lisa_ros.data.reasonseg import write_sample
    from lisa_ros.data.synth import render_scene

    folder = tmp_path_factory.mktemp("evalofficial")
    for index in range(3):
        sample = render_scene(8087, index, SIZE, family="explicit")
        write_sample(folder, f"val_{index}", sample.image, sample.texts, sample.is_sentence, sample.target_masks)
    return folder


def test_cli_writes_json_and_png(tiny_model, synth_folder, tmp_path, capsys):
    from lisa_ros.cli.eval import main

    out_json = tmp_path / "eval.json"
    out_png = tmp_path / "worst.png"
    code = main(["--model", str(tiny_model), "--data", str(synth_folder), "--json", str(out_json),
                 "--worst", str(out_png), "--worst-count", "3", "--device", "cpu", "--precision", "fp32",
                 "--max-new-tokens", "12", "--no-progress", "--per-sample"])
    assert code == 0
    summary = json.loads(out_json.read_text())
    for key in ("giou", "ciou", "count", "families", "absent_correct_rate", "mode", "model", "data", "limit"):
        assert key in summary, key
    assert summary["mode"] == "generate" and summary["limit"] is None
    assert set(summary["families"]) == {"explicit", "functional", "world_knowledge", "spatial", "comparative",
                                        "multi_target", "absent", "explanatory"}
    for entry in summary["families"].values():
        assert {"giou", "ciou", "count"} <= set(entry)
    assert "absent_correct_rate" in summary["families"]["absent"]
    assert summary["count"] == sum(e["count"] for k, e in summary["families"].items() if k != "absent")
    assert summary["families"]["multi_target"]["count"] == 2  # one mask per target group
    assert len(summary["per_sample"]) == 8
    for row in summary["per_sample"]:  # one precision and recall per target mask
        assert len(row["precisions"]) == len(row["recalls"]) == row["num_targets"]
        assert all(0.0 <= r <= 1.0 for r in row["recalls"])
        assert all(p is None or 0.0 <= p <= 1.0 for p in row["precisions"])
    import cv2

    grid = cv2.imread(str(out_png))
    assert grid is not None and grid.shape[0] > 3 * 60 and grid.shape[1] >= 3 * 320
    assert "overall" in capsys.readouterr().out


def test_teacher_forced_vs_generate(segmenter, synth_folder):
    from lisa_ros.eval.evaluate import evaluate_folder

    forced = evaluate_folder(segmenter, synth_folder, mode="teacher-forced")
    generated = evaluate_folder(segmenter, synth_folder, mode="generate")
    assert forced.summary["mode"] == "teacher-forced" and forced.summary["absent_correct_rate"] is None
    assert generated.summary["absent_correct_rate"] in (0.0, 1.0)
    # teacher forcing gives every target a mask: one per [SEG] of "[SEG]." or of the own answer
    for sample in forced.samples:
        assert sample.num_predicted == sample.num_targets
    assert forced.summary["count"] == generated.summary["count"]
    multi = [s for s in forced.samples if s.family == "multi_target"]
    assert multi and "[SEG]" in multi[0].answer and multi[0].answer != "[SEG]."


def test_official_folder_is_evaluable(segmenter, official_folder):
    from lisa_ros.eval.evaluate import evaluate_folder

    result = evaluate_folder(segmenter, official_folder, mode="teacher-forced", limit=2)
    assert result.summary["samples"] == 2 and result.summary["count"] == 2
    assert set(result.summary["families"]) == {"all"}
    assert result.samples[0].answer == "[SEG]."
    assert result.samples[0].question.endswith("Please output segmentation mask.")


class _Fixed:
    """A stand-in segmenter returning given masks (scoring rules without a model)."""

    def __init__(self, masks):
        self.masks = masks

    def segment(self, image, question, **_):
        from lisa_ros.core.postprocess import mask_box
        from lisa_ros.core.results import MaskResult, SegmentationOutput, Status

        results = [MaskResult(m, 1.0, mask_box(m), "") for m in self.masks]
        return SegmentationOutput(Status.OK if results else Status.NO_TARGET, "x", results, image.shape[:2])


def _sample(targets, family, ignore=None):
    from lisa_ros.data.reasonseg import ReasonSegSample

    shape = (4, 4)
    ignore = np.zeros(shape, bool) if ignore is None else ignore
    return ReasonSegSample("s", None, None, np.zeros(shape + (3,), np.uint8), ["the thing"], False,
                           np.zeros(shape, np.uint8), targets, ignore, family=family, answer="")


def test_scoring_rules_multi_target_and_absent():
    from lisa_ros.eval.evaluate import evaluate_samples

    a = np.zeros((4, 4), bool)
    a[:2, :2] = True
    b = np.zeros((4, 4), bool)
    b[2:, 2:] = True
    # two targets, one predicted mask (equal to the first): second target scores an empty prediction
    result = evaluate_samples(_Fixed([a]), [_sample([a, b], "multi_target")])
    assert result.samples[0].ious == pytest.approx([1.0, 0.0], abs=1e-4)
    assert result.summary["giou"] == pytest.approx(0.5, abs=1e-4)
    assert result.summary["ciou"] == pytest.approx(4 / 8, abs=1e-4)
    # extra masks are counted, not scored
    result = evaluate_samples(_Fixed([a, b, b]), [_sample([a, b], "multi_target")])
    assert result.summary["extra_masks"] == 1 and result.summary["giou"] == pytest.approx(1.0, abs=1e-4)
    # absent: no mask is correct (IoU 1 by the empty-union rule), any mask is wrong
    right = evaluate_samples(_Fixed([]), [_sample([], "absent")])
    wrong = evaluate_samples(_Fixed([a]), [_sample([], "absent")])
    assert right.summary["absent_correct_rate"] == 1.0 and right.summary["families"]["absent"]["giou"] == 1.0
    assert wrong.summary["absent_correct_rate"] == 0.0 and wrong.summary["families"]["absent"]["giou"] == 0.0
    assert right.summary["count"] == 0  # absent samples stay out of the overall gIoU/cIoU
    # ignore pixels do not count
    ignore = np.zeros((4, 4), bool)
    ignore[3, :] = True
    half = np.zeros((4, 4), bool)
    half[3, :] = True
    half[:2, :2] = True
    result = evaluate_samples(_Fixed([half]), [_sample([a], "explicit", ignore)])
    assert result.samples[0].ious[0] == pytest.approx(1.0, abs=1e-4)
