"""Byte-level byte-pair encoding (Sennrich, Haddow and Birch 2016), GPT-2 style."""

from __future__ import annotations

import functools
import heapq
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise

from tqdm import tqdm  # text bars: they render in the static book and need no widgets

from companion.tokenizers.common import (
    FORMAT_VERSION,
    check_ids,
    check_specials,
    check_text,
    read_json,
    write_json,
)

__all__ = ["GPT2_SPLIT_PATTERN", "BPETokenizer"]

# GPT-2's pre-tokenization regex rewritten for Python's ``re``, which has no ``\p{L}``/``\p{N}``:
# contractions, an optional space then a run of letters (``[^\W\d_]``), of digits, or of other
# symbols (underscore included), then whitespace. Every character falls in one alternative, so
# the chunks always join back to the input text.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""

Pair = tuple[int, int]


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
        self.specials = check_specials(specials, reserved=set())
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
        check_text(text)
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
        (token_id,) = check_ids([token_id], self.vocab_size)
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
        check_text(text)
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
        data = b"".join(self._vocab[i] for i in check_ids(ids, self.vocab_size))
        return data.decode("utf-8", errors="replace")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``{"type": "bpe", "format_version": 1, "merges", "specials", "pattern"}``."""
        write_json(
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
        data = read_json(path, "bpe", ("merges", "specials", "pattern"))
        try:
            return cls(data["merges"], data["specials"], data["pattern"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: not a valid BPE tokenizer file: {e}") from None

    def _merge_chunk(self, chunk: str) -> tuple[int, ...]:
        """Encode one chunk: apply the lowest-ranked merge present until none applies.

        Equivalent to rescanning the whole chunk for its lowest-ranked pair after every merge
        (what GPT-2's ``bpe`` does), but in O(n log n) for a chunk of n bytes instead of
        O(n x merges applied): the bytes form a doubly linked list, and a min-heap holds
        ``(rank, position)``, packed into one int, for every adjacent pair that is a merge.
        Popping the heap gives the lowest rank, and among equal ranks the leftmost position, so the occurrences of one
        merge are applied left to right, as a rescan would. A merge only creates pairs that
        contain the new id, whose ranks are higher, so no occurrence of the current rank is
        created behind the scan. An entry whose pair has changed since it was pushed is stale
        and skipped (lazy deletion).
        """
        # ids[i]: the token that starts at byte i; -1 once merged into the token on its left.
        ids = list(chunk.encode("utf-8"))
        n = len(ids)
        nxt = [*range(1, n), -1]  # the next live position, -1 at the end
        prv = list(range(-1, n - 1))  # the previous live position, -1 at the start
        ranks = self._ranks
        # A heap entry is the int rank * 2**shift + position: ints compare faster than tuples.
        shift = n.bit_length()
        heap = [ranks[p] << shift | i for i, p in enumerate(pairwise(ids)) if p in ranks]
        heapq.heapify(heap)
        low = (1 << shift) - 1

        def push(i: int, j: int) -> None:
            rank = ranks.get((ids[i], ids[j]))
            if rank is not None:
                heapq.heappush(heap, rank << shift | i)

        while heap:
            entry = heapq.heappop(heap)
            rank, i = entry >> shift, entry & low
            j = nxt[i]
            if ids[i] < 0 or j < 0 or ranks.get((ids[i], ids[j])) != rank:
                continue  # stale: i or its right neighbour has changed since the push
            ids[i], ids[j] = 256 + rank, -1  # position i now holds the merged token; j is gone
            k = nxt[j]
            nxt[i] = k
            if k >= 0:
                prv[k] = i
                push(i, k)
            if prv[i] >= 0:
                push(prv[i], i)
        return tuple(t for t in ids if t >= 0)


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
