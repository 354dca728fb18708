"""Attention against PyTorch's reference implementations, its invariants, and its errors."""

import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from companion.attention import KVCache, MultiHeadAttention, scaled_dot_product_attention
from companion.masks import attention_mask, causal_mask, padding_mask

D_MODEL, N_HEADS = 16, 4


def make_pair(dtype=torch.float64, seed=0, bias=True):
    """Our MultiHeadAttention and torch's, holding the same weights."""
    torch.manual_seed(seed)
    ours = MultiHeadAttention(D_MODEL, N_HEADS, bias=bias).to(dtype)
    ref = nn.MultiheadAttention(D_MODEL, N_HEADS, bias=bias, batch_first=True).to(dtype)
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
        )
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        if bias:
            ref.in_proj_bias.copy_(
                torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias])
            )
            ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ours, ref


def run_both(ours, ref, q, kv, **masks):
    """Return (our out, our weights, torch out, torch weights)."""
    out, w = ours(q, kv, kv, mask=masks.get("mask"), need_weights=True)
    ref_out, ref_w = ref(
        q,
        kv,
        kv,
        attn_mask=masks.get("attn_mask"),
        key_padding_mask=masks.get("key_padding_mask"),
        need_weights=True,
        average_attn_weights=False,
    )
    return out, w, ref_out, ref_w


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("bias", [True, False])
def test_self_attention_matches_torch(dtype, tol, bias):
    ours, ref = make_pair(dtype, bias=bias)
    x = torch.randn(3, 7, D_MODEL, dtype=dtype)
    out, w, ref_out, ref_w = run_both(ours, ref, x, x)
    torch.testing.assert_close(out, ref_out, atol=tol, rtol=tol)
    torch.testing.assert_close(w, ref_w, atol=tol, rtol=tol)


def test_causal_attention_matches_torch_with_opposite_mask_convention():
    ours, ref = make_pair()
    x = torch.randn(2, 6, D_MODEL, dtype=torch.float64)
    allowed = causal_mask(6)
    # torch.nn.MultiheadAttention: True = blocked, the opposite of ours.
    out, w, ref_out, ref_w = run_both(ours, ref, x, x, mask=allowed, attn_mask=~allowed)
    torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(w, ref_w, atol=1e-12, rtol=1e-12)
    assert torch.all(w[..., ~allowed] == 0)


def test_key_padding_matches_torch():
    ours, ref = make_pair()
    x = torch.randn(3, 5, D_MODEL, dtype=torch.float64)
    lengths = torch.tensor([5, 3, 1])
    keep = padding_mask(lengths, 5)  # (3, 1, 5)
    mask = attention_mask(keep)  # (3, 1, 1, 5)
    out, w, ref_out, ref_w = run_both(ours, ref, x, x, mask=mask, key_padding_mask=~keep[:, 0])
    torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(w, ref_w, atol=1e-12, rtol=1e-12)


def test_cross_attention_with_different_lengths_matches_torch():
    ours, ref = make_pair()
    q = torch.randn(2, 4, D_MODEL, dtype=torch.float64)
    memory = torch.randn(2, 9, D_MODEL, dtype=torch.float64)
    keep = padding_mask([9, 6], 9)
    mask = attention_mask(keep)
    out, w, ref_out, ref_w = run_both(ours, ref, q, memory, mask=mask, key_padding_mask=~keep[:, 0])
    assert w.shape == (2, N_HEADS, 4, 9)
    torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(w, ref_w, atol=1e-12, rtol=1e-12)


def fast_and_explicit(dtype=torch.float64, seed=1):
    """Two MultiHeadAttention with the same weights, built with use_sdpa=True and False."""
    torch.manual_seed(seed)
    fast = MultiHeadAttention(D_MODEL, N_HEADS).to(dtype)
    torch.manual_seed(seed)
    explicit = MultiHeadAttention(D_MODEL, N_HEADS, use_sdpa=False).to(dtype)
    assert fast.use_sdpa and not explicit.use_sdpa
    return fast, explicit


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize(
    "mask_kind", ["none", "causal", "padding", "causal&padding", "per-head", "fully-masked-row"]
)
def test_fast_path_equals_explicit_path(dtype, tol, mask_kind):
    """use_sdpa, a constructor argument: both paths give the same output, and the same weights."""
    fast, explicit = fast_and_explicit(dtype)
    torch.testing.assert_close(fast.state_dict(), explicit.state_dict(), atol=0, rtol=0)
    x = torch.randn(2, 6, D_MODEL, dtype=dtype)
    mask = {
        "none": None,
        "causal": attention_mask(causal=True, q_len=6, k_len=6),
        "padding": attention_mask(lengths=[6, 4], k_len=6),
        "causal&padding": attention_mask(lengths=[6, 4], causal=True, q_len=6, k_len=6),
        "per-head": torch.rand(2, N_HEADS, 6, 6) > 0.3,
        "fully-masked-row": attention_mask(lengths=[6, 0], k_len=6),
    }[mask_kind]
    out_fast, no_weights = fast(x, mask=mask)
    out_explicit, _ = explicit(x, mask=mask)
    assert no_weights is None
    torch.testing.assert_close(out_fast, out_explicit, atol=tol, rtol=tol)
    assert torch.isfinite(out_fast).all()
    with_weights = fast(x, mask=mask, need_weights=True)
    torch.testing.assert_close(with_weights, explicit(x, mask=mask, need_weights=True))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("use_sdpa", [True, False])
def test_is_causal_hint_gives_what_the_causal_mask_gives(dtype, tol, use_sdpa):
    """is_causal=True (SDPA's causal kernel on the fast path) = reading the causal mask."""
    torch.manual_seed(2)
    mha = MultiHeadAttention(D_MODEL, N_HEADS, use_sdpa=use_sdpa).to(dtype)
    x = torch.randn(3, 6, D_MODEL, dtype=dtype)
    causal = attention_mask(causal=True, q_len=6, k_len=6)
    hinted, _ = mha(x, mask=causal, is_causal=True)
    read, _ = mha(x, mask=causal)
    torch.testing.assert_close(hinted, read, atol=tol, rtol=tol)


def test_is_causal_without_a_mask_is_refused():
    mha = MultiHeadAttention(D_MODEL, N_HEADS)
    with pytest.raises(ValueError, match=r"is_causal=True is a hint.*attention_mask\(causal=True"):
        mha(torch.randn(1, 3, D_MODEL), is_causal=True)


def test_is_causal_with_a_cache_continues_the_sequence():
    """With cached keys the queries are the last positions: the causal mask is bottom-right aligned."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(D_MODEL, N_HEADS).double()
    x = torch.randn(2, 7, D_MODEL, dtype=torch.float64)

    def causal(q_len, k_len):
        return {"mask": attention_mask(causal=True, q_len=q_len, k_len=k_len), "is_causal": True}

    full, _ = mha(x, **causal(7, 7))
    cache = KVCache()
    steps = [mha(x[:, :3], cache=cache, **causal(3, 3))[0]]
    steps += [mha(x[:, t : t + 1], cache=cache, **causal(1, t + 1))[0] for t in range(3, 7)]
    torch.testing.assert_close(torch.cat(steps, 1), full)


def test_forward_returns_out_and_weights_or_none():
    mha = MultiHeadAttention(D_MODEL, N_HEADS)
    x = torch.randn(2, 3, D_MODEL)
    out, weights = mha(x)
    assert out.shape == (2, 3, D_MODEL) and weights is None
    out, weights = mha(x, need_weights=True)
    assert weights.shape == (2, N_HEADS, 3, 3)


def test_mask_and_flags_are_keyword_only():
    mha = MultiHeadAttention(D_MODEL, N_HEADS)
    x = torch.randn(1, 3, D_MODEL)
    with pytest.raises(TypeError, match="positional"):
        mha(x, x, x, causal_mask(3))


def test_weights_are_a_distribution_over_allowed_keys():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 5, 8).unbind(0)
    mask = causal_mask(5)
    out, w = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 5))
    assert torch.all(w[:, ~mask] == 0)
    assert out.shape == (2, 5, 8)


def test_function_matches_torch_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 5, 8, dtype=torch.float64).unbind(0)
    mask = causal_mask(5)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-12)


def test_fully_masked_row_gives_zero_not_nan():
    q, k, v = torch.randn(3, 1, 3, 4).unbind(0)
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.all(out[0, 1] == 0) and torch.all(w[0, 1] == 0)


def test_gradcheck_attention_function_and_module():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = causal_mask(3)
    assert torch.autograd.gradcheck(
        lambda a, b, c: scaled_dot_product_attention(a, b, c, mask), (q, k, v)
    )
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: mha(t, mask=mask)[0], (x,))
    explicit = MultiHeadAttention(8, 2, use_sdpa=False).double()
    assert torch.autograd.gradcheck(lambda t: explicit(t, mask=mask)[0], (x,))


@given(
    seq=st.integers(2, 8),
    cut=st.integers(0, 7),
    seed=st.integers(0, 2**16),
    fast=st.booleans(),
)
def test_no_future_leakage_under_causal_mask(seq, cut, seed, fast):
    """Changing tokens after position `cut` never changes outputs at positions <= cut."""
    cut = cut % seq
    torch.manual_seed(seed)
    mha = MultiHeadAttention(D_MODEL, N_HEADS, use_sdpa=fast).double()
    x = torch.randn(1, seq, D_MODEL, dtype=torch.float64)
    y = x.clone()
    y[:, cut + 1 :] = torch.randn_like(y[:, cut + 1 :]) * 10
    mask = causal_mask(seq)
    (out_x, _), (out_y, _) = mha(x, mask=mask), mha(y, mask=mask)
    torch.testing.assert_close(out_x[:, : cut + 1], out_y[:, : cut + 1])


@given(seq=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_self_attention_without_positions_is_permutation_equivariant(seq, seed):
    """attention(P x) = P attention(x): without positions, order carries no information."""
    torch.manual_seed(seed)
    mha = MultiHeadAttention(D_MODEL, N_HEADS).double()
    x = torch.randn(2, seq, D_MODEL, dtype=torch.float64)
    perm = torch.randperm(seq)
    torch.testing.assert_close(mha(x[:, perm])[0], mha(x)[0][:, perm])


def test_kv_cache_matches_full_computation():
    torch.manual_seed(0)
    mha = MultiHeadAttention(D_MODEL, N_HEADS).double()
    x = torch.randn(2, 7, D_MODEL, dtype=torch.float64)
    full, _ = mha(x, mask=causal_mask(7))
    cache = KVCache()
    steps = [mha(x[:, :3], mask=causal_mask(3), cache=cache)[0]]
    for t in range(3, 7):
        steps.append(mha(x[:, t : t + 1], mask=causal_mask(1, t + 1), cache=cache)[0])
    assert len(cache) == 7
    torch.testing.assert_close(torch.cat(steps, 1), full)


def test_static_cache_reuses_memory():
    torch.manual_seed(0)
    mha = MultiHeadAttention(D_MODEL, N_HEADS).double()
    q = torch.randn(1, 2, D_MODEL, dtype=torch.float64)
    memory = torch.randn(1, 5, D_MODEL, dtype=torch.float64)
    cache = KVCache(static=True)
    first, _ = mha(q, memory, memory, cache=cache)
    second, _ = mha(q, torch.zeros_like(memory), None, cache=cache)  # memory ignored once cached
    torch.testing.assert_close(first, second)
    assert len(cache) == 5


def test_causal_mask_with_offset():
    m = causal_mask(2, 4)
    assert m.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert torch.equal(causal_mask(3), torch.tril(torch.ones(3, 3, dtype=torch.bool)))
    with pytest.raises(ValueError, match="q_len <= k_len"):
        causal_mask(4, 2)


def test_padding_mask_shape_and_values():
    m = padding_mask(torch.tensor([3, 1]), 4)
    assert m.shape == (2, 1, 4)
    assert m[:, 0].tolist() == [[True, True, True, False], [True, False, False, False]]
    with pytest.raises(ValueError, match="max_len"):
        padding_mask([5], 4)
    with pytest.raises(ValueError, match="1-D integer"):
        padding_mask(torch.tensor([[1.0]]))


# --- bad input ---------------------------------------------------------------------------------


def test_d_model_not_divisible_by_n_heads():
    with pytest.raises(ValueError, match=r"d_model=100 is not divisible by n_heads=3.*e\.g\."):
        MultiHeadAttention(100, 3)


def test_float_mask_is_refused_not_reinterpreted():
    mha = MultiHeadAttention(D_MODEL, N_HEADS)
    x = torch.randn(1, 4, D_MODEL)
    additive = torch.zeros(4, 4).masked_fill(~causal_mask(4), float("-inf"))
    with pytest.raises(TypeError, match=r"dtype torch.float32.*True = may attend.*== 0"):
        mha(x, mask=additive)
    with pytest.raises(TypeError, match="dtype torch.int64"):
        scaled_dot_product_attention(x, x, x, mask=causal_mask(4).long())


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 4), (1, 1, 1, 4, 4)])
def test_mask_of_wrong_shape(shape):
    mha = MultiHeadAttention(D_MODEL, N_HEADS)
    x = torch.randn(2, 4, D_MODEL)
    with pytest.raises(
        ValueError, match=re.escape(f"mask has shape {tuple(shape)}, which does not broadcast")
    ):
        mha(x, mask=torch.ones(shape, dtype=torch.bool))


def test_query_of_wrong_width():
    with pytest.raises(ValueError, match=r"d_model=16"):
        MultiHeadAttention(D_MODEL, N_HEADS)(torch.randn(2, 3, 8))


def test_a_3d_mask_is_refused_not_broadcast_over_the_heads():
    """(batch, 1, k_len) would broadcast its batch over the heads; attention_mask shapes it."""
    mha = MultiHeadAttention(D_MODEL, N_HEADS)
    x = torch.randn(N_HEADS, 5, D_MODEL)  # batch == n_heads: broadcasting would not fail
    keep = padding_mask([5, 4, 3, 2], 5)
    with pytest.raises(ValueError, match=r"3-D.*attention_mask\(mask\)"):
        mha(x, mask=keep)
    out, _ = mha(x, mask=attention_mask(keep))
    assert out.shape == x.shape
