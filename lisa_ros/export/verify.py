"""Check exported artifacts against the torch path they replace.

Two kinds of inputs per artifact:

* ``random``: Gaussian image embeddings / prompts / ``[SEG]`` states / pixels, for K in ``ks``;
* ``real``: a synthetic RGB scene through the model's own preprocessing and SAM encoder, and
  ``[SEG]`` states from the model's language model (one teacher-forced pass over an answer
  with K ``[SEG]``), projected by ``text_hidden_fcs``, for K in ``real_ks``.

Per case: the largest absolute difference of the decoder's low-resolution logits
(``low_res_max_abs``), of its IoU predictions (``iou_pred_max_abs``), of the encoder's
embedding (``embedding_max_abs``), and the IoU of the masks (logits > 0) at low resolution
(``mask_iou_low_res``) and after upscaling to the source size (``mask_iou_upscaled``; the
worst mask of the K). fp32 artifacts must stay within :class:`Tolerances`; fp16 engines are
reported, not judged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .artifacts import artifact_path, read_manifest

__all__ = ["Tolerances", "RealInputs", "verify_folder", "synthetic_scene", "mask_iou"]

DEFAULT_KS = (1, 2, 3, 4, 5, 8)
DEFAULT_REAL_KS = (1, 3)
INSTRUCTION = "What can I use to drink? Please output segmentation mask."


@dataclass(frozen=True)
class Tolerances:
    """fp32 artifact vs torch fp32: largest absolute difference and smallest mask IoU."""

    max_abs: float = 1e-4
    min_mask_iou: float = 0.999


def synthetic_scene(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB: a few flat-coloured objects (rectangles, a disc) on noise."""
    rng = np.random.default_rng(seed)
    image = rng.integers(40, 90, size=(height, width, 3), dtype=np.uint8)
    image[height // 5 : height // 2, width // 10 : width // 3] = (210, 40, 35)
    image[height // 2 : 4 * height // 5, width // 2 : 4 * width // 5] = (30, 60, 200)
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height * 0.3) ** 2 + (xx - width * 0.7) ** 2 < (min(height, width) * 0.12) ** 2
    image[disc] = (235, 210, 40)
    return image


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks; 1.0 when both are empty."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _worst_iou(ref: np.ndarray, got: np.ndarray) -> float:
    """Smallest per-mask IoU of ``[K, ...]`` logits binarised at 0."""
    return min((mask_iou(r > 0, g > 0) for r, g in zip(ref, got)), default=1.0)


def _max_abs(ref, got) -> float:
    return float((ref.float().cpu() - got.float().cpu()).abs().max()) if ref.numel() else 0.0


def _compare_decoder(reference, result, resize) -> dict:
    from lisa_ros.core.postprocess import upscale_mask_logits

    (ref_low, ref_iou), (got_low, got_iou) = reference, result
    ref_up = upscale_mask_logits(ref_low.float().cpu(), resize).numpy()
    got_up = upscale_mask_logits(got_low.float().cpu(), resize).numpy()
    return {
        "low_res_max_abs": _max_abs(ref_low, got_low),
        "iou_pred_max_abs": _max_abs(ref_iou, got_iou),
        "mask_iou_low_res": _worst_iou(ref_low.float().cpu().numpy()[:, 0], got_low.float().cpu().numpy()[:, 0]),
        "mask_iou_upscaled": _worst_iou(ref_up, got_up),
    }


class RealInputs:
    """The real-input side of a verification: one scene, its embedding, ``[SEG]`` states."""

    def __init__(self, segmenter, image: np.ndarray, real_ks):
        import torch

        from lisa_ros.core.generation import teacher_forced_states
        from lisa_ros.core.preprocess import preprocess_clip, preprocess_sam
        from lisa_ros.core.prompt import build_prompt_ids

        model = segmenter.model
        device = segmenter.device
        pixels, self.resize = preprocess_sam(image, model.sam_shape.img_size)
        self.pixels = torch.from_numpy(pixels).unsqueeze(0).to(device)
        clip = torch.from_numpy(preprocess_clip(image, segmenter.loaded.clip_preprocess)).unsqueeze(0).to(device)
        self.states = {}
        with torch.inference_mode():
            self.embedding = model.encode_sam(self.pixels)
            clip_tokens = model.encode_clip(clip)
            for count in real_ks:
                answer = "Sure, " + ", ".join(["[SEG]"] * count) + "."
                prompt = build_prompt_ids(
                    segmenter.tokenizer, INSTRUCTION, answer=answer, use_im_start_end=segmenter.config.mm_use_im_start_end
                )
                _, states = teacher_forced_states(model, prompt.ids, clip_tokens, segmenter.seg_token_id)
                if states.shape[0] != count:
                    raise RuntimeError(f"expected {count} [SEG] states, got {states.shape[0]}")
                self.states[count] = states


def _engine_for(record: dict, path: Path, device: str, threads):
    """The engine to verify ``record`` with, or the reason it cannot run here."""
    if record["format"] == "onnx":
        from .runners import OrtEngine, ort_providers

        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return None, "onnxruntime not installed"
        run_on = device if not ort_providers(device)[1] else "cpu"
        return OrtEngine(path, device=run_on, threads=threads), None
    from .trt_engine import TensorRTEngine, tensorrt_unavailable

    reason = tensorrt_unavailable()
    return (None, reason) if reason else (TensorRTEngine(path, device=device), None)


def _verify_one(name: str, record: dict, engine, segmenter, real: RealInputs, ks, seed: int) -> dict:
    import torch

    from lisa_ros.core.preprocess import SamResize

    from .hashing import hash_key, weights_hash

    model = segmenter.model
    device = segmenter.device
    shape = model.sam_shape
    square = SamResize((shape.img_size, shape.img_size), (shape.img_size, shape.img_size), shape.img_size)
    scope = record["scope"]
    generator = torch.Generator().manual_seed(seed)
    randn = lambda *size: torch.randn(*size, generator=generator).to(device)  # noqa: E731
    report = {
        "file": record["file"], "format": record["format"], "precision": record.get("precision", "fp32"),
        "runs_on": engine.describe(),
        "weights_hash_ok": record["weights_sha256"].get(hash_key(model, scope)) == weights_hash(model, scope),
        "random": {}, "real": {},
    }
    with torch.inference_mode():
        if scope == "encoder":
            for label, pixels in (("random", randn(1, 3, shape.img_size, shape.img_size)), ("real", real.pixels)):
                reference = model.encode_sam(pixels)
                result = engine.run([pixels])[0]
                case = {"embedding_max_abs": _max_abs(reference, result)}
                if label == "real":  # what the difference does to masks: torch decoder on both,
                    # every real prompt set at once (the worst mask counts)
                    prompts = model.project_seg_states(torch.cat(list(real.states.values())))
                    case.update(_compare_decoder(model.decode_masks(reference, prompts),
                                                 model.decode_masks(result.to(device), prompts), real.resize))
                report[label]["pixels" if label == "random" else "image"] = case
        else:
            fcs = scope == "decoder_fcs"
            width = model.config.hidden_size if fcs else shape.prompt_embed_dim
            embedding = randn(1, shape.prompt_embed_dim, shape.embedding_size, shape.embedding_size)
            cases = [("random", k, embedding, randn(k, width), square) for k in ks]
            cases += [("real", k, real.embedding, s if fcs else model.project_seg_states(s), real.resize)
                      for k, s in real.states.items()]
            for label, count, image_embedding, seg, resize in cases:
                prompts = model.project_seg_states(seg) if fcs else seg
                reference = model.decode_masks(image_embedding, prompts)
                result = engine.run([image_embedding, seg])
                report[label][f"K={count}"] = _compare_decoder(reference, result, resize)
    cases = [c for group in ("random", "real") for c in report[group].values()]
    report["max_abs_diff"] = max(v for c in cases for k, v in c.items() if "max_abs" in k)
    report["min_mask_iou"] = min((v for c in cases for k, v in c.items() if k.startswith("mask_iou")), default=1.0)
    return report


def verify_folder(
    segmenter, folder: str | Path, *, ks=DEFAULT_KS, real_ks=DEFAULT_REAL_KS, seed: int = 0,
    image: np.ndarray | None = None, tolerances: Tolerances = Tolerances(), threads: int | None = None,
    names=None,
) -> dict:
    """Compare every artifact of export folder ``folder`` (or those in ``names``) with torch.

    Args:
        segmenter: a :class:`LisaSegmenter` holding the model the artifacts came from, in fp32
            for a meaningful comparison (its torch path is the reference).
        image: the real scene (default :func:`synthetic_scene`).
    Returns:
        the JSON-ready report: ``artifacts`` (per artifact, per input kind, per K), and over the
        fp32 artifacts ``worst_max_abs_diff``, ``min_mask_iou`` and ``passed``; ``skipped``
        names artifacts whose runtime is absent here, with the reason.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(f"{folder} has no manifest.json")
    folder = Path(folder)
    records = {n: r for n, r in manifest["artifacts"].items() if names is None or n in names}
    real = RealInputs(segmenter, synthetic_scene() if image is None else image, real_ks)
    report = {
        "folder": str(folder), "device": str(segmenter.device), "tolerances": asdict(tolerances),
        "ks": list(ks), "real_ks": list(real_ks), "seed": seed, "artifacts": {}, "skipped": {},
    }
    for name, record in records.items():
        if record.get("scope") not in ("decoder", "decoder_fcs", "encoder"):
            continue
        try:
            path = artifact_path(folder, record["file"])
        except ValueError as exc:  # a manifest naming a file outside the folder
            report["skipped"][name] = str(exc)
            continue
        engine, reason = _engine_for(record, path, segmenter.device, threads)
        if engine is None:
            report["skipped"][name] = reason
            continue
        report["artifacts"][name] = _verify_one(name, record, engine, segmenter, real, ks, seed)
    judged = [r for r in report["artifacts"].values() if r["precision"] == "fp32"]
    report["worst_max_abs_diff"] = max((r["max_abs_diff"] for r in judged), default=None)
    report["min_mask_iou"] = min((r["min_mask_iou"] for r in judged), default=None)
    for r in report["artifacts"].values():
        r["passed"] = (r["weights_hash_ok"] and r["max_abs_diff"] <= tolerances.max_abs
                       and r["min_mask_iou"] >= tolerances.min_mask_iou) if r["precision"] == "fp32" else None
    report["passed"] = all(r["passed"] for r in judged)
    half = [r for r in report["artifacts"].values() if r["precision"] != "fp32"]
    if half:
        report["fp16_worst_max_abs_diff"] = max(r["max_abs_diff"] for r in half)
        report["fp16_min_mask_iou"] = min(r["min_mask_iou"] for r in half)
    return report

