"""Count-based n-gram language models: the baselines a neural language model has to beat.

An n-gram model predicts token ``x_t`` from the ``n - 1`` tokens before it, its context
``c = x_{t-n+1} .. x_{t-1}``, by counting in the training text how often each context is followed
by each token. Two ways of turning counts into probabilities over a vocabulary of ``V`` tokens:

- add-alpha (Lidstone) smoothing, :class:`AddAlphaNgram` (and :func:`ngram_cross_entropy`): a
  pseudo-count ``alpha`` for every (context, token) pair, so that nothing has probability 0::

      P(v | c) = (count(c, v) + alpha) / (count(c) + alpha * V)

- interpolated absolute discounting (Ney, Essen & Kneser 1994), :class:`InterpolatedNgram`: take a
  fixed discount ``D`` off every seen count and give the mass it frees to the model of the next
  lower order, whose context drops the oldest token (``c'``)::

      P_k(v | c) = (max(count_k(c, v) - D_k, 0) + D_k * N1+(c .) * P_{k-1}(v | c')) / count_k(c .)

  with ``N1+(c .)`` the number of distinct tokens seen after ``c``, ``P_0 = 1 / V`` and
  ``P_k(v | c) = P_{k-1}(v | c')`` when ``c`` was never seen. With ``kneser_ney=True`` the lower
  orders count, instead of occurrences, the number of distinct tokens that precede a k-gram
  (interpolated Kneser-Ney; Kneser & Ney 1995, Chen & Goodman 1999).

Counts are stored sparsely: each window of ``k`` tokens is one base-``V`` integer, and only the
codes that occur are kept (sorted, with their counts), so a 5-gram model over 65 characters needs
memory for the million windows of the text, not for the 65^5 = 1.16e9 possible ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["AddAlphaNgram", "InterpolatedNgram", "ngram_cross_entropy"]

MAX_CODE = 2**62  # window codes are int64: V**n must stay below this
DENSE_LIMIT = 2**20  # code spaces up to this size also get a dense lookup table (8 MiB)


def _ids(tokens: Tensor | Sequence[int] | np.ndarray, name: str, vocab_size: int) -> np.ndarray:
    """``tokens`` as a 1-D int64 array of ids in ``[0, vocab_size)``, or a ValueError that says why not."""
    t = torch.as_tensor(tokens)
    if t.ndim == 1 and t.numel() == 0:  # [] becomes a float tensor; no token is no problem
        t = t.long()
    if t.ndim != 1 or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(
            f"{name} must be a 1-D tensor of token ids, got {t.dtype} {tuple(t.shape)}"
        )
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
        raise ValueError(f"{name} holds ids outside [0, vocab_size={vocab_size})")
    return t.long().cpu().numpy()


def _check_order(n: object, vocab_size: object) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n={n!r} must be a positive int (1 = unigram, 2 = bigram)")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise ValueError(f"vocab_size={vocab_size!r} must be a positive int")
    if vocab_size**n >= MAX_CODE:
        raise ValueError(
            f"n={n} over vocab_size={vocab_size} gives {vocab_size}**{n} window codes, more than "
            f"an int64 holds; use a smaller n"
        )


def _codes(windows: np.ndarray, vocab_size: int) -> np.ndarray:
    """Each row of ``windows (m, k)`` as one integer in ``[0, V**k)``, the oldest token in the
    highest digit: ``code = sum_j windows[:, j] * V**(k - 1 - j)`` (Horner's rule), shape ``(m,)``."""
    code = windows[:, 0].copy()  # (m,)
    for j in range(1, windows.shape[1]):
        code *= vocab_size
        code += windows[:, j]
    return code


def _window_codes(tokens: np.ndarray, k: int, vocab_size: int) -> np.ndarray:
    """The code of every window of ``k`` consecutive tokens of ``tokens (L,)``: shape ``(L - k + 1,)``."""
    return _codes(np.lib.stride_tricks.sliding_window_view(tokens, k), vocab_size)


def _runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort ``codes (m,)``: the distinct codes, where each one's run starts, and the sorted codes.
    (A sort: NumPy's hash-based ``np.unique`` is several times slower on a million int64 codes.)"""
    codes = np.sort(codes)
    starts = np.flatnonzero(np.diff(codes, prepend=codes[:1] - 1))  # (distinct,): new runs
    return codes[starts], starts, codes


class _SparseCounts:
    """Counts of the integer codes in ``[0, bound)``, stored as sorted distinct ``keys`` (int64)
    and their ``counts`` (float64, ``(keys,)`` or ``(keys, columns)``): memory for the codes that
    occur, not for every possible one. A small code space (``bound <= DENSE_LIMIT``) also gets a
    dense table, which looks codes up faster than a binary search."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, bound: int) -> None:
        self.keys, self.counts = keys, counts
        self.table = None
        if bound <= DENSE_LIMIT:
            self.table = np.zeros((bound, *counts.shape[1:]))
            self.table[keys] = counts

    @classmethod
    def of(cls, codes: np.ndarray, bound: int) -> _SparseCounts:
        """How often each distinct code occurs in ``codes (m,)``: one sort, then run lengths."""
        keys, starts, codes = _runs(codes)
        return cls(keys, np.diff(starts, append=len(codes)).astype(np.float64), bound)

    def __getitem__(self, codes: np.ndarray) -> np.ndarray:
        """The counts of each code in ``codes (m,)``, 0 for codes never seen; shape ``(m, ...)``."""
        if self.table is not None:
            return self.table[codes]
        if not len(self.keys):
            return np.zeros((len(codes), *self.counts.shape[1:]))
        order = np.argsort(codes)  # sorted queries search three times faster (cache hits)
        i = np.empty_like(order)
        i[order] = np.searchsorted(self.keys, codes[order])
        i = i.clip(max=len(self.keys) - 1)  # (m,): where each code is, or would be, in keys
        found = (self.keys[i] == codes).reshape(-1, *([1] * (self.counts.ndim - 1)))
        return np.where(found, self.counts[i], 0.0)

    def by_prefix(self, vocab_size: int, bound: int) -> _SparseCounts:
        """Group the keys by their context (``key // V``, still sorted): for each context, the sum
        of its counts and the number of distinct keys (the tokens seen after it, ``N1+(c .)``),
        as the two columns of the counts; ``bound`` is the number of possible contexts."""
        contexts = self.keys // vocab_size
        starts = np.flatnonzero(np.diff(contexts, prepend=contexts[:1] - 1))  # (contexts,)
        totals = np.add.reduceat(self.counts, starts) if len(starts) else np.zeros(0)
        types = np.diff(starts, append=len(contexts)).astype(np.float64)
        return _SparseCounts(contexts[starts], np.stack([totals, types], axis=1), bound)


class _NgramModel:
    """What every n-gram model here shares: the order ``n``, the vocabulary size ``V`` and,
    from a subclass's :meth:`_prob`, the distributions and the cross-entropy."""

    vocab_size: int
    n: int

    def _prob(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _windows(self, windows: Tensor | Sequence[Sequence[int]]) -> np.ndarray:
        w = torch.as_tensor(windows)
        if w.ndim != 2 or w.shape[1] != self.n or w.is_floating_point():
            raise ValueError(
                f"windows must be token ids of shape (m, n={self.n}), got {w.dtype} "
                f"{tuple(w.shape)}; build them with tokens.unfold(0, {self.n}, 1)"
            )
        if w.numel() and (int(w.min()) < 0 or int(w.max()) >= self.vocab_size):
            raise ValueError(f"windows hold ids outside [0, vocab_size={self.vocab_size})")
        return w.long().cpu().numpy()

    def prob(self, windows: Tensor | Sequence[Sequence[int]]) -> Tensor:
        """``P(windows[:, -1] | windows[:, :-1])`` for ``windows (m, n)`` of token ids: shape ``(m,)``, float64."""
        return torch.from_numpy(self._prob(self._windows(windows)))

    def probs(self, context: Tensor | Sequence[int]) -> Tensor:
        """The distribution ``P(. | context)`` over the vocabulary, shape ``(V,)``; ``context``
        holds at least ``n - 1`` token ids, of which the last ``n - 1`` are used."""
        context = _ids(context, "context", self.vocab_size)
        if len(context) < self.n - 1:
            raise ValueError(
                f"context has {len(context)} tokens but a {self.n}-gram model needs n - 1 = "
                f"{self.n - 1}; pass a longer context"
            )
        last = context[len(context) - (self.n - 1) :]  # (n - 1,)
        windows = np.empty((self.vocab_size, self.n), dtype=np.int64)  # (V, n): c v for every v
        windows[:, :-1], windows[:, -1] = last, np.arange(self.vocab_size)
        return torch.from_numpy(self._prob(windows))

    def cross_entropy(self, val: Tensor | Sequence[int]) -> float:
        """Mean ``-log P(x_t | x_{t-n+1} .. x_{t-1})`` in nats per token over the positions
        ``t >= n - 1`` of the 1-D token ids ``val`` (the first ``n - 1`` have no full context)."""
        val = _ids(val, "val", self.vocab_size)
        if len(val) < self.n:
            raise ValueError(f"val needs at least n={self.n} tokens, got {len(val)}")
        windows = np.lib.stride_tricks.sliding_window_view(val, self.n)  # (len(val) - n + 1, n)
        return float(-np.log(self._prob(windows)).mean())

    def context_count(self, windows: Tensor | Sequence[Sequence[int]]) -> Tensor:
        """How many training windows of ``n`` tokens start with the context ``windows[:, :-1]``
        (``count(c)``, 0 for a context never seen), for ``windows (m, n)``: shape ``(m,)``, float64."""
        return torch.from_numpy(self._context_count(self._windows(windows)))

    def seen(self, val: Tensor | Sequence[int]) -> float:
        """The share of the positions ``t >= n - 1`` of ``val`` whose context of ``n - 1`` tokens
        occurs in the training text (always 1 for ``n = 1``)."""
        val = _ids(val, "val", self.vocab_size)
        windows = np.lib.stride_tricks.sliding_window_view(val, self.n)  # (len(val) - n + 1, n)
        return float((self._context_count(windows) > 0).mean())

    def _context_count(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class AddAlphaNgram(_NgramModel):
    """An n-gram model with add-``alpha`` (Lidstone) smoothing:

        P(v | c) = (count(c, v) + alpha) / (count(c) + alpha * V)

    where ``count(c)`` is the number of training windows of ``n`` tokens that start with ``c``;
    a context never seen in training gets the uniform distribution ``1 / V``.

    Args:
        train: 1-D token ids ``(n_train,)``, at least ``n`` long.
        vocab_size: ``V``; every id must lie in ``[0, V)``.
        n: the order (1 = unigram, 2 = bigram, ...); the counts are sparse, so ``V**n`` may far
            exceed memory (it must stay below 2**62).
        alpha: the smoothing count added to every (context, token) pair; must be > 0. It may be
            changed after fitting (``model.alpha = 0.1``), which does not count again.
    """

    def __init__(
        self, train: Tensor | Sequence[int], vocab_size: int, n: int, alpha: float = 1.0
    ) -> None:
        _check_order(n, vocab_size)
        train = _ids(train, "train", vocab_size)
        if len(train) < n:
            raise ValueError(f"train needs at least n={n} tokens, got {len(train)}")
        self.vocab_size, self.n, self.alpha = vocab_size, n, alpha
        bound = vocab_size**n
        self.pairs = _SparseCounts.of(_window_codes(train, n, vocab_size), bound)  # count(c, v)
        # count(c) = sum_v count(c, v), and the number of distinct v after c
        self.contexts = self.pairs.by_prefix(vocab_size, bound // vocab_size)

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        if not (isinstance(value, int | float) and value > 0):
            raise ValueError(f"alpha={value!r} must be > 0, or unseen pairs get probability 0")
        self._alpha = float(value)

    def _prob(self, windows: np.ndarray) -> np.ndarray:
        code = _codes(windows, self.vocab_size)  # (m,): c v
        count, total = self.pairs[code], self.contexts[code // self.vocab_size][:, 0]
        return (count + self.alpha) / (total + self.alpha * self.vocab_size)

    def _context_count(self, windows: np.ndarray) -> np.ndarray:
        return self.contexts[_codes(windows, self.vocab_size) // self.vocab_size][:, 0]


def ngram_cross_entropy(
    train: Tensor | Sequence[int],
    val: Tensor | Sequence[int],
    vocab_size: int,
    n: int = 2,
    alpha: float = 1.0,
) -> float:
    """Cross-entropy in nats per token of an add-``alpha`` n-gram model fitted on ``train``.

    The loss is the mean of ``-log P(x_t | x_{t-n+1} .. x_{t-1})`` over every position ``t >= n - 1``
    of ``val`` (the first ``n - 1`` tokens have no full context and are skipped), with
    ``P(v | c) = (count(c, v) + alpha) / (count(c) + alpha * V)`` (:class:`AddAlphaNgram`).

    Args:
        train, val: 1-D token ids ``(n_train,)`` and ``(n_val,)``, each at least ``n`` long.
        vocab_size: ``V``; every id must lie in ``[0, V)``.
        n: the order (1 = unigram, 2 = bigram, ...); counted sparsely, ``V**n < 2**62``.
        alpha: the smoothing count added to every (context, token) pair; must be > 0.
    """
    _check_order(n, vocab_size)
    if not alpha > 0:
        raise ValueError(f"alpha={alpha!r} must be > 0, or unseen pairs get probability 0")
    train, val = _ids(train, "train", vocab_size), _ids(val, "val", vocab_size)
    if len(train) < n or len(val) < n:
        raise ValueError(
            f"train and val need at least n={n} tokens, got {len(train)} and {len(val)}"
        )
    return AddAlphaNgram(train, vocab_size, n, alpha).cross_entropy(val)


class InterpolatedNgram(_NgramModel):
    """An n-gram model with interpolated absolute discounting, or interpolated Kneser-Ney.

    Fitting counts every order ``k = 1 .. n`` of ``train`` (sparsely); the model is then

        P_k(v | c) = (max(count_k(c, v) - D_k, 0) + D_k * N1+(c .) * P_{k-1}(v | c')) / count_k(c .)

    for a context ``c`` of ``k - 1`` tokens seen in training (``count_k(c .) > 0``), and
    ``P_{k-1}(v | c')`` otherwise, where ``c'`` is ``c`` without its oldest token and
    ``P_0(v) = 1 / V``. Each ``P_k(. | c)`` sums to 1 over the vocabulary when
    ``0 <= D_k <= 1``, for seen and unseen contexts alike.

    Args:
        train: 1-D token ids ``(n_train,)``, at least ``n`` long.
        vocab_size: ``V``; every id must lie in ``[0, V)``.
        n: the highest order.
        discount: one ``D`` in ``[0, 1]`` for every order, or ``None`` (default) for the
            estimate of Ney, Essen & Kneser (1994) from the training counts of each order,
            ``D_k = n1 / (n1 + 2 n2)`` with ``n_r`` the number of k-grams counted exactly ``r``
            times (0.5 where ``n1`` or ``n2`` is 0). Nothing is tuned on held-out text.
        kneser_ney: for the orders below ``n``, replace ``count_k(c, v)`` by the number of
            distinct tokens seen right before the k-gram ``c v`` in training (Kneser & Ney
            1995; Chen & Goodman 1999): a k-gram that occurs often but always after the same
            token says little about new contexts.

    Attributes:
        discounts: ``[D_1, ..., D_n]``, the discount of each order.
        grams: for each order ``k``, the stored ``count_k(c, v)`` (``len(grams[k - 1].keys)``
            distinct k-grams).
    """

    def __init__(
        self,
        train: Tensor | Sequence[int],
        vocab_size: int,
        n: int,
        discount: float | None = None,
        kneser_ney: bool = False,
    ) -> None:
        _check_order(n, vocab_size)
        if discount is not None and not (isinstance(discount, int | float) and 0 <= discount <= 1):
            raise ValueError(
                f"discount={discount!r} must lie in [0, 1] (or be None to estimate it), or the "
                "probabilities no longer sum to 1"
            )
        train = _ids(train, "train", vocab_size)
        if len(train) < n:
            raise ValueError(f"train needs at least n={n} tokens, got {len(train)}")
        self.vocab_size, self.n, self.kneser_ney = vocab_size, n, kneser_ney
        # grams[k - 1]: count_k(c, v); contexts[k - 1]: count_k(c .) and N1+(c .), two columns
        self.grams: list[_SparseCounts] = []
        self.contexts: list[_SparseCounts] = []
        self.discounts: list[float] = []
        for k in range(1, n + 1):
            bound = vocab_size**k
            if kneser_ney and k < n:  # N1+(. c v): distinct (k+1)-grams, the oldest token dropped
                longer, _, _ = _runs(_window_codes(train, k + 1, vocab_size))
                grams = _SparseCounts.of(longer % bound, bound)
            else:
                grams = _SparseCounts.of(_window_codes(train, k, vocab_size), bound)
            self.grams.append(grams)
            self.contexts.append(grams.by_prefix(vocab_size, bound // vocab_size))
            self.discounts.append(self._estimate(grams.counts) if discount is None else discount)

    @staticmethod
    def _estimate(counts: np.ndarray) -> float:
        n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
        return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5

    def _prob(self, windows: np.ndarray) -> np.ndarray:
        V = self.vocab_size
        p = np.full(len(windows), 1.0 / V)  # (m,): P_0
        for k in range(1, self.n + 1):
            code = _codes(windows[:, self.n - k :], V)  # (m,): the last k tokens, c v
            count = self.grams[k - 1][code]  # (m,)
            total, seen_after = self.contexts[k - 1][code // V].T  # (m,) each: context c
            discount = self.discounts[k - 1]
            seen = total > 0
            mixed = (np.maximum(count - discount, 0) + discount * seen_after * p) / np.where(
                seen, total, 1.0
            )
            p = np.where(seen, mixed, p)
        return p

    def _context_count(self, windows: np.ndarray) -> np.ndarray:
        return self.contexts[-1][_codes(windows, self.vocab_size) // self.vocab_size][:, 0]
