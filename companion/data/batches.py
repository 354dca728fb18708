"""Data for training: random windows of a token stream, drawn reproducibly.

Language-model training reads a corpus as one long stream of token ids and, at each step, cuts
``batch_size`` random windows of ``context_len + 1`` tokens out of it (nanoGPT's ``get_batch``).
The inputs are the first ``context_len`` tokens of each window and the targets the last
``context_len``: at every position the model must predict the token that follows.

The window positions come from a ``torch.Generator`` the caller passes in, not from the global
random state, so the training loop can save that generator in a checkpoint and a resumed run
draws exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from companion import validators as check

__all__ = ["TokenBatches", "split"]


def as_token_tensor(tokens: Tensor | Sequence[int], name: str = "tokens") -> Tensor:
    """``tokens`` as a 1-D ``int64`` tensor ``(n,)`` on the CPU; raises if they are not 1-D integers."""
    t = torch.as_tensor(tokens)
    if t.numel() == 0:
        return t.reshape(-1).long()
    if t.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one long stream of token ids), got shape {tuple(t.shape)}; "
            f"flatten it first, e.g. {name}.reshape(-1)"
        )
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids, got dtype {t.dtype}")
    return t.long().cpu()


class TokenBatches:
    """Random training windows from one token stream: ``batches(generator) -> (x, y)``.

    Args:
        tokens: the corpus, a 1-D ``LongTensor`` of ``n`` token ids (or a sequence of ints).
        batch_size: windows per batch.
        context_len: tokens per window that the model sees (at most the model's ``max_len``).
        device: where ``x`` and ``y`` are placed (the model's device); ``None`` keeps the CPU.

    Calling the object with a CPU ``torch.Generator`` draws ``batch_size`` start positions
    ``s ~ Uniform{0, ..., n - context_len - 1}`` and returns

    - ``x``: ``(batch_size, context_len)`` int64, ``x[b, t] = tokens[s_b + t]``;
    - ``y``: ``(batch_size, context_len)`` int64, ``y[b, t] = tokens[s_b + t + 1]``,

    i.e. ``y`` is ``x`` shifted left by one. The same generator state always gives the same batch.

    Raises:
        ValueError: if the corpus is empty or shorter than ``context_len + 1`` tokens.
    """

    def __init__(
        self,
        tokens: Tensor | Sequence[int],
        batch_size: int,
        context_len: int,
        device: torch.device | str | None = None,
    ) -> None:
        check.positive_int("batch_size", batch_size)
        check.positive_int("context_len", context_len)
        self.tokens = as_token_tensor(tokens)
        n = len(self.tokens)
        if n == 0:
            raise ValueError("tokens is empty: there is no text to train on; check the corpus path")
        if n < context_len + 1:
            raise ValueError(
                f"tokens has {n} tokens but a window needs context_len + 1 = {context_len + 1}; "
                f"use a longer corpus or context_len <= {n - 1}"
            )
        self.batch_size = batch_size
        self.context_len = context_len
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._offsets = torch.arange(context_len + 1)  # (context_len + 1,)

    def __call__(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One batch ``(x, y)``, each ``(batch_size, context_len)``; advances ``generator``."""
        n_starts = len(self.tokens) - self.context_len
        starts = torch.randint(n_starts, (self.batch_size,), generator=generator)  # (batch,)
        windows = self.tokens[starts[:, None] + self._offsets]  # (batch, context_len + 1)
        x, y = windows[:, :-1], windows[:, 1:]
        if self.device.type == "cuda":  # pinned memory lets the copy overlap with compute
            return (
                x.pin_memory().to(self.device, non_blocking=True),
                y.pin_memory().to(self.device, non_blocking=True),
            )
        return x.to(self.device), y.to(self.device)

    def __repr__(self) -> str:
        return (
            f"TokenBatches({len(self.tokens)} tokens, batch_size={self.batch_size}, "
            f"context_len={self.context_len}, device={self.device})"
        )


def split(tokens: Tensor | Sequence[int], val_fraction: float = 0.1) -> tuple[Tensor, Tensor]:
    """Split a token stream ``(n,)`` into ``(train, val)``: the first part trains, the last validates.

    ``train`` holds the first ``int(n * (1 - val_fraction))`` tokens (nanoGPT's 90/10 split for
    the default), ``val`` the rest; both are 1-D ``int64`` tensors. A contiguous split (not a
    shuffled one) keeps validation text unseen: random windows would overlap training windows.

    Raises:
        ValueError: if ``val_fraction`` is not in (0, 1) or either part would be empty.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"val_fraction={val_fraction!r} must lie strictly between 0 and 1, e.g. 0.1"
        )
    t = as_token_tensor(tokens)
    n_train = int(len(t) * (1.0 - val_fraction))
    if n_train == 0 or n_train == len(t):
        raise ValueError(
            f"tokens has {len(t)} tokens: too few to split with val_fraction={val_fraction} "
            "(one part would be empty); use a longer corpus"
        )
    return t[:n_train], t[n_train:]
