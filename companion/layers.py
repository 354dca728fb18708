"""The Transformer's layers: the position-wise feed-forward network, the encoder and decoder layers.

Each sub-layer (attention or FFN) is wrapped in a residual connection and a LayerNorm by
:func:`sublayer`, in one of two orders: post-LN (Vaswani et al. 2017) or pre-LN (GPT-2 and most
LLMs since). Layers return ``(x, weights)``, the weights None unless asked for; masks come
already shaped by :func:`companion.masks.attention_mask` (True = may attend).

With the same weights and dropout 0 these layers compute exactly what
``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` (``batch_first=True``) compute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch.nn.functional as F
from torch import Tensor, nn

from companion.attention import KVCache, MultiHeadAttention

W = TypeVar("W")  # what a sub-layer returns beside its output: attention weights, or None

__all__ = ["ACTIVATIONS", "DecoderLayer", "EncoderLayer", "FeedForward", "sublayer"]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


def _activation(name: str) -> Callable[[Tensor], Tensor]:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation={name!r} is not supported; choose one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


class FeedForward(nn.Module):
    """The position-wise feed-forward network, applied to each position separately.

    .. math:: \\mathrm{FFN}(x) = \\max(0, xW_1 + b_1)W_2 + b_2

    (ReLU in 2017; GELU in BERT and GPT.) Shapes: ``(..., d_model) -> (..., d_model)`` through a
    hidden width ``d_ff`` (4 * d_model by convention).
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.activation_name = activation
        self.activation = _activation(activation)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)  # W_1, b_1
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)  # W_2, b_2
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``FFN(x) = W_2 act(x W_1 + b_1) + b_2``, position by position: ``x (..., d_model)`` -> same shape."""
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


def sublayer(
    x: Tensor,
    f: Callable[[Tensor], tuple[Tensor, W]],
    norm: nn.Module,
    dropout: nn.Module,
    norm_first: bool,
) -> tuple[Tensor, W]:
    """One residual sub-layer around ``f`` (attention or FFN), in either order of LayerNorm:

    - post-LN (Vaswani et al. 2017, ``norm_first=False``): ``x = LN(x + f(x))``;
    - pre-LN (GPT-2 and most LLMs since, ``norm_first=True``): ``x = x + f(LN(x))``,

    with dropout on ``f``'s output before the addition. ``x (batch, seq, d_model)`` -> same shape.
    ``f`` returns its output and what it has beside it (attention weights, or None), passed on.
    """
    if norm_first:
        out, extra = f(norm(x))
        return x + dropout(out), extra  # pre-LN: x + f(LN(x))
    out, extra = f(x)
    return norm(x + dropout(out)), extra  # post-LN: LN(x + f(x))


class EncoderLayer(nn.Module):
    """Self-attention then FFN, each a residual :func:`sublayer` (post-LN or pre-LN).

    A GPT block is this layer run with a causal mask: "decoder-only" models have no
    cross-attention, so their blocks are encoder layers that may not look ahead.

    Args:
        d_model, n_heads: width and number of heads (``n_heads`` divides ``d_model``).
        d_ff: hidden width of the FFN.
        dropout: on attention weights, inside the FFN, and on each sub-layer's output.
        activation: ``"relu"`` or ``"gelu"``.
        norm_first: pre-LN if True, post-LN (the 2017 layout) if False.
        rotary: optional RoPE module shared with the attention.
        use_sdpa: the attention's fast path (see :class:`~companion.attention.MultiHeadAttention`).
        alibi: optional :class:`~companion.positional.ALiBi` for the self-attention (a decoder
            layer's cross-attention takes none).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        layer_norm_eps: float = 1e-5,
        rotary: nn.Module | None = None,
        use_sdpa: bool = True,
        alibi: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, n_heads, dropout, bias, rotary, use_sdpa, alibi
        )
        self.ffn = FeedForward(d_model, d_ff, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        *,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """``x (batch, seq, d_model)`` -> same shape, and the attention weights
        ``(batch, n_heads, seq, k_len)`` if ``need_weights`` else None.

        ``mask``: bool, True = may attend, shaped by :func:`~companion.masks.attention_mask`;
        ``is_causal``: the hint that ``mask`` is the causal mask (see
        :class:`~companion.attention.MultiHeadAttention`)."""

        def attend(h: Tensor) -> tuple[Tensor, Tensor | None]:
            return self.self_attn(
                h, mask=mask, is_causal=is_causal, cache=cache, need_weights=need_weights
            )

        x, weights = sublayer(x, attend, self.norm1, self.dropout1, self.norm_first)
        x, _ = sublayer(
            x, lambda h: (self.ffn(h), None), self.norm2, self.dropout2, self.norm_first
        )
        return x, weights


class DecoderLayer(nn.Module):
    """The encoder layer plus one sub-layer: masked self-attention, cross-attention to the
    encoder's memory, then FFN, each a residual :func:`sublayer`.

    The self-attention is masked so that position ``i`` cannot see positions after ``i``; the
    cross-attention reads the memory under the source's padding mask. Arguments as in
    :class:`EncoderLayer`.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        layer_norm_eps: float = 1e-5,
        rotary: nn.Module | None = None,
        use_sdpa: bool = True,
        alibi: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, n_heads, dropout, bias, rotary, use_sdpa, alibi
        )
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout, bias, None, use_sdpa)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        *,
        mask: Tensor | None = None,
        src_mask: Tensor | None = None,
        is_causal: bool = False,
        cache: tuple[KVCache, KVCache] | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """Decode ``x (batch, tgt_len, d_model)`` against ``memory (batch, src_len, d_model)``.

        Args:
            mask: self-attention mask, True = may attend, shaped by
                :func:`~companion.masks.attention_mask` (the causal mask, and the target's
                padding if any).
            src_mask: cross-attention mask over the source positions, e.g. the source's padding
                ``(batch, 1, 1, src_len)``.
            is_causal: the hint that ``mask`` is exactly the causal mask.
            cache: ``(self_cache, cross_cache)`` for incremental decoding.
            need_weights: also compute ``(self_weights, cross_weights)``, each
                ``(batch, n_heads, tgt_len, k_len)``.

        Returns:
            ``(batch, tgt_len, d_model)``, and the weights (None unless asked for).
        """
        self_cache, cross_cache = cache if cache is not None else (None, None)

        def attend(h: Tensor) -> tuple[Tensor, Tensor | None]:
            return self.self_attn(
                h, mask=mask, is_causal=is_causal, cache=self_cache, need_weights=need_weights
            )

        def attend_memory(h: Tensor) -> tuple[Tensor, Tensor | None]:
            return self.cross_attn(
                h, memory, memory, mask=src_mask, cache=cross_cache, need_weights=need_weights
            )

        x, w_self = sublayer(x, attend, self.norm1, self.dropout1, self.norm_first)
        x, w_cross = sublayer(x, attend_memory, self.norm2, self.dropout2, self.norm_first)
        x, _ = sublayer(
            x, lambda h: (self.ffn(h), None), self.norm3, self.dropout3, self.norm_first
        )
        return x, ((w_self, w_cross) if need_weights else None)
