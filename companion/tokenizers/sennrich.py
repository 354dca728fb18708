"""Byte-pair encoding on words, as Sennrich, Haddow and Birch (2016) wrote it (their Algorithm 1).

The vocabulary is a dict from a word, written as its symbols separated by spaces, to its count:
``{"l o w </w>": 5, "l o w e r </w>": 2}``. Each word starts as its characters plus the
end-of-word marker ``</w>``, a symbol of its own, so that a piece at the end of a word ("est</w>")
differs from the same letters inside one ("est"). One step counts every adjacent pair of symbols,
weighted by the word's count (:func:`get_stats`), and merges the most frequent pair everywhere
(:func:`merge_vocab`); :func:`learn_bpe` repeats it. :func:`apply_bpe` segments a new word with
the learned merges.

Ties. The paper states no rule for ties. Among the pairs with the largest count,
:func:`learn_bpe` takes the one that occurs first when the words are scanned in the dict's order
and each word's pairs left to right. That is what the paper's Algorithm 1,
``max(pairs, key=pairs.get)``, does on Python >= 3.7 (dicts keep insertion order), since its
``get_stats`` fills the dict in that scan order. The authors' released tool, subword-nmt's
``learn_bpe.py``, takes ``max(stats, key=lambda x: (stats[x], x))`` instead: ties go to the
lexicographically largest pair.

This is the teaching version: each merge rescans every word, ``O(num_merges x symbols)``.
companion's :class:`~companion.tokenizers.BPETokenizer` is the fast byte-level one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

__all__ = [
    "END_OF_WORD",
    "apply_bpe",
    "get_stats",
    "initial_vocab",
    "learn_bpe",
    "learn_bpe_from_vocab",
    "merge_vocab",
]

END_OF_WORD = "</w>"

Pair = tuple[str, str]


def _check_word(word: object, name: str = "word") -> str:
    if not isinstance(word, str):
        raise TypeError(f"{name}={word!r} must be a str (a word such as 'lower')")
    if not word:
        raise ValueError(f"{name}='' is empty; every word needs at least one character")
    if any(c.isspace() for c in word):
        raise ValueError(
            f"{name}={word!r} contains whitespace; pass single words (split the text first)"
        )
    if END_OF_WORD in word:
        raise ValueError(
            f"{name}={word!r} contains the end-of-word marker {END_OF_WORD!r}, which BPE adds "
            "itself; pass the bare word"
        )
    return word


def initial_vocab(word_counts: Mapping[str, int]) -> dict[str, int]:
    """``{"low": 5}`` -> ``{"l o w </w>": 5}``: each word as its characters plus ``</w>``.

    Raises:
        TypeError: if ``word_counts`` is not a mapping, a key is not a str or a count not an int.
        ValueError: if a word is empty, contains whitespace or ``</w>``, or a count is < 1.
    """
    if not isinstance(word_counts, Mapping):
        raise TypeError(
            f"word_counts must be a dict from word to count, got {type(word_counts).__name__}"
        )
    vocab = {}
    for word, count in word_counts.items():
        _check_word(word, "word")
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"the count of {word!r} is {count!r}; counts must be ints")
        if count < 1:
            raise ValueError(f"the count of {word!r} is {count}; counts must be >= 1")
        vocab[" ".join([*word, END_OF_WORD])] = count
    return vocab


def get_stats(vocab: Mapping[str, int]) -> dict[Pair, int]:
    """Count adjacent symbol pairs: ``{("l", "o"): 7, ...}``, each occurrence weighted by its
    word's count (overlapping occurrences such as the two ``("a", "a")`` of ``"a a a"`` both count,
    as in the paper's code). Keys are inserted in scan order (words in ``vocab`` order, pairs left
    to right), so the first maximal key is the tie-break of :func:`learn_bpe`."""
    pairs: dict[Pair, int] = {}
    for word, freq in vocab.items():
        symbols = word.split(" ")
        for left, right in pairwise(symbols):
            pairs[left, right] = pairs.get((left, right), 0) + freq
    return pairs


def _merge_symbols(symbols: Sequence[str], pair: Pair) -> list[str]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(pair[0] + pair[1])
            i += 2  # non-overlapping, left to right: "a a a" -> "aa a"
        else:
            out.append(symbols[i])
            i += 1
    return out


def _check_pair(pair: object) -> Pair:
    if (
        not isinstance(pair, tuple)
        or len(pair) != 2
        or not all(isinstance(s, str) and s and " " not in s for s in pair)
    ):
        raise ValueError(f"pair={pair!r} must be a tuple of two non-empty symbols without spaces")
    return pair


def merge_vocab(pair: Pair, vocab: Mapping[str, int]) -> dict[str, int]:
    """A new vocabulary in which every occurrence of ``pair`` as two whole adjacent symbols is
    one symbol, scanning each word left to right: merging ``("e", "s")`` turns ``"n e s t"``
    into ``"n es t"`` but leaves ``"ne s t"`` and ``"es t"`` alone. Counts and order are kept.

    Raises:
        ValueError: if ``pair`` is not a tuple of two non-empty symbols without spaces.
    """
    _check_pair(pair)
    return {" ".join(_merge_symbols(w.split(" "), pair)): n for w, n in vocab.items()}


def learn_bpe_from_vocab(vocab: Mapping[str, int], num_merges: int) -> list[Pair]:
    """Algorithm 1's loop on a vocabulary already split into symbols (``{"l o w </w>": 5, ...}``):
    ``num_merges`` times, merge the most frequent pair (:func:`get_stats`, :func:`merge_vocab`);
    ties go to the pair met first scanning the words in ``vocab`` order and each word left to
    right. Returns the merges in the order learned; fewer when every word is a single symbol.
    ``vocab`` is not modified.

    Raises:
        TypeError: if ``vocab`` is not a mapping or ``num_merges`` not an int.
        ValueError: if ``num_merges`` < 0.
    """
    if not isinstance(vocab, Mapping):
        raise TypeError(f"vocab must be a dict from word to count, got {type(vocab).__name__}")
    if not isinstance(num_merges, int) or isinstance(num_merges, bool):
        raise TypeError(f"num_merges={num_merges!r} must be an int >= 0")
    if num_merges < 0:
        raise ValueError(f"num_merges={num_merges} must be an int >= 0 (0 learns nothing)")
    vocab = dict(vocab)
    merges: list[Pair] = []
    for _ in range(num_merges):
        pairs = get_stats(vocab)
        if not pairs:
            break  # every word is one symbol
        best = max(pairs, key=pairs.__getitem__)  # the first maximal key in scan order
        merges.append(best)
        vocab = merge_vocab(best, vocab)
    return merges


def learn_bpe(word_counts: Mapping[str, int], num_merges: int) -> list[Pair]:
    """Learn up to ``num_merges`` merges from ``{"low": 5, "lower": 2, ...}`` (Algorithm 1 of
    Sennrich et al. 2016): :func:`learn_bpe_from_vocab` on :func:`initial_vocab`; ties go to the
    pair met first scanning the words in ``word_counts`` order and each word left to right.
    Returns the merges in the order learned; fewer when every word is a single symbol.

    Raises:
        TypeError: if a word is not a str, a count or ``num_merges`` not an int.
        ValueError: if a word is empty or contains whitespace or ``</w>``, a count is < 1, or
            ``num_merges`` < 0.
    """
    if not isinstance(num_merges, int) or isinstance(num_merges, bool):
        raise TypeError(f"num_merges={num_merges!r} must be an int >= 0")
    return learn_bpe_from_vocab(initial_vocab(word_counts), num_merges)


def apply_bpe(word: str, merges: Sequence[Pair]) -> list[str]:
    """Segment a (possibly unseen) ``word``: its characters plus ``</w>``, then each merge in the
    order learned, applied left to right. ``apply_bpe("lowest", merges)`` -> e.g.
    ``["low", "est</w>"]``. Every character is a symbol, so no word is out of vocabulary at the
    level of characters; a character never seen in training stays a symbol of its own.

    Raises:
        TypeError, ValueError: as :func:`initial_vocab` for the word; ValueError for a bad merge.
    """
    symbols = [*_check_word(word), END_OF_WORD]
    for pair in merges:
        symbols = _merge_symbols(symbols, _check_pair(pair))
    return symbols
