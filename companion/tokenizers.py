"""Tokenizers: text to integer ids and back, one character at a time or by byte-level BPE.

A model reads integers, so text must be cut into *tokens* (词元) drawn from a fixed vocabulary.
The cut decides two things at once:

* **Out-of-vocabulary (OOV) words.** A word-level vocabulary cannot represent a word it never
  saw ("transformerize", a typo, a new name) and falls back to ``<unk>``, losing it.
* **Vocabulary size versus sequence length.** Characters never go OOV but make sequences long,
  and attention costs grow with length; whole words make sequences short but need a huge
  embedding table and still go OOV.

*Subword* tokenizers sit between the two: frequent words are single tokens, rare words are
spelled from smaller pieces. Byte-pair encoding (BPE; Sennrich, Haddow and Birch, 2016) learns
the pieces by starting from single symbols and repeatedly merging the most frequent adjacent
pair. GPT-2 runs BPE on UTF-8 *bytes* instead of characters, so its 256 base tokens spell any
text and nothing is ever OOV; its vocabulary has 50,257 tokens (256 bytes + 50,000 merges +
``<|endoftext|>``). BERT uses WordPiece, a close cousin that picks merges by likelihood, with a
vocabulary of 30,522.

This module holds three tokenizers that share an interface (``encode``, ``decode``,
``vocab_size``, ``token_to_id``, ``load``):

* :class:`CharTokenizer`: one token per Unicode code point, the smallest honest baseline.
* :class:`BPETokenizer`: byte-level BPE trained from text, GPT-2 style.
* :class:`WordPieceTokenizer`: BERT's tokenizer, loaded from a pretrained model's ``vocab.txt``.

The first two are trained here and save to a small JSON file
``{"type": ..., "format_version": 1, ...}``, written atomically; a WordPiece vocabulary comes with
its pretrained model and is only loaded.
"""

from __future__ import annotations

import functools
import heapq
import json
import os
import re
import string
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from tqdm import tqdm  # text bars: they render in the static book and need no widgets

from companion.files import atomic_write

FORMAT_VERSION = 1

# GPT-2's pre-tokenization regex rewritten for Python's ``re``, which has no ``\p{L}``/``\p{N}``:
# contractions, an optional space then a run of letters (``[^\W\d_]``), of digits, or of other
# symbols (underscore included), then whitespace. Every character falls in one alternative, so
# the chunks always join back to the input text.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""

Pair = tuple[int, int]


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
        self.specials = _check_specials(specials, reserved=set(chars))
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
        _check_text(text)
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
        _check_text(text)
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
        return "".join(self._itos[i] for i in _check_ids(ids, self.vocab_size))

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
        _write_json_atomic(
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
        data = _read_json(path, "char", ("chars", "specials"))
        try:
            return cls(data["chars"], data["specials"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: not a valid char tokenizer file: {e}") from None


class BPETokenizer:
    """Byte-level byte-pair-encoding tokenizer, GPT-2 style.

    Ids ``0 .. 255`` are the single bytes; merge ``r`` (its *rank*) creates id ``256 + r`` from
    the pair of ids it joins; the specials follow the merges. ``vocab_size`` is
    ``256 + len(merges) + len(specials)``.
    """

    def __init__(
        self,
        merges: Sequence[Sequence[int]],
        specials: Sequence[str] = (),
        pattern: str = GPT2_SPLIT_PATTERN,
    ) -> None:
        """Build from learned ``merges`` (pairs of ids, in rank order), specials and split regex.

        Most code calls :meth:`train` or :meth:`load` instead.

        Raises:
            ValueError: if a merge is not a pair of ids defined before it, repeats an earlier
                merge, a special is empty or repeats, or ``pattern`` is not a valid regex.
        """
        self._vocab = [bytes([b]) for b in range(256)]
        self._merges: list[Pair] = []
        self._ranks: dict[Pair, int] = {}
        for rank, merge in enumerate(merges):
            if not (
                isinstance(merge, Sequence)
                and len(merge) == 2
                and all(isinstance(i, int) and not isinstance(i, bool) for i in merge)
            ):
                raise ValueError(f"merge {rank} is {merge!r}; expected a pair of int ids [a, b]")
            a, b = merge
            for i in (a, b):
                if not 0 <= i < len(self._vocab):
                    raise ValueError(
                        f"merge {rank} is [{a}, {b}], but id {i} is not defined yet "
                        f"(ids 0..{len(self._vocab) - 1} are); merges must be in rank order"
                    )
            if (a, b) in self._ranks:
                raise ValueError(f"merge {rank} repeats merge {self._ranks[a, b]}: [{a}, {b}]")
            self._ranks[a, b] = rank
            self._merges.append((a, b))
            self._vocab.append(self._vocab[a] + self._vocab[b])
        self.specials = _check_specials(specials, reserved=set())
        self._special_ids = {s: len(self._vocab) + i for i, s in enumerate(self.specials)}
        self._vocab.extend(s.encode("utf-8") for s in self.specials)
        try:
            self.pattern = re.compile(pattern)
        except (TypeError, re.error) as e:
            raise ValueError(
                f"pattern={pattern!r} is not a valid regular expression: {e}"
            ) from None
        # Each distinct chunk is merged once; a bounded cache keeps memory in check.
        self._encode_chunk = functools.lru_cache(maxsize=2**16)(self._merge_chunk)

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        specials: Sequence[str] = (),
        show_progress: bool = False,
    ) -> BPETokenizer:
        """Learn merges from ``text`` until ``vocab_size`` ids (256 bytes + merges) exist.

        The text is split into chunks by :data:`GPT2_SPLIT_PATTERN`, so merges never cross a
        chunk boundary (no token spans ``"dog."``). Each step merges the most frequent adjacent
        pair, counted over a table of distinct chunks weighted by frequency; ties go to the
        smallest pair of ids, so training is deterministic. Training stops early when no pair
        occurs twice. ``specials`` get ids on top of ``vocab_size``.

        Raises:
            TypeError: if ``text`` is not a str or ``vocab_size`` not an int.
            ValueError: if ``text`` is empty or ``vocab_size < 256``.
        """
        _check_text(text)
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
            raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
        if vocab_size < 256:
            raise ValueError(
                f"vocab_size={vocab_size} is too small: byte-level BPE needs the 256 byte tokens "
                "before any merge; choose vocab_size >= 256 (e.g. 512)"
            )
        if not text:
            raise ValueError("cannot train BPE on an empty text; pass a non-empty training text")

        # Word-frequency table: each distinct chunk once, as a list of ids, with its count.
        chunk_counts = Counter(re.findall(GPT2_SPLIT_PATTERN, text))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())

        # How often each adjacent pair occurs, and in which words (a superset after merges).
        pair_counts: Counter[Pair] = Counter()
        where: defaultdict[Pair, set[int]] = defaultdict(set)
        for w, (word, freq) in enumerate(zip(words, freqs, strict=True)):
            for pair in pairwise(word):
                pair_counts[pair] += freq
                where[pair].add(w)
        # Max-heap of (-count, pair) with lazy deletion: an entry whose count is out of date is
        # skipped; a fresh one is pushed whenever a count changes. Ties pop the smallest pair.
        heap = [(-n, pair) for pair, n in pair_counts.items()]
        heapq.heapify(heap)

        merges: list[Pair] = []
        n_merges = vocab_size - 256
        with tqdm(total=n_merges, desc="BPE merges", disable=not show_progress) as bar:
            while len(merges) < n_merges and heap:
                neg_n, best = heapq.heappop(heap)
                if pair_counts.get(best) != -neg_n:
                    continue  # stale entry
                if -neg_n < 2:
                    break  # no pair occurs twice: nothing left worth merging
                new_id = 256 + len(merges)
                merges.append(best)
                changed: set[Pair] = set()
                for w in where.pop(best):
                    old = words[w]
                    new = _merge(old, best, new_id)
                    if len(new) == len(old):
                        continue
                    for pair in pairwise(old):
                        pair_counts[pair] -= freqs[w]
                        changed.add(pair)
                    for pair in pairwise(new):
                        pair_counts[pair] += freqs[w]
                        where[pair].add(w)
                        changed.add(pair)
                    words[w] = new
                for pair in changed:
                    if pair_counts[pair] > 0:
                        heapq.heappush(heap, (-pair_counts[pair], pair))
                    else:
                        del pair_counts[pair]
                bar.update(1)
        return cls(merges, specials)

    @property
    def vocab_size(self) -> int:
        """Number of ids: 256 bytes + merges + specials."""
        return len(self._vocab)

    @property
    def merges(self) -> list[Pair]:
        """The learned merges in rank order: merge ``r`` joins ``(a, b)`` into id ``256 + r``."""
        return list(self._merges)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for (a special stands for its UTF-8 string).

        Raises:
            ValueError: if ``token_id`` is outside ``0 .. vocab_size - 1``.
        """
        (token_id,) = _check_ids([token_id], self.vocab_size)
        return self._vocab[token_id]

    def token_to_id(self, token: str) -> int:
        """The id of a special, e.g. ``token_to_id("<eos>")``.

        Raises:
            ValueError: if ``token`` is not a special of this tokenizer.
        """
        if token not in self._special_ids:
            raise ValueError(
                f"token {token!r} is not a special of this tokenizer (specials: "
                f"{self.specials!r}); pass specials=[...] to BPETokenizer.train"
            )
        return self._special_ids[token]

    def pretokenize(self, text: str) -> list[str]:
        """Split ``text`` into the chunks BPE works within; they join back to ``text``.

        Example: ``"Hello world's end!"`` -> ``["Hello", " world", "'s", " end", "!"]``.
        """
        _check_text(text)
        return self.pattern.findall(text)

    def encode(self, text: str) -> list[int]:
        """Map ``text`` to ids: each chunk's UTF-8 bytes, merged lowest rank first.

        Any str is accepted (nothing is out of vocabulary); special ids never come from text.

        Raises:
            TypeError: if ``text`` is not a str.
        """
        ids: list[int] = []
        for chunk in self.pretokenize(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens' bytes and decode them as UTF-8.

        The ids of an encoded text give back that text exactly; an arbitrary sequence that cuts
        a character in the middle gives U+FFFD (the replacement character) there.

        Raises:
            ValueError: if an id is outside ``0 .. vocab_size - 1``.
        """
        data = b"".join(self._vocab[i] for i in _check_ids(ids, self.vocab_size))
        return data.decode("utf-8", errors="replace")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``{"type": "bpe", "format_version": 1, "merges", "specials", "pattern"}``."""
        _write_json_atomic(
            path,
            {
                "type": "bpe",
                "format_version": FORMAT_VERSION,
                "merges": [list(pair) for pair in self.merges],
                "specials": self.specials,
                "pattern": self.pattern.pattern,
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`.

        Raises:
            ValueError: naming the file, if it is not valid JSON, not a BPE file, lacks a key,
                or holds an invalid merge (e.g. one that refers to an id not yet defined).
        """
        data = _read_json(path, "bpe", ("merges", "specials", "pattern"))
        try:
            return cls(data["merges"], data["specials"], data["pattern"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: not a valid BPE tokenizer file: {e}") from None

    def _merge_chunk(self, chunk: str) -> tuple[int, ...]:
        """Encode one chunk: apply the lowest-ranked merge present until none applies."""
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: self._ranks.get(p, len(self._ranks)))
            if pair not in self._ranks:
                break
            ids = _merge(ids, pair, 256 + self._ranks[pair])
        return tuple(ids)


# --- WordPiece (BERT) ------------------------------------------------------------------------

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
    _check_text(text)
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
        _check_text(text)
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
        tokens = [self.vocab[i] for i in _check_ids(ids, self.vocab_size)]
        return " ".join(tokens).replace(" ##", "")


def _merge(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace each non-overlapping ``pair`` in ``ids``, scanning left to right, by ``new_id``."""
    out = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")


def _check_specials(specials: Sequence[str], reserved: set[str]) -> list[str]:
    """Specials as a list, checked to be distinct non-empty strings not in ``reserved``."""
    if isinstance(specials, str):
        raise TypeError(f"specials must be a sequence of strings, e.g. [{specials!r}], not a str")
    specials = list(specials)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise ValueError(f"each special must be a non-empty str, got {s!r}")
        if s in reserved:
            raise ValueError(f"special {s!r} is already a token of the vocabulary")
    if len(set(specials)) != len(specials):
        raise ValueError(f"specials must be distinct, got {specials!r}")
    return specials


def _check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    """``ids`` as a list, after checking each lies in ``0 .. vocab_size - 1``."""
    ids = list(ids)
    for i in ids:
        if not 0 <= i < vocab_size:
            raise ValueError(
                f"id {i} is out of range for vocab_size={vocab_size} (expected 0..{vocab_size - 1})"
            )
    return ids


def _write_json_atomic(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write ``data`` as JSON, atomically (:func:`companion.files.atomic_write`)."""
    with atomic_write(path) as f:
        f.write(json.dumps(data).encode("utf-8"))


def _read_json(path: str | os.PathLike[str], kind: str, keys: Sequence[str]) -> dict[str, Any]:
    """Read a tokenizer file and check its ``type``, ``format_version`` and required ``keys``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); was it written by save()?") from None
    if not isinstance(data, dict) or data.get("type") != kind:
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path} is not a {kind!r} tokenizer file (its type is {found!r})")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version={data.get('format_version')!r}; "
            f"this version of companion reads format_version={FORMAT_VERSION}"
        )
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"{path} lacks the key(s) {missing} that a {kind!r} file must have")
    return data
