"""Position encodings: the 2017 formula, the linear-shift property, RoPE's relative scores."""

import math

import pytest
import torch

from companion.attention import MultiHeadAttention, causal_mask
from companion.models import GPT, EncoderDecoder, EncoderDecoderConfig, GPTConfig
from companion.positional import (
    ALiBi,
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


def test_alibi_module_is_the_bias_for_the_last_queries():
    assert torch.equal(ALiBi(4)(5, 5), alibi_bias(4, 5))
    assert torch.equal(ALiBi(6)(2, 7), alibi_bias(6, 2, offset=5))  # two new tokens after 5 cached
    assert dict(ALiBi(4).state_dict()) == {}  # fixed slopes: nothing to save or load
    with pytest.raises(ValueError, match="queries are among the keys"):
        ALiBi(4)(3, 2)


def test_attention_with_alibi_and_no_content_is_the_softmax_of_the_bias():
    """With W^Q = 0 every score q.k is 0, so each head's weights are softmax(-m_h |i - j|) over
    the keys the causal mask allows."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 4, alibi=ALiBi(4))
    torch.nn.init.zeros_(attn.q_proj.weight)
    torch.nn.init.zeros_(attn.q_proj.bias)
    _, weights = attn(torch.randn(2, 6, 8), mask=causal_mask(6), need_weights=True)
    expected = torch.softmax(alibi_bias(4, 6).masked_fill(~causal_mask(6), float("-inf")), -1)
    torch.testing.assert_close(weights, expected.expand(2, -1, -1, -1))


@pytest.mark.parametrize("mask", ["causal", "padding", None])
def test_alibi_fast_and_explicit_paths_agree(mask):
    torch.manual_seed(0)
    x = torch.randn(3, 7, 16)
    masks = {
        "causal": causal_mask(7),
        "padding": (torch.arange(7) < torch.tensor([7, 5, 2])[:, None])[:, None, None, :],
        None: None,
    }
    fast = MultiHeadAttention(16, 4, alibi=ALiBi(4))
    slow = MultiHeadAttention(16, 4, alibi=ALiBi(4), use_sdpa=False)
    slow.load_state_dict(fast.state_dict())
    hint = {"is_causal": True} if mask == "causal" else {}
    out_fast, _ = fast(x, mask=masks[mask], **hint)
    out_slow, _ = slow(x, mask=masks[mask], **hint)
    torch.testing.assert_close(out_fast, out_slow)
    plain = MultiHeadAttention(16, 4)
    plain.load_state_dict(fast.state_dict())
    assert not torch.allclose(plain(x, mask=masks[mask], **hint)[0], out_fast, atol=1e-4)


def test_alibi_gpt_has_no_position_parameters_and_its_cache_is_exact():
    config = dict(vocab_size=20, d_model=16, n_heads=4, n_layers=2, max_len=12)
    torch.manual_seed(0)
    alibi = GPT(GPTConfig(pos_encoding="alibi", **config)).eval()
    learned = GPT(GPTConfig(pos_encoding="learned", **config))
    assert learned.num_parameters() - alibi.num_parameters() == 12 * 16  # the position table
    ids = torch.randint(0, 20, (2, 9))
    full = alibi(ids)  # (2, 9, 20)
    cache = alibi.new_cache()
    steps = [alibi(ids[:, :5], cache=cache)] + [
        alibi(ids[:, t : t + 1], cache=cache) for t in range(5, 9)
    ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


def test_alibi_encoder_decoder_biases_self_attention_only():
    model = EncoderDecoder(
        EncoderDecoderConfig(vocab_size=10, d_model=16, n_heads=2, n_layers=1, pos_encoding="alibi")
    )
    layer = model.decoder.layers[0]
    assert isinstance(layer.self_attn.alibi, ALiBi) and layer.cross_attn.alibi is None
    assert isinstance(model.encoder.layers[0].self_attn.alibi, ALiBi)
