"""Position information for an order-blind attention: sinusoidal, learned and rotary encodings,
and ALiBi's linear biases.

Without positions, self-attention is permutation-equivariant: permuting the input tokens permutes
the outputs the same way, so "dog bites man" and "man bites dog" look alike to it. Each module
here gives the model a way to tell positions apart.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

__all__ = [
    "ALiBi",
    "LearnedPositionalEmbedding",
    "alibi_bias",
    "alibi_slopes",
    "RotaryEmbedding",
    "SinusoidalPositionalEncoding",
    "check_length",
    "sinusoidal_encoding",
]


def check_length(seq_len: int, offset: int, max_len: int) -> None:
    """Raise a clear error when positions ``offset .. offset + seq_len - 1`` exceed ``max_len``."""
    if offset + seq_len > max_len:
        raise ValueError(
            f"sequence of length {seq_len} at offset {offset} needs {offset + seq_len} positions, "
            f"but the model's context is max_len={max_len}; truncate the input to its last "
            f"{max_len - offset} tokens or build the model with a larger max_len"
        )


def sinusoidal_encoding(max_len: int, d_model: int) -> Tensor:
    """The fixed encodings of Vaswani et al. (2017), §3.5, for positions ``0 .. max_len - 1``.

    .. math::
        PE_{(pos, 2i)} = \\sin(pos / 10000^{2i/d_{model}}), \\quad
        PE_{(pos, 2i+1)} = \\cos(pos / 10000^{2i/d_{model}})

    ``pos`` is the position and ``i`` the index of a (sin, cos) pair of dimensions.

    Returns:
        ``(max_len, d_model)`` float32.
    """
    if d_model % 2:
        raise ValueError(f"d_model={d_model} must be even: dimensions come in (sin, cos) pairs")
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d_model / 2,)
    angle = pos / 10000 ** (two_i / d_model)  # (max_len, d_model / 2)
    pe = torch.stack([angle.sin(), angle.cos()], dim=-1)  # (max_len, d_model / 2, 2)
    return rearrange(pe, "t i two -> t (i two)").float()  # sin at 2i, cos at 2i+1


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal encodings to token embeddings: ``x + PE[offset : offset + seq]``.

    The formula covers any position, but a model trained on sequences of length L has never seen
    the encodings of positions past L and does not, in general, work there (Press et al. 2022;
    chapter 21, §2.7, measures it): ``max_len`` bounds the table, not what was learnt.
    """

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """``x (batch, seq, d_model)`` -> same shape, positions starting at ``offset``."""
        check_length(x.shape[1], offset, self.max_len)
        return x + self.pe[offset : offset + x.shape[1]].to(x.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position (BERT, GPT-2): ``x + P[offset : offset + seq]``."""

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Embedding(max_len, d_model)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """``x (batch, seq, d_model)`` -> same shape, positions starting at ``offset``."""
        check_length(x.shape[1], offset, self.max_len)
        positions = torch.arange(offset, offset + x.shape[1], device=x.device)
        return x + self.weight(positions)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021), applied to queries and keys per head.

    Each pair of dimensions ``(2i, 2i+1)`` of a vector at position ``m`` is rotated by the angle
    ``m * theta_i`` with ``theta_i = base^{-2i/d_k}``. Because rotations compose, the score
    ``(R_m q) . (R_n k) = q . R_{n-m} k`` depends on positions only through ``n - m``.
    """

    def __init__(self, d_k: int, max_len: int, base: float = 10000.0) -> None:
        super().__init__()
        if d_k % 2:
            raise ValueError(f"d_k={d_k} must be even: RoPE rotates pairs of dimensions")
        self.max_len = max_len
        theta = base ** (-torch.arange(0, d_k, 2, dtype=torch.float64) / d_k)  # (d_k / 2,)
        angle = torch.arange(max_len, dtype=torch.float64)[:, None] * theta  # (max_len, d_k / 2)
        self.register_buffer("cos", angle.cos().float(), persistent=False)
        self.register_buffer("sin", angle.sin().float(), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """Rotate ``x (batch, n_heads, seq, d_k)`` for positions ``offset .. offset + seq - 1``."""
        seq = x.shape[-2]
        check_length(seq, offset, self.max_len)
        cos = self.cos[offset : offset + seq].to(x.dtype)  # (seq, d_k / 2)
        sin = self.sin[offset : offset + seq].to(x.dtype)
        pairs = rearrange(x, "... t (i two) -> ... t i two", two=2)
        x_even, x_odd = pairs[..., 0], pairs[..., 1]  # (..., seq, d_k / 2)
        rotated = torch.stack([x_even * cos - x_odd * sin, x_even * sin + x_odd * cos], dim=-1)
        return rearrange(rotated, "... t i two -> ... t (i two)")


def alibi_slopes(n_heads: int) -> Tensor:
    """ALiBi's per-head slopes ``m_h`` (Press et al. 2022, §3), ``(n_heads,)`` float32.

    For ``n`` a power of two, the geometric sequence ``m_h = 2^{-8h/n}``, ``h = 1 … n`` (8 heads:
    1/2, 1/4, …, 1/256). Otherwise, as in the paper's code: the ``n0`` slopes of the largest
    power of two ``n0 < n``, then every other slope of the ``2 n0`` sequence, ``n - n0`` of them.
    """
    if not isinstance(n_heads, int) or isinstance(n_heads, bool) or n_heads < 1:
        raise ValueError(f"n_heads must be an int >= 1, got {n_heads!r}")

    def power_of_two(n: int) -> list[float]:
        return [2 ** (-8 * h / n) for h in range(1, n + 1)]

    n0 = 2 ** (n_heads.bit_length() - 1)  # the largest power of two <= n_heads
    slopes = power_of_two(n0) + power_of_two(2 * n0)[0::2][: n_heads - n0]
    return torch.tensor(slopes, dtype=torch.float32)


def _distance(q_len: int, k_len: int, device: torch.device | str | None = None) -> Tensor:
    """``|i - j|`` for queries at the last ``q_len`` of ``k_len`` positions, ``(q_len, k_len)`` float32."""
    query = torch.arange(k_len - q_len, k_len, device=device)[:, None]  # (q_len, 1)
    key = torch.arange(k_len, device=device)[None, :]  # (1, k_len)
    return (query - key).abs().float()  # (q_len, k_len)


def alibi_bias(n_heads: int, seq_len: int, offset: int = 0) -> Tensor:
    """The bias ALiBi adds to attention scores, ``(n_heads, seq_len, offset + seq_len)`` float32.

    .. math::
        \\text{score}_h(i, j) = \\frac{q_i \\cdot k_j}{\\sqrt{d_k}} - m_h \\, |i - j|

    for queries at positions ``i = offset … offset + seq_len - 1`` and keys at ``j = 0 … offset +
    seq_len - 1``: no position is embedded anywhere, and a key is penalised linearly in its
    distance from the query, more steeply in heads with larger ``m_h``. In a causal model only
    ``j <= i`` survive the mask; keys after the query (an encoder) get the same penalty by
    distance. Add it to the scores before the mask and the softmax.
    """
    for name, value, low in (("seq_len", seq_len, 1), ("offset", offset, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    distance = _distance(seq_len, offset + seq_len)  # (seq_len, offset + seq_len)
    return -alibi_slopes(n_heads)[:, None, None] * distance  # (n_heads, seq_len, offset + seq_len)


class ALiBi(nn.Module):
    """Attention with linear biases (Press et al. 2022) for self-attention: :func:`alibi_bias` made
    for the scores at hand.

    ``forward(q_len, k_len)`` returns ``(n_heads, q_len, k_len)``, ``-m_h |i - j|`` for queries at the
    last ``q_len`` of the ``k_len`` key positions (with a KV cache, the new tokens follow the cached
    ones), on the device of the module. It has no parameters and nothing in the state dict: the
    slopes are fixed. Cross-attention takes no bias (source and target positions are not on one
    line).
    """

    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.register_buffer("slopes", alibi_slopes(n_heads), persistent=False)  # (n_heads,)

    def forward(self, q_len: int, k_len: int) -> Tensor:
        """The bias ``(n_heads, q_len, k_len)`` for the last ``q_len`` of ``k_len`` positions."""
        if q_len > k_len:
            raise ValueError(
                f"q_len={q_len} > k_len={k_len}: in self-attention the queries are among the keys"
            )
        distance = _distance(q_len, k_len, self.slopes.device)  # (q_len, k_len)
        return -self.slopes[:, None, None] * distance  # (n_heads, q_len, k_len)

    def extra_repr(self) -> str:
        return f"n_heads={len(self.slopes)}"
