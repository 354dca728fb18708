"""Encoder and decoder layers against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer."""

import pytest
import torch
from torch import nn

from companion.attention import MultiHeadAttention
from companion.layers import DecoderLayer, EncoderLayer, FeedForward, sublayer
from companion.masks import attention_mask, causal_mask, padding_mask

D_MODEL, N_HEADS, D_FF = 16, 4, 32
TOL = dict(atol=1e-12, rtol=1e-12)


def copy_attention(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
        )
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)


def copy_common(ours, ref) -> None:
    """FFN and the LayerNorms, named alike except for our `ffn.` prefix."""
    with torch.no_grad():
        for name in ("linear1", "linear2"):
            getattr(ref, name).load_state_dict(getattr(ours.ffn, name).state_dict())
        for name in ("norm1", "norm2", "norm3"):
            if hasattr(ours, name):
                # randomise our LayerNorm affine parameters so that copying them is tested
                getattr(ours, name).weight.uniform_(0.5, 1.5)
                getattr(ours, name).bias.uniform_(-0.5, 0.5)
                getattr(ref, name).load_state_dict(getattr(ours, name).state_dict())


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(norm_first, activation):
    torch.manual_seed(0)
    ours = EncoderLayer(D_MODEL, N_HEADS, D_FF, 0.0, activation, norm_first).double()
    ref = nn.TransformerEncoderLayer(
        D_MODEL, N_HEADS, D_FF, 0.0, activation, batch_first=True, norm_first=norm_first
    ).double()
    copy_attention(ours.self_attn, ref.self_attn)
    copy_common(ours, ref)
    x = torch.randn(3, 5, D_MODEL, dtype=torch.float64)
    keep = padding_mask([5, 4, 2], 5)
    torch.testing.assert_close(ours(x)[0], ref(x), **TOL)
    expected = ref(x, src_key_padding_mask=~keep[:, 0])
    torch.testing.assert_close(ours(x, mask=attention_mask(keep))[0], expected, **TOL)
    causal = causal_mask(5)
    torch.testing.assert_close(ours(x, mask=causal)[0], ref(x, src_mask=~causal), **TOL)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(norm_first, activation):
    torch.manual_seed(0)
    ours = DecoderLayer(D_MODEL, N_HEADS, D_FF, 0.0, activation, norm_first).double()
    ref = nn.TransformerDecoderLayer(
        D_MODEL, N_HEADS, D_FF, 0.0, activation, batch_first=True, norm_first=norm_first
    ).double()
    copy_attention(ours.self_attn, ref.self_attn)
    copy_attention(ours.cross_attn, ref.multihead_attn)
    copy_common(ours, ref)
    tgt = torch.randn(2, 4, D_MODEL, dtype=torch.float64)
    memory = torch.randn(2, 7, D_MODEL, dtype=torch.float64)
    causal, src_keep = causal_mask(4), padding_mask([7, 5], 7)
    out, (w_self, w_cross) = ours(
        tgt, memory, mask=causal, src_mask=attention_mask(src_keep), need_weights=True
    )
    expected = ref(tgt, memory, tgt_mask=~causal, memory_key_padding_mask=~src_keep[:, 0])
    torch.testing.assert_close(out, expected, **TOL)
    assert w_self.shape == (2, N_HEADS, 4, 4) and w_cross.shape == (2, N_HEADS, 4, 7)
    assert torch.all(w_cross[1, :, :, 5:] == 0)


def test_layers_return_out_and_weights_or_none():
    torch.manual_seed(0)
    layer = EncoderLayer(D_MODEL, N_HEADS, D_FF)
    x = torch.randn(1, 3, D_MODEL)
    out, none = layer(x)
    assert none is None
    out_w, w = layer(x, need_weights=True)
    torch.testing.assert_close(out_w, out)
    assert w.shape == (1, N_HEADS, 3, 3)
    decoder = DecoderLayer(D_MODEL, N_HEADS, D_FF)
    memory = torch.randn(1, 4, D_MODEL)
    assert decoder(x, memory, mask=causal_mask(3))[1] is None
    _, (w_self, w_cross) = decoder(x, memory, mask=causal_mask(3), need_weights=True)
    assert w_self.shape == (1, N_HEADS, 3, 3) and w_cross.shape == (1, N_HEADS, 3, 4)


def test_masks_and_flags_are_keyword_only():
    layer = EncoderLayer(D_MODEL, N_HEADS, D_FF)
    x = torch.randn(1, 3, D_MODEL)
    with pytest.raises(TypeError, match="positional"):
        layer(x, causal_mask(3))
    with pytest.raises(TypeError, match="positional"):
        DecoderLayer(D_MODEL, N_HEADS, D_FF)(x, x, causal_mask(3))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_sublayer_states_both_residual_formulas(norm_first):
    """post-LN: LN(x + f(x)); pre-LN: x + f(LN(x)); what f returns beside its output passes on."""
    torch.manual_seed(0)
    norm, x = nn.LayerNorm(D_MODEL), torch.randn(2, 3, D_MODEL)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)

    def f(h):
        return 2 * h + 1, "weights"

    out, extra = sublayer(x, f, norm, nn.Identity(), norm_first)
    expected = x + f(norm(x))[0] if norm_first else norm(x + f(x)[0])
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    assert extra == "weights"


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_use_sdpa_reaches_every_attention(use_sdpa):
    for layer in (
        EncoderLayer(D_MODEL, N_HEADS, D_FF, use_sdpa=use_sdpa),
        DecoderLayer(D_MODEL, N_HEADS, D_FF, use_sdpa=use_sdpa),
    ):
        attentions = [m for m in layer.modules() if isinstance(m, MultiHeadAttention)]
        assert attentions and all(m.use_sdpa is use_sdpa for m in attentions)


def test_feed_forward_is_position_wise():
    """FFN(x)_t depends on x_t alone: it equals the FFN applied to each position separately."""
    torch.manual_seed(0)
    ffn = FeedForward(D_MODEL, D_FF)
    x = torch.randn(2, 5, D_MODEL)
    each = torch.stack([ffn(x[:, t]) for t in range(5)], dim=1)
    torch.testing.assert_close(ffn(x), each)
    manual = (
        torch.relu(x @ ffn.linear1.weight.T + ffn.linear1.bias) @ ffn.linear2.weight.T
        + ffn.linear2.bias
    )
    torch.testing.assert_close(ffn(x), manual)


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"activation='swish'.*\['gelu', 'relu'\]"):
        FeedForward(D_MODEL, D_FF, activation="swish")


def test_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    layer = EncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.5)
    x = torch.randn(2, 5, D_MODEL)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.train()
    assert not torch.allclose(layer(x)[0], layer(x)[0])
