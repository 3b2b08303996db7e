"""Shared helpers of the training tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = REPO / "tests" / "fixtures" / "tokenizer" / "lisa13b"
SCENE_SIZE = (80, 60)
DATA_SEED = 4711

MICRO_SPEC = {
    "lisa": {
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "vocab_size": "auto", "max_position_embeddings": 512,
        "mm_vision_select_layer": -1, "out_dim": 32, "vision_tower": "clip",
    },
    "sam": {
        "img_size": 64, "patch_size": 16, "encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
        "encoder_mlp_ratio": 2.0, "window_size": 2, "global_attn_indexes": [1], "prompt_embed_dim": 32,
        "mask_in_chans": 8, "decoder_depth": 1, "decoder_mlp_dim": 64, "decoder_num_heads": 4,
        "num_multimask_outputs": 3, "iou_head_depth": 2, "iou_head_hidden_dim": 32,
    },
    "clip": {
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "image_size": 28, "patch_size": 14, "projection_dim": 32,
    },
    "clip_preprocess": {"size": {"height": 28, "width": 28}, "do_center_crop": False},
    "tokenizer": str(TOKENIZER),
    "seed": 3,
}


def train_config(out: Path, spec: Path, data: Path, **overrides):
    """A :class:`~lisa_ros.train.scratch.config.ScratchTrainConfig` for micro runs (CPU, quiet, fp32
    storage; ``overrides`` may switch on the from-scratch aids)."""
    from lisa_ros.train.scratch.config import ScratchTrainConfig

    settings = dict(
        out=str(out), init=str(spec), data=[str(data)], mode="full", steps=3, images_per_batch=2,
        conversations_per_image=2, lr=1e-3, warmup=1, device="cpu", threads=1, progress=False,
        llm_dtype="fp32", sam_dtype="fp32", clip_dtype="fp32",
    )
    settings.update(overrides)
    return ScratchTrainConfig(**settings)


def probe_module(name: str):
    """Import the script ``bench/probes/<name>.py`` (probes import ``probe_cli`` from their own folder)."""
    import importlib.util
    import sys

    folder = REPO / "bench" / "probes"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module
