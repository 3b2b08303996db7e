"""Train a LLaMA-style SentencePiece tokenizer for a model built from scratch (``lisa-tiny``).

LLaMA's settings (BPE, identity normaliser, no removal of extra whitespace, dummy prefix, split
digits, byte fallback, ``<unk>`` 0 / ``<s>`` 1 / ``</s>`` 2), so the 4.31 tokenization rules of
:class:`lisa_ros.core.tokenizer.LisaTokenizer` apply unchanged. The folder gets the official
LISA tokenizer files: ``tokenizer.model``, ``added_tokens.json`` (``<im_start>``, ``<im_end>``,
``[SEG]`` after the base vocabulary, the LISA-13B order), ``special_tokens_map.json`` and
``tokenizer_config.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

__all__ = ["SENTENCEPIECE_ARGS", "ADDED_TOKENS", "default_corpus", "train_tokenizer"]

SENTENCEPIECE_ARGS = dict(
    model_type="bpe",
    normalization_rule_name="identity",
    remove_extra_whitespaces=False,
    add_dummy_prefix=True,
    split_digits=True,
    byte_fallback=True,
    allow_whitespace_only_pieces=True,
    split_by_unicode_script=True,
    split_by_whitespace=True,
    split_by_number=True,
    treat_whitespace_as_suffix=False,
    max_sentencepiece_length=16,
    character_coverage=1.0,
    unk_id=0,
    bos_id=1,
    eos_id=2,
    pad_id=-1,
    unk_piece="<unk>",
    bos_piece="<s>",
    eos_piece="</s>",
    unk_surface=" \u2047 ",
    input_sentence_size=0,
    shuffle_input_sentence=False,
    num_threads=1,
    max_sentence_length=4192,
    minloglevel=2,
)
ADDED_TOKENS = ("[SEG]", "<im_start>", "<im_end>")
SEED = 20240531


def default_corpus() -> list[str]:
    """The synthetic data's sentences, LISA's templates and the LLaVA conversation frame."""
    from lisa_ros.core.prompt import SYSTEM_PROMPT
    from lisa_ros.data.lisa_templates import ANSWER_LIST, EXPLANATORY_QUESTION_LIST, LONG_QUESTION_LIST, SHORT_QUESTION_LIST
    from lisa_ros.data.synth import instruction_corpus

    frame = [SYSTEM_PROMPT, f"{SYSTEM_PROMPT} USER:", "ASSISTANT:", "USER:"] * 20
    templates = [t.replace("{class_name}", "object").replace("{sent}", "") for t in SHORT_QUESTION_LIST + LONG_QUESTION_LIST]
    return frame + templates + list(EXPLANATORY_QUESTION_LIST) + list(ANSWER_LIST) + instruction_corpus()


def _special_entry(content: str) -> dict:
    return {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}


def train_tokenizer(folder: str | Path, vocab_size: int, corpus: Iterable[str] | None = None) -> Path:
    """Train ``tokenizer.model`` on ``corpus`` (default :func:`default_corpus`) into ``folder``.

    Deterministic (one thread, fixed seed, no sampling). Returns the folder.
    """
    import sentencepiece as spm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = list(corpus) if corpus is not None else default_corpus()
    spm.set_random_generator_seed(SEED)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative names: the trainer records them inside the model file
        try:
            Path("corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
            spm.SentencePieceTrainer.train(
                input="corpus.txt", model_prefix="tokenizer", vocab_size=int(vocab_size), **SENTENCEPIECE_ARGS
            )
        finally:
            os.chdir(cwd)
        shutil.copyfile(Path(tmp) / "tokenizer.model", folder / "tokenizer.model")
    base = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")).get_piece_size()
    added = {token: base + index for index, token in enumerate(ADDED_TOKENS)}
    (folder / "added_tokens.json").write_text(json.dumps(added, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    special = {
        "bos_token": _special_entry("<s>"),
        "eos_token": _special_entry("</s>"),
        "pad_token": "<unk>",
        "unk_token": _special_entry("<unk>"),
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": {"__type": "AddedToken", **_special_entry("<s>")},
        "clean_up_tokenization_spaces": False,
        "eos_token": {"__type": "AddedToken", **_special_entry("</s>")},
        "model_max_length": 2048,
        "pad_token": None,
        "padding_side": "right",
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": {"__type": "AddedToken", **_special_entry("<unk>")},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder
