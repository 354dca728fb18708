"""One token per Unicode code point: the smallest honest baseline."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence

from companion.tokenizers.common import (
    FORMAT_VERSION,
    check_ids,
    check_specials,
    check_text,
    read_json,
    write_json,
)

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Character-level tokenizer: one token per Unicode code point.

    Ids ``0 .. len(chars) - 1`` are the characters in the order given; the specials (e.g.
    ``"<pad>"``, ``"<bos>"``, ``"<eos>"``, ``"[MASK]"``) follow. ``encode`` never produces a
    special id from plain text: a special is inserted by id, via :meth:`token_to_id`.
    """

    def __init__(self, chars: Sequence[str], specials: Sequence[str] = ()) -> None:
        """Build from an explicit alphabet ``chars`` (distinct single characters) and specials.

        Raises:
            ValueError: if an entry of ``chars`` is not one character, or repeats, or a special
                is empty, repeats, or is also a character.
        """
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(
                    f"chars must hold single characters, got {c!r}; "
                    "use CharTokenizer.from_text(text) to build the alphabet from a text"
                )
        if len(set(chars)) != len(chars):
            repeated = sorted(c for c, n in Counter(chars).items() if n > 1)
            raise ValueError(f"chars must be distinct, but {repeated!r} repeat")
        self.chars = chars
        self.specials = check_specials(specials, reserved=set(chars))
        self._stoi = {c: i for i, c in enumerate(chars)}
        self._itos = chars + self.specials
        self._special_ids = {s: len(chars) + i for i, s in enumerate(self.specials)}

    @classmethod
    def from_text(cls, text: str, specials: Sequence[str] = ()) -> CharTokenizer:
        """Build from the sorted distinct characters of ``text`` (sorted, so ids are deterministic).

        Raises:
            TypeError: if ``text`` is not a str.
            ValueError: if ``text`` is empty.
        """
        check_text(text)
        if not text:
            raise ValueError(
                "cannot build a vocabulary from an empty text; pass the training text, "
                "or build from an alphabet with CharTokenizer(chars)"
            )
        return cls(sorted(set(text)), specials)

    @property
    def vocab_size(self) -> int:
        """Number of ids: the characters plus the specials."""
        return len(self._itos)

    def encode(self, text: str) -> list[int]:
        """Map ``text`` to one id per code point.

        Raises:
            TypeError: if ``text`` is not a str.
            ValueError: if a character is not in the vocabulary.
        """
        check_text(text)
        try:
            return [self._stoi[c] for c in text]
        except KeyError as e:
            c = e.args[0]
            raise ValueError(
                f"character {c!r} (U+{ord(c):04X}) is not in the vocabulary "
                f"(vocab_size={self.vocab_size}: {len(self.chars)} characters + "
                f"{len(self.specials)} specials); build the tokenizer from text that contains it, "
                "e.g. CharTokenizer.from_text(training_text + new_text)"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Map ids back to text; a special id is rendered as its string, e.g. ``"<eos>"``.

        Raises:
            ValueError: if an id is outside ``0 .. vocab_size - 1``.
        """
        return "".join(self._itos[i] for i in check_ids(ids, self.vocab_size))

    def token_to_id(self, token: str) -> int:
        """The id of a special (e.g. ``"<pad>"``) or of a single character.

        Raises:
            ValueError: if ``token`` is neither.
        """
        if token in self._special_ids:
            return self._special_ids[token]
        if token in self._stoi:
            return self._stoi[token]
        raise ValueError(
            f"token {token!r} is neither a character of the vocabulary nor a special "
            f"(specials: {self.specials!r}); add it with specials=[...] when building"
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``{"type": "char", "format_version": 1, "chars": [...], "specials": [...]}``."""
        write_json(
            path,
            {
                "type": "char",
                "format_version": FORMAT_VERSION,
                "chars": self.chars,
                "specials": self.specials,
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharTokenizer:
        """Read a tokenizer written by :meth:`save`.

        Raises:
            ValueError: naming the file, if it is not valid JSON or not a char tokenizer file.
        """
        data = read_json(path, "char", ("chars", "specials"))
        try:
            return cls(data["chars"], data["specials"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: not a valid char tokenizer file: {e}") from None
