"""Tiny LISA checkpoints for tests, built from config objects and saved in the official layout.

Two variants cover the loader's paths:

* ``official``: LISA-7B tokenizer layout, sharded ``.bin`` + index, LLM stored in bf16 and SAM
  in fp32 (the official mixed storage), windowed SAM encoder with one global block.
  Its language model is taught a few answers in a few seconds (:data:`TAUGHT`, and
  :data:`LITERAL_SEG_QUESTION`), so that generation deterministically produces one, two or no
  ``[SEG]``; then its ``[SEG]`` projection and mask decoder are taught to put "the mug"'s mask
  on the red block and "the cup"'s on the blue block of :func:`scene_image` (any size, any
  noise seed), so tests can check where masks land (:func:`scene_regions`).
* ``safetensors``: LISA-13B tokenizer layout, one safetensors file, a SAM encoder with only
  global attention, CLIP features from the last layer; random weights.

Both load through :func:`lisa_ros.core.loading.load_lisa` like a real checkpoint.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from lisa_ros.core.config import LisaConfig
from lisa_ros.core.preprocess import ClipPreprocessConfig, preprocess_clip
from lisa_ros.core.prompt import build_prompt_ids
from lisa_ros.core.sam_builder import SamShape
from lisa_ros.core.saving import init_lisa_model, save_clip_folder, save_lisa_checkpoint
from lisa_ros.core.tokenizer import LisaTokenizer, TextPart

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOKENIZERS = FIXTURES / "tokenizer"

# instruction (as the segmenter formats it, suffix included) -> answer the tiny model learns
SUFFIX = " Please output segmentation mask."
TAUGHT = {
    "Where is the mug?" + SUFFIX: "Sure, [SEG].",
    "Where are the mug and the cup?" + SUFFIX: "The mug [SEG] and the cup [SEG].",
    "Is there a banana?" + SUFFIX: "There is no banana in this image.",
}
# An answer that spells "[SEG]" in plain characters (sub-word pieces, as a model may echo what a
# user typed) before its two real [SEG] tokens: markers and phrases must follow the token ids.
LITERAL_SEG_QUESTION = 'Is "[SEG]" the mug?' + SUFFIX
LITERAL_SEG_ANSWER = (TextPart('Not "[SEG]": the mug', trusted=False), TextPart(" [SEG] and the cup [SEG]."))
# Which block each answer's [SEG] tokens must mask, in order (keys of scene_regions).
MASK_TARGETS = {
    "Where is the mug?" + SUFFIX: ("mug",),
    "Where are the mug and the cup?" + SUFFIX: ("mug", "cup"),
    LITERAL_SEG_QUESTION: ("mug", "cup"),
}
# (height, width, noise seed) of the scenes the mask decoder is taught on.
MASK_TEACHING_SCENES = ((60, 80, 0), (80, 60, 1), (75, 110, 2), (96, 64, 3), (50, 120, 4))


def _clip_config(image_size: int, hidden: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=4,
        image_size=image_size, patch_size=14, projection_dim=hidden,
    )


def _variant(name: str):
    if name == "official":
        config = LisaConfig.from_dict(
            {
                "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 1004,
                # Long enough for the node tests' deliberately long requests (prompts of ~7000
                # tokens plus 4096 new ones); the token-limit tests set a small value themselves.
                "max_position_embeddings": 16384, "rms_norm_eps": 1e-6, "mm_hidden_size": 32,
                "mm_vision_select_layer": -2, "out_dim": 32, "vision_tower": "clip",
                "lisa_ros_sam_decoder_num_heads": 4,
            }
        )
        sam = SamShape(
            img_size=128, patch_size=16, encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2,
            encoder_mlp_ratio=2.0, window_size=4, global_attn_indexes=(1,), prompt_embed_dim=32,
            mask_in_chans=8, decoder_depth=2, decoder_mlp_dim=64, decoder_num_heads=4,
            num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=32,
        )
        return config, sam, _clip_config(56, 32), "lisa7b"
    config = LisaConfig.from_dict(
        {
            "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 6,
            "num_key_value_heads": 2, "vocab_size": 1003, "max_position_embeddings": 256,
            "rms_norm_eps": 1e-5, "mm_hidden_size": 24, "mm_vision_select_layer": -1, "out_dim": 16,
            "vision_tower": "clip",
        }
    )
    sam = SamShape(
        img_size=96, patch_size=16, encoder_embed_dim=24, encoder_depth=2, encoder_num_heads=3,
        encoder_mlp_ratio=4.0, window_size=0, global_attn_indexes=(), prompt_embed_dim=16,
        mask_in_chans=8, decoder_depth=1, decoder_mlp_dim=32, decoder_num_heads=8,
        num_multimask_outputs=3, iou_head_depth=2, iou_head_hidden_dim=16,
    )
    return config, sam, _clip_config(42, 24), "lisa13b"


def scene_regions(height: int = 60, width: int = 80) -> dict[str, np.ndarray]:
    """Where :func:`scene_image` draws its blocks: ``bool [H, W]`` masks, ``mug`` (red) and
    ``cup`` (blue)."""
    mug = np.zeros((height, width), bool)
    mug[height // 4 : height // 2, width // 8 : width // 3] = True
    cup = np.zeros((height, width), bool)
    cup[height // 2 : 3 * height // 4, width // 2 : 3 * width // 4] = True
    return {"mug": mug, "cup": cup}


def scene_image(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """A small RGB test image (``uint8 [H, W, 3]``): two coloured blocks on noise."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    regions = scene_regions(height, width)
    image[regions["mug"]] = (200, 30, 30)
    image[regions["cup"]] = (30, 30, 200)
    return image


def _conversation(tokenizer: LisaTokenizer, question: str):
    """``(ids, prompt_length)`` of a taught question with its answer."""
    if question == LITERAL_SEG_QUESTION:
        prompt = build_prompt_ids(tokenizer, question)
        answer = tokenizer.encode([*LITERAL_SEG_ANSWER, TextPart("</s>")], add_bos=False)
        return prompt.ids + answer, prompt.prompt_length
    prompt = build_prompt_ids(tokenizer, question, answer=TAUGHT[question])
    return prompt.ids, prompt.prompt_length


def _teach(model, tokenizer: LisaTokenizer, clip_pre: ClipPreprocessConfig, steps: int = 120) -> None:
    """Make the language model answer :data:`TAUGHT` and :data:`LITERAL_SEG_QUESTION`
    (cross-entropy on the answers)."""
    pixels = torch.from_numpy(preprocess_clip(scene_image(), clip_pre)).unsqueeze(0)
    params = [p for n, p in model.named_parameters() if n.startswith("llm.")]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    conversations = [_conversation(tokenizer, q) for q in [*TAUGHT, LITERAL_SEG_QUESTION]]
    model.train()
    for step in range(steps):
        ids, prompt_length = conversations[step % len(conversations)]
        with torch.no_grad():
            image_tokens = model.encode_clip(pixels)
        embeds = model.embed_with_image(ids, image_tokens)
        states = model.llm.model(inputs_embeds=embeds).last_hidden_state[0]
        shift = model.num_image_tokens - 1
        targets = torch.tensor(ids[prompt_length:])
        positions = torch.arange(prompt_length - 1, len(ids) - 1) + shift
        loss = torch.nn.functional.cross_entropy(model.llm.lm_head(states[positions]), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def _teach_masks(model, tokenizer: LisaTokenizer, clip_pre: ClipPreprocessConfig, steps: int = 300) -> None:
    """Teach ``text_hidden_fcs`` and SAM's mask decoder :data:`MASK_TARGETS` on the scenes of
    :data:`MASK_TEACHING_SCENES` (the language model and both image encoders stay as they are).

    Loss: per-pixel BCE plus dice on the source-resolution logits, as LISA trains masks.
    """
    from lisa_ros.core.generation import teacher_forced_states
    from lisa_ros.core.postprocess import upscale_mask_logits
    from lisa_ros.core.preprocess import preprocess_sam

    examples = []  # per scene: image embedding, [SEG] states [K, H], sam resize, targets [K, h, w]
    with torch.no_grad():
        for height, width, seed in MASK_TEACHING_SCENES:
            image = scene_image(height, width, seed)
            clip_tokens = model.encode_clip(torch.from_numpy(preprocess_clip(image, clip_pre)).unsqueeze(0))
            sam_pixels, resize = preprocess_sam(image, model.sam_shape.img_size)
            embedding = model.encode_sam(torch.from_numpy(sam_pixels).unsqueeze(0))
            regions = scene_regions(height, width)
            states, targets = [], []
            for question, names in MASK_TARGETS.items():
                ids, _ = _conversation(tokenizer, question)
                states.append(teacher_forced_states(model, ids, clip_tokens, tokenizer.seg_token_id)[1])
                targets.extend(regions[name] for name in names)
            targets = torch.from_numpy(np.stack(targets)).float()
            examples.append((embedding, torch.cat(states), resize, targets))
    params = list(model.text_hidden_fcs.parameters()) + list(model.sam.mask_decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-3)
    model.train()
    for step in range(steps):
        embedding, seg_states, resize, targets = examples[step % len(examples)]
        logits = upscale_mask_logits(model.decode_masks(embedding, model.project_seg_states(seg_states))[0], resize)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
        probs = logits.sigmoid().flatten(1)
        flat = targets.flatten(1)
        dice = 1 - (2 * (probs * flat).sum(1) + 1) / (probs.sum(1) + flat.sum(1) + 1)
        loss = bce + dice.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@contextmanager
def _one_thread():
    """Run torch on one thread: for these tiny tensors threads only add synchronisation (teaching
    took 7 s on one thread and 130 s on two on a busy 2-core machine), and one thread gives the
    same weights on every machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def write_tiny_checkpoint(root: Path, variant: str = "official") -> Path:
    """Write a tiny LISA checkpoint (with its CLIP folder inside, as ``clip/``); return it."""
    config, sam_shape, clip_config, layout = _variant(variant)
    model = init_lisa_model(config, sam_shape, clip_config, seed=1 if variant == "official" else 2)
    folder = Path(root) / variant
    tokenizer_folder = TOKENIZERS / layout
    clip_pre = ClipPreprocessConfig(shortest_edge=clip_config.image_size, crop=(clip_config.image_size,) * 2)
    if variant == "official":
        tokenizer = LisaTokenizer.from_folder(tokenizer_folder)
        with _one_thread():
            _teach(model, tokenizer, clip_pre)
            _teach_masks(model, tokenizer, clip_pre)
        save_lisa_checkpoint(
            model, folder, tokenizer_folder, llm_dtype=torch.bfloat16, sam_dtype=torch.float32,
            max_shard_bytes=400_000,
        )
    else:
        save_lisa_checkpoint(model, folder, tokenizer_folder, safe=True)
    save_clip_folder(model.vision_tower, clip_pre, folder / "clip")
    return folder
