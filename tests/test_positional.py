"""Position encodings: the 2017 formula, the linear-shift property, RoPE's relative scores."""

import math

import pytest
import torch

from companion.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_bias,
    alibi_slopes,
    sinusoidal_encoding,
)


def test_sinusoidal_matches_the_formula():
    d_model = 8
    pe = sinusoidal_encoding(50, d_model)
    assert pe.shape == (50, d_model)
    for pos in (0, 1, 7, 49):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


@pytest.mark.parametrize("k", [1, 5, 17])
def test_fixed_offset_is_a_linear_map(k):
    """PE[pos + k] = PE[pos] M_k for one matrix M_k (a rotation per (sin, cos) pair) and every pos."""
    d_model, n = 16, 64
    pe = sinusoidal_encoding(n + k, d_model).double()
    omega = 1 / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    m_k = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i, w in enumerate(omega):
        c, s = math.cos(k * w), math.sin(k * w)
        # row vector [sin a, cos a] times [[c, -s], [s, c]] = [sin(a + kw), cos(a + kw)]
        m_k[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, -s], [s, c]])
    torch.testing.assert_close(pe[:n] @ m_k, pe[k : n + k], atol=1e-6, rtol=0)


def test_module_adds_encoding_with_offset():
    enc = SinusoidalPositionalEncoding(8, 20)
    x = torch.zeros(2, 5, 8)
    torch.testing.assert_close(enc(x, offset=3)[0], sinusoidal_encoding(20, 8)[3:8])


def test_learned_embedding_adds_a_vector_per_position():
    torch.manual_seed(0)
    emb = LearnedPositionalEmbedding(8, 10)
    x = torch.zeros(1, 4, 8)
    torch.testing.assert_close(emb(x, offset=2)[0], emb.weight.weight[2:6])


@pytest.mark.parametrize(
    "module", [SinusoidalPositionalEncoding(8, 10), LearnedPositionalEmbedding(8, 10)]
)
def test_too_long_sequence_is_refused(module):
    with pytest.raises(ValueError, match=r"length 11 at offset 0 needs 11 positions.*max_len=10"):
        module(torch.zeros(1, 11, 8))


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    rope = RotaryEmbedding(d_k=8, max_len=64)
    q, k = torch.randn(2, 1, 1, 1, 8, dtype=torch.float32).unbind(0)

    def score(m, n):
        return (rope(q, offset=m) * rope(k, offset=n)).sum().item()

    assert score(3, 7) == pytest.approx(score(20, 24), abs=1e-5)
    assert score(0, 9) == pytest.approx(score(40, 49), abs=1e-5)
    assert score(3, 7) != pytest.approx(score(3, 8), abs=1e-3)


def test_rope_is_a_rotation():
    torch.manual_seed(0)
    rope = RotaryEmbedding(d_k=8, max_len=16)
    x = torch.randn(2, 3, 16, 8)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rope(x)[..., 0, :], x[..., 0, :])  # position 0: angle 0


def test_odd_dimensions_are_refused():
    with pytest.raises(ValueError, match="must be even"):
        sinusoidal_encoding(4, 7)
    with pytest.raises(ValueError, match="must be even"):
        RotaryEmbedding(7, 4)


@pytest.mark.parametrize(
    "n_heads, exponents",
    [
        (1, [8]),
        (2, [4, 8]),
        (8, [1, 2, 3, 4, 5, 6, 7, 8]),
        (4, [2, 4, 6, 8]),
        (6, [2, 4, 6, 8, 1, 3]),
    ],
)
def test_alibi_slopes_are_the_papers(n_heads, exponents):
    # powers of two: 2^(-8h/n); 6 heads: the 4-head slopes, then every other 8-head slope
    assert alibi_slopes(n_heads).tolist() == [2.0**-e for e in exponents]


def test_alibi_bias_penalises_distance_per_head_and_is_shift_invariant():
    bias = alibi_bias(4, 5)  # (heads, queries, keys)
    assert bias.shape == (4, 5, 5)
    assert bias[0, 4].tolist() == [-1.0, -0.75, -0.5, -0.25, 0.0]  # m = 1/4, distances 4 … 0
    assert torch.equal(bias[:, 2, 1], -alibi_slopes(4))  # one step back costs m_h
    tail = alibi_bias(4, 2, offset=3)  # the last two queries of the same sequence
    assert tail.shape == (4, 2, 5) and torch.equal(tail, bias[:, 3:])
    weights = torch.softmax(bias[:, -1], dim=-1)  # equal scores + ALiBi: recent keys weigh more
    assert bool((weights.diff(dim=-1) > 0).all())


@pytest.mark.parametrize(
    "call", [lambda: alibi_slopes(0), lambda: alibi_bias(2, 0), lambda: alibi_bias(2, 3, -1)]
)
def test_alibi_refuses_bad_sizes(call):
    with pytest.raises(ValueError, match="must be an int"):
        call()
