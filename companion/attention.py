"""Scaled dot-product attention, multi-head attention and a KV cache.

Masks are boolean and **True means "may attend"** (the convention of
``torch.nn.functional.scaled_dot_product_attention``). ``torch.nn.MultiheadAttention`` uses the
opposite convention for boolean masks (True = *blocked*): pass ``~mask`` to it.

:class:`MultiHeadAttention` takes a mask already shaped for the scores
``(batch, n_heads, q_len, k_len)``: 4-D, any dimension 1 to broadcast (as
:func:`companion.masks.attention_mask` makes it), or 2-D ``(q_len, k_len)``, one pattern for
every sequence and head (e.g. :func:`causal_mask`). A 3-D mask is refused: ``(batch, 1, k_len)``
would broadcast its batch over the heads; pass it through ``attention_mask`` first.

A query row whose keys are all masked has no distribution to take; both paths return zero
weights and a zero output for it instead of NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from companion import validators as check
from companion.masks import attention_mask, causal_mask, check_mask, padding_mask

__all__ = [
    "KVCache",
    "MultiHeadAttention",
    "attention_mask",
    "causal_mask",
    "check_mask",
    "padding_mask",
    "scaled_dot_product_attention",
]


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    bias: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The explicit attention of Vaswani et al. (2017), Eq. 1, returning its weights.

    .. math:: \\mathrm{Attention}(Q, K, V) = \\mathrm{softmax}\\!\\left(\\frac{QK^\\top}{\\sqrt{d_k}} + B\\right)V

    with ``B = 0`` unless a ``bias`` is given (ALiBi's ``-m_h |i - j|``).

    Args:
        q: ``(..., q_len, d_k)`` queries.
        k: ``(..., k_len, d_k)`` keys.
        v: ``(..., k_len, d_v)`` values.
        mask: bool, broadcastable to ``(..., q_len, k_len)``; True = may attend.
        dropout_p: dropout on the weights (training only; the returned weights are before dropout).
        bias: float, broadcastable to ``(..., q_len, k_len)``, added to the scores before the mask.

    Returns:
        ``out (..., q_len, d_v)`` and ``weights (..., q_len, k_len)``, each row summing to 1
        (or 0 for a fully masked row).
    """
    d_k = q.shape[-1]
    if k.shape[-1] != d_k:
        raise ValueError(f"q and k must share d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., q_len, k_len)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        check_mask(mask, scores.shape)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # fully masked rows
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights


class KVCache:
    """Keys and values of the positions already seen, for incremental (token-by-token) decoding.

    Self-attention appends each step's keys and values; cross-attention stores the projected
    encoder memory once (``static=True``) and reuses it. Tensors are ``(batch, n_heads, t, d_k)``.
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``k, v (batch, n_heads, t_new, d_k)``; return all keys and values so far."""
        if self.k is None or self.v is None:
            self.k, self.v = k, v
        else:
            self.k = torch.cat([self.k, k], dim=-2)  # (batch, n_heads, t + t_new, d_k)
            self.v = torch.cat([self.v, v], dim=-2)
        return self.k, self.v


class MultiHeadAttention(nn.Module):
    """Multi-head attention: h attentions in d_k-dimensional subspaces, concatenated and mixed by W^O.

    .. math::
        \\mathrm{MultiHead}(Q, K, V) = \\mathrm{Concat}(\\mathrm{head}_1, \\dots, \\mathrm{head}_h)W^O,
        \\quad \\mathrm{head}_i = \\mathrm{Attention}(QW_i^Q, KW_i^K, VW_i^V)

    The h projections W_i^Q are stored side by side in one ``nn.Linear`` (``q_proj``), likewise
    ``k_proj`` and ``v_proj``; ``out_proj`` is the single W^O shared by all heads.

    Args:
        d_model: model width; ``d_k = d_model // n_heads``.
        n_heads: number of heads h; must divide d_model.
        dropout: dropout on the attention weights during training.
        bias: whether the four projections have biases.
        rotary: optional :class:`~companion.positional.RotaryEmbedding` applied to queries and keys.
        use_sdpa: compute through ``F.scaled_dot_product_attention`` (the fast path) unless the
            weights are asked for; False always takes the explicit path. Both agree to float
            tolerance.
        alibi: optional :class:`~companion.positional.ALiBi`, whose ``(n_heads, q_len, k_len)``
            bias is added to the scores (self-attention only).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        rotary: nn.Module | None = None,
        use_sdpa: bool = True,
        alibi: nn.Module | None = None,
    ) -> None:
        super().__init__()
        check.positive_int("d_model", d_model)
        check.positive_int("n_heads", n_heads)
        check.divisible("d_model", d_model, "n_heads", n_heads)
        check.number("dropout", dropout, 0, 1, high_open=True)
        check.boolean("use_sdpa", use_sdpa)
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)  # W^Q for all heads
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)  # W^K
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)  # W^V
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W^O
        self.rotary = rotary
        self.alibi = alibi
        self.use_sdpa = use_sdpa

    def _split_heads(self, x: Tensor) -> Tensor:
        return rearrange(x, "b t (h d) -> b h t d", h=self.n_heads)  # (batch, n_heads, t, d_k)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value`` (self-attention when they are omitted).

        Args:
            query: ``(batch, q_len, d_model)``.
            key, value: ``(batch, k_len, d_model)``; default to ``query``.
            mask: bool, True = may attend, shaped for the scores: ``(batch or 1, n_heads or 1,
                q_len or 1, k_len)`` (see :func:`~companion.masks.attention_mask`) or
                ``(q_len, k_len)``. With a cache, ``k_len`` counts the cached positions too.
            is_causal: a hint, as in ``torch.nn.TransformerEncoderLayer``: ``mask`` is exactly
                ``causal_mask(q_len, k_len)``. The fast path then runs the causal kernel of
                ``F.scaled_dot_product_attention`` (when ``q_len == k_len``) instead of reading it.
            cache: a :class:`KVCache`; new keys/values are appended (or, for a static cache
                already filled, the cached memory is used and ``key``/``value`` are ignored).
            need_weights: also compute the attention weights (uses the explicit path).

        Returns:
            ``out (batch, q_len, d_model)`` and ``weights (batch, n_heads, q_len, k_len)``, or
            None for the weights unless ``need_weights``.
        """
        if query.ndim != 3 or query.shape[-1] != self.d_model:
            raise ValueError(
                f"query must have shape (batch, q_len, d_model={self.d_model}), "
                f"got {tuple(query.shape)}"
            )
        key = query if key is None else key
        value = key if value is None else value
        offset = 0 if cache is None or cache.static else len(cache)

        q = self._split_heads(self.q_proj(query))  # (batch, n_heads, q_len, d_k)
        if cache is not None and cache.static and len(cache):
            k, v = cache.k, cache.v
        else:
            k = self._split_heads(self.k_proj(key))  # (batch, n_heads, t_new, d_k)
            v = self._split_heads(self.v_proj(value))
            if self.rotary is not None:
                q, k = self.rotary(q, offset=offset), self.rotary(k, offset=offset)
            if cache is not None:
                k, v = cache.update(k, v)  # (batch, n_heads, k_len, d_k)

        batch, q_len, k_len = q.shape[0], q.shape[-2], k.shape[-2]
        if mask is not None:
            self._check_mask(mask, (batch, self.n_heads, q_len, k_len))
        elif is_causal:
            raise ValueError(
                "is_causal=True is a hint that mask is the causal mask, but mask is None; pass "
                f"mask=attention_mask(causal=True, q_len={q_len}, k_len={k_len}) with it"
            )
        explicit = need_weights or not self.use_sdpa
        dropout_p = self.dropout if self.training else 0.0
        bias = None  # ALiBi's (n_heads, q_len, k_len), added to the scores
        if self.alibi is not None:
            bias = self.alibi(q_len, k_len).to(q.dtype)

        weights = None
        if explicit:
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p, bias)
        elif bias is None and is_causal and q_len == k_len:  # each row sees its own key
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            if bias is not None:  # the fast path takes one float mask: the bias, -inf where blocked
                mask_or_bias = bias if mask is None else torch.where(mask, bias, float("-inf"))
            else:
                mask_or_bias = mask
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask_or_bias, dropout_p=dropout_p
            )
            if mask is not None:  # zero the rows with no key, as the explicit path does
                out = out.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
        out = self.out_proj(rearrange(out, "b h t d -> b t (h d)"))  # (batch, q_len, d_model)
        return out, weights

    @staticmethod
    def _check_mask(mask: Tensor, scores_shape: tuple[int, int, int, int]) -> None:
        """Shape and dtype only (nothing is read from the mask's values)."""
        if getattr(mask, "ndim", 4) == 3:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}, 3-D, which would broadcast its first "
                f"dimension over the heads of the scores {scores_shape}; shape it with "
                "companion.masks.attention_mask(mask) (a padding mask becomes (batch, 1, 1, k_len))"
            )
        check_mask(mask, scores_shape)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, d_k={self.d_k}, dropout={self.dropout}"
