"""LISA's tokenizer: LLaMA SentencePiece plus the added tokens, tokenizing as transformers 4.31 did.

The official checkpoints were trained and run with transformers 4.31's slow ``LlamaTokenizer``
(``legacy=True``). Its handling of added tokens differs from every later release
(docs/model-reference.md §4.1): around added tokens that are not special (``[SEG]``,
``<im_start>``, ``<im_end>``) it strips the whitespace on both sides, and then SentencePiece
encodes each remaining text run on its own, dummy prefix included. We reproduce that here with
SentencePiece directly, so the ids match the ones the model was trained on (tests compare
against ids recorded with transformers 4.31).

One deliberate difference: text that comes from a user is plain text. A user writing
``[SEG]`` or ``</s>`` gets those characters tokenized as characters, never the control tokens.
The same holds on the way out: a ``[SEG]`` marker in a decoded answer stands for the token
only; the characters "[SEG]" written as ordinary sub-word pieces read ``\\[SEG\\]``
(:data:`ESCAPED_SEG_TEXT`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import CheckpointError

__all__ = ["LisaTokenizer", "TextPart", "SEG_TOKEN", "ESCAPED_SEG_TEXT", "IM_START_TOKEN", "IM_END_TOKEN"]

SEG_TOKEN = "[SEG]"
# How the characters "[SEG]" read in a decoded answer when the model wrote them as text, not as
# the token: so that every "[SEG]" in an answer is a mask marker and nothing else.
ESCAPED_SEG_TEXT = "\\[SEG\\]"
IM_START_TOKEN = "<im_start>"
IM_END_TOKEN = "<im_end>"


@dataclass(frozen=True)
class TextPart:
    """A piece of text to tokenize.

    ``trusted`` text comes from our templates and may contain added-token strings (``[SEG]``,
    ``<im_start>``, ``</s>``) that become their tokens. Untrusted text (a user's instruction)
    never does.
    """

    text: str
    trusted: bool = True


class LisaTokenizer:
    """SentencePiece LLaMA tokenizer with LISA's added tokens.

    Args:
        model_file: path of the SentencePiece ``tokenizer.model``.
        added_tokens: token string to id, as in ``added_tokens.json``.
    """

    def __init__(self, model_file: str | Path, added_tokens: dict[str, int]):
        import sentencepiece

        self.model_file = Path(model_file)
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        self.added_tokens = dict(added_tokens)
        self.added_ids = {index: token for token, index in self.added_tokens.items()}
        base = self.sp.get_piece_size()
        for token, index in self.added_tokens.items():
            if index < base:
                raise CheckpointError(f"added token {token!r} has id {index} inside the base vocabulary")
        self.bos_id = self.sp.bos_id()
        self.eos_id = self.sp.eos_id()
        self.unk_id = self.sp.unk_id()
        # The special tokens of the base vocabulary. 4.31 splits them out of trusted text but,
        # being AddedToken objects with lstrip=rstrip=False, strips nothing around them.
        self._special_pieces = {
            self.sp.id_to_piece(i): i for i in (self.bos_id, self.eos_id, self.unk_id) if i >= 0
        }
        splitters = sorted(list(self.added_tokens) + list(self._special_pieces), key=len, reverse=True)
        self._split_regex = re.compile("(" + "|".join(re.escape(s) for s in splitters) + ")")

    @classmethod
    def from_folder(cls, folder: str | Path) -> "LisaTokenizer":
        """Load ``tokenizer.model`` and ``added_tokens.json`` from a checkpoint folder."""
        folder = Path(folder)
        model_file = folder / "tokenizer.model"
        if not model_file.is_file():
            raise CheckpointError(f"{folder} lacks tokenizer.model (the LLaMA SentencePiece model)")
        added_file = folder / "added_tokens.json"
        if not added_file.is_file():
            raise CheckpointError(f"{folder} lacks added_tokens.json (it defines the [SEG] token)")
        try:
            added = json.loads(added_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{added_file} is not valid JSON: {exc}") from None
        return cls(model_file, {str(k): int(v) for k, v in added.items()})

    # -- vocabulary ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.sp.get_piece_size() + len(self.added_tokens)

    def convert_tokens_to_ids(self, token: str) -> int:
        """Id of one token string (added or SentencePiece piece); raises KeyError if unknown."""
        if token in self.added_tokens:
            return self.added_tokens[token]
        index = self.sp.piece_to_id(token)
        if index == self.unk_id and token != self.sp.id_to_piece(self.unk_id):
            raise KeyError(f"unknown token {token!r}")
        return index

    @property
    def seg_token_id(self) -> int:
        """Id of ``[SEG]``, looked up (never by tokenizing the string: LISA issue #55)."""
        try:
            return self.added_tokens[SEG_TOKEN]
        except KeyError:
            raise CheckpointError("added_tokens.json has no [SEG] token") from None

    # -- encoding -----------------------------------------------------------------------------

    def _runs(self, parts: Iterable[TextPart]) -> list[tuple[str, str]]:
        """Split parts into ("text", s) and ("token", s) runs; adjacent text runs are merged,
        since 4.31 saw them as one string."""
        runs: list[tuple[str, str]] = []

        def add_text(text: str) -> None:
            if runs and runs[-1][0] == "text":
                runs[-1] = ("text", runs[-1][1] + text)
            else:
                runs.append(("text", text))

        for part in parts:
            if not part.trusted:
                add_text(part.text)
                continue
            for index, piece in enumerate(self._split_regex.split(part.text)):
                if index % 2:
                    runs.append(("token", piece))
                elif piece:
                    add_text(piece)
        return runs

    def encode(self, parts: Sequence[TextPart] | str, add_bos: bool = True) -> list[int]:
        """Token ids of ``parts`` as transformers 4.31's ``tokenizer(text).input_ids`` gives them.

        The 4.31 rules: added tokens that are not special strip the whitespace of their
        neighbouring text on both sides; ``<s>``/``</s>``/``<unk>`` strip nothing; each text run
        left over is encoded by SentencePiece on its own (with its dummy prefix); runs that are
        empty after stripping vanish.
        """
        if isinstance(parts, str):
            parts = [TextPart(parts)]
        runs = self._runs(parts)
        for index, (kind, value) in enumerate(runs):
            if kind != "token" or value in self._special_pieces:
                continue
            if index > 0 and runs[index - 1][0] == "text":
                runs[index - 1] = ("text", runs[index - 1][1].rstrip())
            if index + 1 < len(runs) and runs[index + 1][0] == "text":
                runs[index + 1] = ("text", runs[index + 1][1].lstrip())
        ids = [self.bos_id] if add_bos else []
        for kind, value in runs:
            if kind == "token":
                ids.append(self.added_tokens.get(value, self._special_pieces.get(value)))
            elif value:
                ids.extend(self.sp.encode(value))
        return ids

    # -- decoding -----------------------------------------------------------------------------

    def decode_answer(self, ids: Sequence[int]) -> str:
        """Readable answer text of generated ids, ``[SEG]`` markers kept where masks attach.

        4.31 loses the spaces around ``[SEG]`` when tokenizing, so we put them back by rule:
        a space before a marker that follows text, a space after it when a word follows
        ("Sure, [SEG].", "the mug [SEG] and the cup [SEG]."). EOS and BOS are dropped.
        Text pieces that spell "[SEG]" become :data:`ESCAPED_SEG_TEXT`, so the answer holds
        exactly one ``[SEG]`` per ``[SEG]`` token (the marker has no overlap with itself, so
        no other "[SEG]" can form across a marker).
        """
        pieces: list[str] = []
        run: list[int] = []

        def flush() -> None:
            if run:
                pieces.append(self.sp.decode(list(run)).replace(SEG_TOKEN, ESCAPED_SEG_TEXT))
                run.clear()

        base_size = self.sp.get_piece_size()
        for index in ids:
            index = int(index)
            if index in (self.eos_id, self.bos_id):
                continue
            if index in self.added_ids:
                flush()
                pieces.append(self.added_ids[index])
            else:
                # A model's vocabulary may be padded beyond the tokenizer's: such ids read as unk.
                run.append(index if 0 <= index < base_size else self.unk_id)
        flush()
        text = ""
        for piece in pieces:
            if piece in self.added_tokens:
                if text and not text[-1].isspace():
                    text += " "
                text += piece
            else:
                if text.endswith(tuple(self.added_tokens)) and piece[:1].isalnum():
                    text += " "
                text += piece
        return text.strip()
