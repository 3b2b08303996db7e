"""Requests must fit the model's positions: prompt tokens + image tokens + max_new_tokens.

A character limit does not bound tokens: CJK text falls back to UTF-8 bytes, three tokens per
character, so 2000 characters (the default character limit) are about 6000 tokens, far past
LISA-7B's 2048 positions. Such requests are refused before any encoder runs.
"""

import json
import shutil

import pytest

from lisa_ros.core.errors import InvalidInputError
from lisa_ros.core.prompt import build_prompt_ids
from lisa_ros.core.segmenter import LisaSegmenter
from tiny_checkpoints import scene_image

LISA_7B_CONTEXT = 2048


@pytest.fixture(scope="module")
def lisa7b_context(tiny_official, tmp_path_factory):
    """The taught tiny checkpoint with LISA-7B's context (max_position_embeddings 2048)."""
    folder = tmp_path_factory.mktemp("context") / "official_2048"
    shutil.copytree(tiny_official, folder)
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    config["max_position_embeddings"] = config["max_sequence_length"] = LISA_7B_CONTEXT
    config_file.write_text(json.dumps(config, indent=2))
    return LisaSegmenter.from_pretrained(folder, precision="fp32", device="cpu")


@pytest.fixture
def encoder_calls(lisa7b_context):
    """How often CLIP and SAM's image encoder ran during the test."""
    model = lisa7b_context.model
    calls = {"clip": 0, "sam": 0}

    def counter(name):
        return lambda *args: calls.__setitem__(name, calls[name] + 1)

    hooks = [model.vision_tower.register_forward_hook(counter("clip")),
             model.sam.image_encoder.patch_embed.register_forward_hook(counter("sam"))]
    yield calls
    for hook in hooks:
        hook.remove()


def _prompt_positions(segmenter, instruction: str) -> int:
    """Positions of the prompt: its ids with the image placeholder expanded to the CLIP tokens."""
    ids = build_prompt_ids(segmenter.tokenizer, segmenter._format_instruction(instruction)).ids
    return len(ids) - 1 + segmenter.model.num_image_tokens


def test_cjk_instruction_past_the_context_is_refused_before_the_encoders(lisa7b_context, encoder_calls):
    instruction = "猫" * 2000  # within the default 2000-character limit
    assert _prompt_positions(lisa7b_context, instruction) > 3 * 2000  # byte fallback
    with pytest.raises(InvalidInputError, match=f"context of {LISA_7B_CONTEXT} positions"):
        lisa7b_context.segment(scene_image(), instruction)
    with pytest.raises(InvalidInputError, match=f"context of {LISA_7B_CONTEXT} positions"):
        lisa7b_context.segment_teacher_forced(scene_image(), instruction)
    assert encoder_calls == {"clip": 0, "sam": 0}


def test_max_new_tokens_counts_against_the_context(lisa7b_context, encoder_calls):
    question = "Where is the mug?"
    room = LISA_7B_CONTEXT - _prompt_positions(lisa7b_context, question)
    with pytest.raises(InvalidInputError, match=f"max_new_tokens {room + 1}.*context of {LISA_7B_CONTEXT}"):
        lisa7b_context.segment(scene_image(), question, max_new_tokens=room + 1)
    assert encoder_calls == {"clip": 0, "sam": 0}
    assert lisa7b_context.segment(scene_image(), question, max_new_tokens=room).answer == "Sure, [SEG]."


def test_a_default_budget_larger_than_the_context_is_refused(tiny_official):
    """The segmenter's own max_new_tokens (the node's parameter) is checked the same way."""
    greedy = LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu", max_new_tokens=20_000)
    context = greedy.config.max_position_embeddings
    with pytest.raises(InvalidInputError, match=f"max_new_tokens 20000.*context of {context} positions"):
        greedy.segment(scene_image(), "Where is the mug?")
    assert greedy.segment(scene_image(), "Where is the mug?", max_new_tokens=16).answer == "Sure, [SEG]."
