"""Masks: which keys each query may attend to. Boolean, and **True means "may attend"** (the
convention of ``torch.nn.functional.scaled_dot_product_attention``; ``torch.nn.MultiheadAttention``
uses the opposite one for boolean masks, True = *blocked*: pass it ``~mask``).

Two kinds, and their shapes:

- :func:`causal_mask` ``(q_len, k_len)``: query ``i`` sees keys ``0..i`` (the decoder's
  look-ahead mask), one pattern for every sequence and head;
- :func:`padding_mask` ``(batch, 1, k_len)``: the real (non-padding) keys of each sequence; the
  ``1`` broadcasts over the queries. This is the one key-padding shape of companion.

Combine them with ``&``: ``causal_mask(n) & padding_mask(lengths, n)`` has shape
``(batch, n, n)``. :func:`check_mask` says clearly when a mask does not fit the scores.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

__all__ = ["causal_mask", "check_mask", "padding_mask"]


def causal_mask(q_len: int, k_len: int | None = None, device: torch.device | None = None) -> Tensor:
    """The causal (look-ahead) mask: query ``i`` may attend to key ``j`` iff ``j <= i + k_len - q_len``.

    With ``k_len = q_len`` (the default) this is the lower-triangular matrix of the decoder: token
    ``i`` sees tokens ``0..i``. With ``k_len > q_len`` the queries are the *last* ``q_len``
    positions of a sequence of ``k_len`` (incremental decoding with a KV cache).

    Returns:
        Bool tensor ``(q_len, k_len)``, True = may attend.
    """
    k_len = q_len if k_len is None else k_len
    if q_len < 0 or k_len < q_len:
        raise ValueError(
            f"causal_mask(q_len={q_len}, k_len={k_len}): need 0 <= q_len <= k_len "
            "(the queries are the last q_len of k_len positions)"
        )
    ones = torch.ones(q_len, k_len, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=k_len - q_len)


def padding_mask(lengths: Tensor | list[int], max_len: int | None = None) -> Tensor:
    """Key padding mask from sequence lengths: key ``j`` of sequence ``b`` is real iff ``j < lengths[b]``.

    Args:
        lengths: ``(batch,)`` number of real (non-padding) tokens in each sequence.
        max_len: padded length; defaults to ``max(lengths)``.

    Returns:
        Bool tensor ``(batch, 1, max_len)``, True = may attend; it broadcasts over queries.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or lengths.dtype.is_floating_point:
        raise ValueError(
            f"lengths must be a 1-D integer tensor (batch,), got shape {tuple(lengths.shape)} "
            f"dtype {lengths.dtype}"
        )
    max_len = int(lengths.max()) if max_len is None else max_len
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > max_len):
        raise ValueError(
            f"lengths must lie in [0, max_len={max_len}], got {lengths.tolist()}; "
            "pass max_len >= the longest sequence"
        )
    positions = torch.arange(max_len, device=lengths.device)
    mask = positions[None, :] < lengths[:, None]  # (batch, max_len)
    return rearrange(mask, "b k -> b 1 k")


def check_mask(
    mask: Tensor, scores_shape: torch.Size | tuple[int, ...], name: str = "mask"
) -> None:
    """Raise a clear error unless ``mask`` is boolean and broadcasts to ``scores_shape``.

    A float mask is refused rather than reinterpreted: an additive float mask (0 / -inf) and a
    boolean one mean opposite things at the value 0.
    """
    if not isinstance(mask, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of dtype torch.bool, got {type(mask).__name__}"
        )
    if mask.dtype != torch.bool:
        raise TypeError(
            f"{name} has dtype {mask.dtype}; companion takes boolean masks with True = may attend. "
            f"Convert an additive float mask with `{name} == 0`, a 0/1 mask with `{name}.bool()`"
        )
    try:
        torch.broadcast_shapes(mask.shape, scores_shape)
        ok = len(mask.shape) <= len(scores_shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} has shape {tuple(mask.shape)}, which does not broadcast to the attention scores "
            f"{tuple(scores_shape)} = (..., q_len, k_len); build it with causal_mask(q_len) or "
            "padding_mask(lengths, k_len)"
        )
