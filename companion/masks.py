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

:func:`attention_mask` turns what a model's caller passes (a mask of any of these shapes, the
lengths, the causal flag) into the one shape attention takes, ``(batch or 1, 1, q_len or 1,
k_len)``: a model calls it once per forward and hands the result to every layer.
:class:`~companion.attention.MultiHeadAttention` reshapes no mask.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

__all__ = ["attention_mask", "causal_mask", "check_mask", "padding_mask"]


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
    """Raise a clear error unless ``mask`` is boolean and broadcasts to ``scores_shape``, the
    attention scores' ``(batch, n_heads, q_len, k_len)``.

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


# A mask of each rank, as (batch, n_heads, q_len, k_len) with 1 where it is the same for all.
SHAPE_TO_4D = {2: "q k -> 1 1 q k", 3: "b q k -> b 1 q k", 4: "b h q k -> b h q k"}


def attention_mask(
    mask: Tensor | None = None,
    *,
    lengths: Tensor | list[int] | None = None,
    causal: bool = False,
    q_len: int = 1,
    k_len: int | None = None,
    device: torch.device | None = None,
) -> Tensor | None:
    """The mask attention takes, from what a caller passes: ``mask & padding & causal``.

    Args:
        mask: bool, True = may attend: ``(q_len, k_len)`` (one pattern for every sequence, e.g.
            :func:`causal_mask`), ``(batch, 1 or q_len, k_len)`` (per sequence, e.g.
            :func:`padding_mask`) or already ``(batch, n_heads, q_len, k_len)``.
        lengths: ``(batch,)`` real tokens per sequence; adds ``padding_mask(lengths, k_len)``.
        causal: adds ``causal_mask(q_len, k_len)`` (the queries are the last ``q_len`` keys).
        q_len, k_len: the number of queries and keys (``k_len`` counts cached keys; needed for
            ``lengths`` and ``causal``).

    Returns:
        Bool ``(batch or 1, n_heads or 1, q_len or 1, k_len)`` (``n_heads`` only from a 4-D
        ``mask``), True = may attend; a dimension of 1 broadcasts (a padding mask over the heads
        and queries). None when nothing is masked.
    """
    parts = []
    if mask is not None:
        check_mask(mask, getattr(mask, "shape", ()))  # a bool tensor; its rank is checked here
        if mask.ndim not in SHAPE_TO_4D:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}; expected (q_len, k_len), "
                "(batch, 1 or q_len, k_len) or (batch, n_heads, q_len, k_len)"
            )
        parts.append(rearrange(mask, SHAPE_TO_4D[mask.ndim]))
        device = mask.device if device is None else device
    if lengths is not None:
        parts.append(rearrange(padding_mask(lengths, k_len), "b 1 k -> b 1 1 k"))
    if causal:
        parts.append(rearrange(causal_mask(q_len, k_len, device=device), "q k -> 1 1 q k"))
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part  # (batch or 1, 1, q_len or 1, k_len)
    return combined
