"""The conversation LISA was trained on: LLaVA's ``llava_v1`` template with one image.

Prompt text (docs/model-reference.md §4.2-§4.3), with ``{user}`` the instruction::

    "{SYSTEM} USER: <im_start><image><im_end>\\n{user} ASSISTANT:"

For training and teacher-forced evaluation the answer follows as ``" {answer}</s>"``.
``<image>`` is not a token: the prompt is split there, each side tokenized with BOS, the later
BOS dropped and the sentinel :data:`IMAGE_TOKEN_INDEX` put in between; the model replaces the
sentinel with the image's CLIP tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tokenizer import IM_END_TOKEN, IM_START_TOKEN, LisaTokenizer, TextPart

__all__ = ["IMAGE_TOKEN_INDEX", "SYSTEM_PROMPT", "PromptIds", "build_prompt_ids", "SEG_PROMPT_SUFFIX"]

IMAGE_TOKEN_INDEX = -200
SYSTEM_PROMPT = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
# The sentence LISA's training templates end questions with; LISA answers with a mask mostly
# when it is present.
SEG_PROMPT_SUFFIX = "Please output segmentation mask."


@dataclass(frozen=True)
class PromptIds:
    """Token ids of one conversation.

    Attributes:
        ids: token ids, with one :data:`IMAGE_TOKEN_INDEX` where the image goes.
        prompt_length: number of ids up to and including the ``ASSISTANT:`` prompt; the answer
            (if any) starts there.
    """

    ids: list[int]
    prompt_length: int

    @property
    def image_index(self) -> int:
        return self.ids.index(IMAGE_TOKEN_INDEX)


def build_prompt_ids(
    tokenizer: LisaTokenizer,
    instruction: str,
    answer: str | None = None,
    use_im_start_end: bool = True,
) -> PromptIds:
    """Ids of the official conversation for ``instruction`` (and ``answer``, when training).

    The instruction is untrusted: special-token strings in it stay plain text. The answer is
    ours (a training target) and may carry ``[SEG]`` markers.
    """
    image_open = IM_START_TOKEN if use_im_start_end else ""
    image_close = IM_END_TOKEN if use_im_start_end else ""
    before = tokenizer.encode([TextPart(f"{SYSTEM_PROMPT} USER: {image_open}")])
    user_parts = [
        TextPart(f"{image_close}\n"),
        TextPart(instruction, trusted=False),
        TextPart(" ASSISTANT:"),
    ]
    prompt_after = tokenizer.encode(user_parts, add_bos=False)
    ids = before + [IMAGE_TOKEN_INDEX] + prompt_after
    prompt_length = len(ids)
    if answer is not None:
        # Tokenized together with the prompt, as the training data was: the answer's first
        # word joins the text run of " ASSISTANT:".
        full_after = tokenizer.encode(user_parts + [TextPart(f" {answer}</s>")], add_bos=False)
        ids = before + [IMAGE_TOKEN_INDEX] + full_after
        if full_after[: len(prompt_after)] != prompt_after:
            # Only possible if the answer's first piece merged with "ASSISTANT:", which
            # SentencePiece's whitespace splitting prevents; guard the label boundary anyway.
            raise ValueError("answer tokens do not extend the prompt tokens")
    return PromptIds(ids=ids, prompt_length=prompt_length)
