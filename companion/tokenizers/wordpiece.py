"""BERT's WordPiece tokenizer: normalisation, pre-splitting and greedy longest-match-first,
loaded from a pretrained model's ``vocab.txt``."""

from __future__ import annotations

import os
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from pathlib import Path

from companion.tokenizers.common import check_ids, check_text

__all__ = ["WORDPIECE_SPECIALS", "WordPieceTokenizer", "bert_normalize", "bert_split", "wordpiece"]

# BERT's special tokens; a WordPiece vocabulary must hold all five.
WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Code-point blocks of CJK ideographs (inclusive), which BERT's basic tokenizer puts spaces
# around, so that each ideograph is a word of its own. These are the ranges of Hugging Face's
# `tokenizers` library, which sentence-transformers runs; Google's original Python tokenizer
# starts the sixth block at U+2B820 instead of U+2B920.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# Characters dropped by the text cleaning: control (Cc, except tab, newline and carriage return,
# which become spaces), format (Cf), surrogate (Cs) and private-use (Co) characters, NUL and the
# replacement character U+FFFD. Unassigned code points (Cn) are kept, as `tokenizers` keeps them.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})


def _is_cjk(c: str) -> bool:
    return any(lo <= ord(c) <= hi for lo, hi in CJK_RANGES)


def _is_punctuation(c: str) -> bool:
    """ASCII punctuation (every ASCII non-alphanumeric printable but space: ``$``, ``+``, ``^``
    included) or a Unicode punctuation character (category P*: ``—``, ``«``, ``。``)."""
    return c in string.punctuation or unicodedata.category(c).startswith("P")


def bert_normalize(text: str) -> str:
    """BERT's text normalisation for an uncased vocabulary, in the order `tokenizers` applies it.

    1. clean: drop control and format characters, NUL and U+FFFD; every whitespace character
       (tab, newline, U+00A0, U+3000, ...) becomes a space;
    2. put a space on each side of every CJK ideograph (:data:`CJK_RANGES`);
    3. strip accents: decompose (Unicode NFD) and drop the non-spacing marks (category Mn),
       so ``"café"`` -> ``"cafe"`` and ``"Å"`` -> ``"A"``;
    4. lowercase, one character at a time (so a final ``Σ`` becomes ``σ``, not ``ς``).

    Example: ``"Café\\t自注意力!"`` -> ``"cafe  自  注  意  力 !"``.
    """
    check_text(text)
    kept = []
    for c in text:
        if c in "\x00\ufffd" or (
            c not in "\t\n\r" and unicodedata.category(c) in _DROPPED_CATEGORIES
        ):
            continue
        kept.append(" " if c.isspace() else f" {c} " if _is_cjk(c) else c)
    decomposed = unicodedata.normalize("NFD", "".join(kept))
    return "".join(c.lower() for c in decomposed if unicodedata.category(c) != "Mn")


def bert_split(normalized: str) -> list[str]:
    """Split normalised text into words: at whitespace, and around every punctuation character.

    Example: ``"don't stop!"`` -> ``["don", "'", "t", "stop", "!"]``.
    """
    words: list[str] = []
    for chunk in normalized.split():
        start = 0
        for i, c in enumerate(chunk):
            if _is_punctuation(c):
                words.extend([chunk[start:i], c] if i > start else [c])
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


def wordpiece(
    word: str, vocab: Container[str], unk: str = "[UNK]", max_chars: int = 100
) -> list[str]:
    """Greedy longest-match-first WordPiece segmentation of one word (Wu et al. 2016; BERT).

    From the start of the word, take the longest prefix that is in ``vocab``, then the longest
    continuation that is in ``vocab`` with the prefix ``##``, and so on. If at some point no
    piece matches, or the word is longer than ``max_chars`` characters, the whole word is ``unk``.

    Example, with BERT's vocabulary: ``"unaffable"`` -> ``["una", "##ffa", "##ble"]``.
    """
    if len(word) > max_chars:
        return [unk]
    pieces: list[str] = []
    start = 0
    while start < len(word):
        for end in range(len(word), start, -1):  # longest first
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
        else:
            return [unk]  # no piece matches here: the word cannot be spelled
        pieces.append(piece)
        start = end
    return pieces


class WordPieceTokenizer:
    """BERT's tokenizer over a pretrained, uncased WordPiece vocabulary (Devlin et al. 2019).

    ``encode`` runs three steps and adds the specials:

    1. the specials written in the text (``"[MASK]"``, exactly so) are kept as tokens; the rest
       is normalised (:func:`bert_normalize`: clean, space out CJK ideographs, strip accents,
       lowercase) and split into words at whitespace and punctuation (:func:`bert_split`);
    2. each word becomes WordPiece tokens (:func:`wordpiece`): ``"tokenization"`` ->
       ``["token", "##ization"]``; a word that cannot be spelled is ``[UNK]``;
    3. ``[CLS]`` goes first and ``[SEP]`` last, and the tokens between them are cut so that the
       whole sequence has at most ``max_length`` ids.

    Token ``i`` of ``vocab`` has id ``i``. This reproduces Hugging Face's ``BertTokenizer``
    (the `tokenizers` library) with ``do_lower_case=True`` on single sentences: checked against
    `tokenizers` 0.23.3 code point by code point and on 30,000 random texts. The only differences
    come from Unicode versions: 503 of the 1,112,064 code points, marks and punctuation of rare
    scripts added or recategorised after the tables `tokenizers` uses (e.g. U+2E4D), are
    classified by Python's newer ``unicodedata`` and so split or dropped differently.
    """

    def __init__(self, vocab: Sequence[str], max_length: int = 512) -> None:
        """Build from the tokens in id order, and the longest sequence ``encode`` returns.

        Raises:
            ValueError: if a token is empty or repeats, a special of
                :data:`WORDPIECE_SPECIALS` is missing, or ``max_length < 2``.
            TypeError: if a token is not a str or ``max_length`` not an int.
        """
        vocab = tuple(vocab)
        for i, token in enumerate(vocab):
            if not isinstance(token, str):
                raise TypeError(f"vocab[{i}] must be a str, got {type(token).__name__}")
            if not token:
                raise ValueError(f"vocab[{i}] is empty; every token needs at least one character")
        if len(set(vocab)) != len(vocab):
            repeated = sorted(t for t, n in Counter(vocab).items() if n > 1)
            raise ValueError(f"vocab tokens must be distinct, but {repeated[:5]!r} repeat")
        missing = [s for s in WORDPIECE_SPECIALS if s not in vocab]
        if missing:
            raise ValueError(
                f"vocab lacks the special token(s) {missing}; a BERT vocabulary holds all of "
                f"{list(WORDPIECE_SPECIALS)} (load the vocab.txt that came with the model)"
            )
        if not isinstance(max_length, int) or isinstance(max_length, bool):
            raise TypeError(f"max_length must be an int, got {type(max_length).__name__}")
        if max_length < 2:
            raise ValueError(
                f"max_length={max_length} leaves no room for [CLS] and [SEP]; choose max_length "
                ">= 2 (the model's context, e.g. 512)"
            )
        self.vocab = vocab
        self.max_length = max_length
        self._stoi = {t: i for i, t in enumerate(vocab)}
        self._specials = re.compile("|".join(re.escape(s) for s in WORDPIECE_SPECIALS))

    @classmethod
    def load(cls, path: str | os.PathLike[str], max_length: int = 512) -> WordPieceTokenizer:
        """Read a ``vocab.txt``: one token per line, the line number (from 0) is its id.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            ValueError: naming the file, if it is not UTF-8 text or not a valid vocabulary.
        """
        try:
            lines = Path(path).read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} is not UTF-8 text ({e}); pass a vocab.txt file") from None
        if lines and lines[-1] == "":
            lines.pop()  # the newline that ends the last line
        try:
            return cls(lines, max_length)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: not a valid WordPiece vocabulary: {e}") from None

    @property
    def vocab_size(self) -> int:
        """Number of ids (30,522 for BERT's English vocabularies)."""
        return len(self.vocab)

    def token_to_id(self, token: str) -> int:
        """The id of a token of the vocabulary, e.g. ``token_to_id("[MASK]")`` or ``"##ing"``.

        Raises:
            ValueError: if ``token`` is not in the vocabulary.
        """
        if token not in self._stoi:
            raise ValueError(
                f"token {token!r} is not in the vocabulary (vocab_size={self.vocab_size}); "
                "continuation pieces start with '##', e.g. '##ing'"
            )
        return self._stoi[token]

    def pretokenize(self, text: str) -> list[str]:
        """The words of ``text``: specials written in it kept whole, the rest normalised and split.

        Example: ``"Héllo, [MASK]!"`` -> ``["hello", ",", "[MASK]", "!"]``.

        Raises:
            TypeError: if ``text`` is not a str.
        """
        check_text(text)
        words: list[str] = []
        start = 0
        for m in self._specials.finditer(text):
            words += bert_split(bert_normalize(text[start : m.start()])) + [m.group()]
            start = m.end()
        return words + bert_split(bert_normalize(text[start:]))

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text``, without ``[CLS]``, ``[SEP]`` or truncation.

        Example: ``"Tokenization!"`` -> ``["token", "##ization", "!"]``.
        """
        return [
            piece
            for word in self.pretokenize(text)
            for piece in ([word] if word in WORDPIECE_SPECIALS else wordpiece(word, self._stoi))
        ]

    def encode(self, text: str) -> list[int]:
        """``[CLS]``, the ids of :meth:`tokenize` cut to ``max_length - 2``, ``[SEP]``.

        Any str is accepted: a character the vocabulary cannot spell makes its word ``[UNK]``.

        Raises:
            TypeError: if ``text`` is not a str.
        """
        ids = [self._stoi[t] for t in self.tokenize(text)]
        return [self._stoi["[CLS]"], *ids[: self.max_length - 2], self._stoi["[SEP]"]]

    def decode(self, ids: Iterable[int]) -> str:
        """The tokens joined by spaces, each ``##`` piece glued to the one before it.

        This gives the *normalised* text (lowercase, no accents, a space around punctuation and
        CJK ideographs, ``[UNK]`` for what could not be spelled), with the specials as their
        strings: ``decode(encode("Héllo, world!"))`` is ``"[CLS] hello , world ! [SEP]"``.

        Raises:
            ValueError: if an id is outside ``0 .. vocab_size - 1``.
        """
        tokens = [self.vocab[i] for i in check_ids(ids, self.vocab_size)]
        return " ".join(tokens).replace(" ##", "")
