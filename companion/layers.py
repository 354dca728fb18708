"""The Transformer's layers: the position-wise feed-forward network, the encoder and decoder layers.

Each sub-layer (attention or FFN) is wrapped in a residual connection and a LayerNorm, in one
of two orders:

- post-LN (Vaswani et al. 2017, ``norm_first=False``): ``x = LN(x + Sublayer(x))``;
- pre-LN (GPT-2 and most LLMs since, ``norm_first=True``): ``x = x + Sublayer(LN(x))``.

With the same weights and dropout 0 these layers compute exactly what
``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` (``batch_first=True``) compute.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from companion.attention import KVCache, MultiHeadAttention

__all__ = ["ACTIVATIONS", "DecoderLayer", "EncoderLayer", "FeedForward"]

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
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class EncoderLayer(nn.Module):
    """Self-attention then FFN, each with residual + LayerNorm (post-LN or pre-LN).

    A GPT block is this layer run with a causal mask: "decoder-only" models have no
    cross-attention, so their blocks are encoder layers that may not look ahead.

    Args:
        d_model, n_heads: width and number of heads (``n_heads`` divides ``d_model``).
        d_ff: hidden width of the FFN.
        dropout: on attention weights, inside the FFN, and on each sub-layer's output.
        activation: ``"relu"`` or ``"gelu"``.
        norm_first: pre-LN if True, post-LN (the 2017 layout) if False.
        rotary: optional RoPE module shared with the attention.
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
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias, rotary=rotary)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        need_weights: bool = False,
        cache: KVCache | None = None,
        is_causal: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``x (batch, seq, d_model)`` -> same shape; with ``need_weights`` also the attention
        weights ``(batch, n_heads, seq, k_len)``. ``mask``: bool, True = may attend;
        ``is_causal``: add the causal mask (see :class:`~companion.attention.MultiHeadAttention`)."""

        def attend(h: Tensor) -> tuple[Tensor, Tensor | None]:
            out = self.self_attn(
                h, mask=mask, need_weights=need_weights, cache=cache, is_causal=is_causal
            )
            return out if need_weights else (out, None)

        if self.norm_first:
            a, weights = attend(self.norm1(x))
            x = x + self.dropout1(a)
            x = x + self.dropout2(self.ffn(self.norm2(x)))
        else:
            a, weights = attend(x)
            x = self.norm1(x + self.dropout1(a))
            x = self.norm2(x + self.dropout2(self.ffn(x)))
        return (x, weights) if need_weights else x


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder's memory, then FFN.

    Three sub-layers, each with residual + LayerNorm: the decoder adds *one* sub-layer to the
    encoder's two (cross-attention), and masks its self-attention so that position ``i`` cannot
    see positions after ``i``. Arguments as in :class:`EncoderLayer`.
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
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias, rotary=rotary)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout, bias)
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
        mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        need_weights: bool = False,
        cache: tuple[KVCache, KVCache] | None = None,
        is_causal: bool = True,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Decode ``x (batch, tgt_len, d_model)`` against ``memory (batch, src_len, d_model)``.

        Args:
            mask: self-attention mask, True = may attend, combined by ``&`` with the causal
                mask (e.g. a padding mask of the target, or None).
            memory_mask: cross-attention mask over source positions, e.g. ``padding_mask``.
            need_weights: also return ``(self_weights, cross_weights)``, each
                ``(batch, n_heads, tgt_len, k_len)``.
            cache: ``(self_cache, cross_cache)`` for incremental decoding.
            is_causal: mask the self-attention causally (the decoder's look-ahead mask); False
                leaves only ``mask``.

        Returns:
            ``(batch, tgt_len, d_model)``, and the weights when asked.
        """
        self_cache, cross_cache = cache if cache is not None else (None, None)

        def run(attn: MultiHeadAttention, h: Tensor, kv: Tensor | None, m, c, causal):
            out = attn(h, kv, kv, mask=m, need_weights=need_weights, cache=c, is_causal=causal)
            return out if need_weights else (out, None)

        if self.norm_first:
            a, w_self = run(self.self_attn, self.norm1(x), None, mask, self_cache, is_causal)
            x = x + self.dropout1(a)
            a, w_cross = run(
                self.cross_attn, self.norm2(x), memory, memory_mask, cross_cache, False
            )
            x = x + self.dropout2(a)
            x = x + self.dropout3(self.ffn(self.norm3(x)))
        else:
            a, w_self = run(self.self_attn, x, None, mask, self_cache, is_causal)
            x = self.norm1(x + self.dropout1(a))
            a, w_cross = run(self.cross_attn, x, memory, memory_mask, cross_cache, False)
            x = self.norm2(x + self.dropout2(a))
            x = self.norm3(x + self.dropout3(self.ffn(x)))
        return (x, (w_self, w_cross)) if need_weights else x
