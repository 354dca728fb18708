"""Count-based n-gram language models: the baselines a neural language model has to beat.

An n-gram model predicts token ``x_t`` from the ``n - 1`` tokens before it by counting, in the
training text, how often each context is followed by each token, with add-alpha (Lidstone)
smoothing so that no token has probability 0:

    P(x_t = v | c) = (count(c, v) + alpha) / (count(c) + alpha * V)

where ``c = x_{t-n+1} .. x_{t-1}`` and ``V`` is the vocabulary size. ``n = 1`` is the unigram
model (token frequencies, no context), ``n = 2`` the bigram model (the previous token only).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["ngram_cross_entropy"]


def _ids(tokens: Tensor | Sequence[int], name: str, vocab_size: int) -> Tensor:
    t = torch.as_tensor(tokens)
    if t.ndim != 1 or t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(
            f"{name} must be a 1-D tensor of token ids, got {t.dtype} {tuple(t.shape)}"
        )
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
        raise ValueError(f"{name} holds ids outside [0, vocab_size={vocab_size})")
    return t.long()


def ngram_cross_entropy(
    train: Tensor | Sequence[int],
    val: Tensor | Sequence[int],
    vocab_size: int,
    n: int = 2,
    alpha: float = 1.0,
) -> float:
    """Cross-entropy in nats per token of an add-``alpha`` n-gram model fitted on ``train``.

    The loss is the mean of ``-log P(x_t | x_{t-n+1} .. x_{t-1})`` over every position ``t >= n - 1``
    of ``val`` (the first ``n - 1`` tokens have no full context and are skipped).

    Args:
        train, val: 1-D token ids ``(n_train,)`` and ``(n_val,)``, each longer than ``n - 1``.
        vocab_size: ``V``; every id must lie in ``[0, V)``.
        n: the order (1 = unigram, 2 = bigram, ...). The counts table has ``V**n`` entries.
        alpha: the smoothing count added to every (context, token) pair; must be > 0.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a positive int (1 = unigram, 2 = bigram)")
    if not alpha > 0:
        raise ValueError(f"alpha={alpha!r} must be > 0, or unseen pairs get probability 0")
    if vocab_size**n > 50_000_000:
        raise ValueError(
            f"a {n}-gram table over {vocab_size} tokens has {vocab_size**n:,} cells; use a smaller n"
        )
    train, val = _ids(train, "train", vocab_size), _ids(val, "val", vocab_size)
    if len(train) < n or len(val) < n:
        raise ValueError(
            f"train and val need at least n={n} tokens, got {len(train)} and {len(val)}"
        )

    def codes(t: Tensor) -> Tensor:
        """Each window x_{t-n+1} .. x_t as one integer in [0, V**n), the context in the high digits."""
        windows = t.unfold(0, n, 1)  # (len - n + 1, n)
        powers = vocab_size ** torch.arange(n - 1, -1, -1)  # (n,)
        return (windows * powers).sum(-1)  # (len - n + 1,)

    counts = torch.bincount(codes(train), minlength=vocab_size**n).double()
    counts = counts.reshape(-1, vocab_size)  # (V**(n-1) contexts, V next tokens)
    log_p = ((counts + alpha) / (counts.sum(-1, keepdim=True) + alpha * vocab_size)).log()
    val_codes = codes(val)  # (len(val) - n + 1,)
    context, token = val_codes // vocab_size, val_codes % vocab_size
    return -log_p[context, token].mean().item()
