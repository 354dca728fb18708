"""One token per word of a closed vocabulary (split on spaces): for languages made by a grammar."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["WordTokenizer"]


class WordTokenizer:
    """Ids ``0 .. len(words) - 1`` for the words in the order given, then the specials.

    The interface of :mod:`companion.tokenizers` that the book uses: ``encode``, ``decode``,
    ``vocab_size``, ``token_to_id``. ``encode`` never produces a special from text.

    Args:
        words: the vocabulary, distinct words without spaces.
        specials: e.g. ``("<pad>", "<bos>", "<eos>")``, inserted by id via :meth:`token_to_id`.
        language: how an error names the vocabulary ("the toy language (see CLASSES)").
    """

    def __init__(
        self, words: Sequence[str], specials: Sequence[str] = (), language: str = "the vocabulary"
    ) -> None:
        self.words, self.specials, self.language = list(words), list(specials), language
        self._ids = {w: i for i, w in enumerate(self.words + self.specials)}
        self._word_ids = {w: i for i, w in enumerate(self.words)}
        if len(self._ids) != len(self.words) + len(self.specials):
            raise ValueError(f"specials={specials!r} repeat each other or a word of {language}")

    @property
    def vocab_size(self) -> int:
        return len(self._ids)

    def encode(self, text: str) -> list[int]:
        """Ids of the words of ``text``.

        Raises:
            ValueError: if a word is not in the vocabulary.
        """
        unknown = [w for w in text.split() if w not in self._word_ids]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a word of {self.language}")
        return [self._word_ids[w] for w in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        vocab = self.words + self.specials
        return " ".join(vocab[int(i)] for i in ids)

    def token_to_id(self, token: str) -> int:
        if token not in self.specials:
            raise ValueError(
                f"token {token!r} is not a special of this tokenizer ({self.specials})"
            )
        return self._ids[token]
