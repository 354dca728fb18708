"""The checkers of chapters 20-22 (companion.course.exercises): each rejects the typical mistakes
with a message that says which kind of case failed and how. The contract every checker shares is
tests/test_course.py."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from companion.attention import scaled_dot_product_attention
from companion.course.exercises.attention import check_attention
from companion.course.exercises.encoder_layer import check_encoder_layer_forward, check_layer_norm
from companion.course.exercises.masks_and_positions import check_masks, check_sinusoidal_encoding
from companion.masks import causal_mask, padding_mask
from companion.positional import sinusoidal_encoding

# layer_norm_unbiased on d = 1 divides by d - 1 = 0: the NaN it returns is the point of that case.
pytestmark = pytest.mark.filterwarnings(r"ignore:var\(\). degrees of freedom is <= 0")


# --- references (the notebooks' solutions) and plausible wrong implementations -------------------


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_unscaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_scale_by_dk(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_wrong_axis(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights


def attention_reversed_mask(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_transposed_weights(q, k, v, mask=None):
    out, weights = attention(q, k, v, mask)
    return out, weights.transpose(-2, -1)


def my_causal_mask(n):
    i = torch.arange(n)
    return i[None, :] <= i[:, None]


def my_padding_mask(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    return (torch.arange(max_len)[None, :] < lengths[:, None])[:, None, :]


def causal_strict(n):
    i = torch.arange(n)
    return i[None, :] < i[:, None]


def causal_reversed(n):
    return ~my_causal_mask(n)


def padding_reversed(lengths, max_len):
    return ~my_padding_mask(lengths, max_len)


def padding_2d(lengths, max_len):
    return my_padding_mask(lengths, max_len)[:, 0, :]


def my_sinusoidal_encoding(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / 10000 ** (two_i / d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


def sinusoidal_float32(max_len, d_model):  # right, computed in float32 throughout
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    angle = pos * torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


def sinusoidal_swapped(max_len, d_model):
    pe = my_sinusoidal_encoding(max_len, d_model)
    return pe.reshape(max_len, d_model // 2, 2).flip(-1).reshape(max_len, d_model)


def sinusoidal_pos_i_swapped(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)[None, :]
    angle = two_i / 10000 ** (pos / d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


def layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, unbiased=False, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def layer_norm_unbiased(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(x.var(dim=-1, keepdim=True) + eps) + beta


def layer_norm_eps_outside(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, unbiased=False, keepdim=True)
    return gamma * (x - mu) / (torch.sqrt(var) + eps) + beta


def layer_norm_wrong_axis(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, unbiased=False, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def encoder_layer_forward(x, layer, norm_first, mask=None):
    if norm_first:
        h = x + layer.self_attn(layer.norm1(x), mask=mask)[0]
        return h + layer.ffn(layer.norm2(h))
    h = layer.norm1(x + layer.self_attn(x, mask=mask)[0])
    return layer.norm2(h + layer.ffn(h))


def encoder_swapped(x, layer, norm_first, mask=None):
    return encoder_layer_forward(x, layer, not norm_first, mask)


def encoder_no_residual(x, layer, norm_first, mask=None):
    if norm_first:
        h = layer.self_attn(layer.norm1(x), mask=mask)[0]
        return layer.ffn(layer.norm2(h))
    h = layer.norm1(layer.self_attn(x, mask=mask)[0])
    return layer.norm2(layer.ffn(h))


def encoder_norm_before_add(x, layer, norm_first, mask=None):  # wrong in post-LN only
    if norm_first:
        return encoder_layer_forward(x, layer, norm_first, mask)
    h = x + layer.norm1(layer.self_attn(x, mask=mask)[0])
    return h + layer.norm2(layer.ffn(h))


def encoder_ignores_mask(x, layer, norm_first, mask=None):
    return encoder_layer_forward(x, layer, norm_first)


def encoder_no_mask_argument(x, layer, norm_first):
    return encoder_layer_forward(x, layer, norm_first)


# --- full marks for the references ---------------------------------------------------------------


# --- the wrong implementations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checker", "fns", "message"),
    [
        (check_attention, (attention_unscaled,), "weights differs (max error"),
        (check_attention, (attention_scale_by_dk,), "weights differs (max error"),
        (check_attention, (attention_wrong_axis,), "weights differs (max error"),
        (check_attention, (attention_reversed_mask,), "contains NaN"),
        (check_attention, (attention_transposed_weights,), "weights has shape (6, 4)"),
        (check_masks, (causal_strict, my_padding_mask), "mask differs in"),
        (check_masks, (causal_reversed, my_padding_mask), "mask differs in"),
        (check_masks, (my_causal_mask, padding_reversed), "mask differs in"),
        (check_masks, (my_causal_mask, padding_2d), "mask has shape (3, 4), expected (3, 1, 4)"),
        (check_masks, (lambda n: my_causal_mask(n).int(), my_padding_mask), "dtype torch.int"),
        (check_sinusoidal_encoding, (sinusoidal_swapped,), "encoding differs (max error"),
        (check_sinusoidal_encoding, (sinusoidal_pos_i_swapped,), "encoding differs (max error"),
        (
            check_sinusoidal_encoding,
            (lambda n, d: my_sinusoidal_encoding(n, d).double(),),
            "dtype torch.float64, expected torch.float32",
        ),
        (check_layer_norm, (layer_norm_unbiased,), "output differs (max error"),
        (check_layer_norm, (layer_norm_eps_outside,), "output differs (max error"),
        (check_layer_norm, (layer_norm_wrong_axis,), "output differs (max error"),
        (check_encoder_layer_forward, (encoder_swapped,), "output differs (max error"),
        (check_encoder_layer_forward, (encoder_no_residual,), "output differs (max error"),
        (check_encoder_layer_forward, (encoder_norm_before_add,), "output differs (max error"),
        (check_encoder_layer_forward, (encoder_ignores_mask,), "output differs (max error"),
        (check_encoder_layer_forward, (encoder_no_mask_argument,), "raised TypeError"),
    ],
)
def test_wrong_implementation_is_rejected(checker, fns, message):
    score = checker(*fns, verbose=False)
    assert score.score < 1, str(score)
    assert any(message in m for m in score.messages), str(score)


def test_encoder_checker_blames_only_the_wrong_cases():
    score = check_encoder_layer_forward(encoder_norm_before_add, verbose=False)
    assert all(("passed" in m) == ("pre-LN" in m) for m in score.messages), str(score)
    score = check_encoder_layer_forward(encoder_ignores_mask, verbose=False)
    assert all(("passed" in m) == ("mask" not in m or "no mask" in m) for m in score.messages)


def test_messages_never_show_expected_values():
    """A wrong answer's report gives shapes and error sizes, never a tensor's entries."""
    score = check_attention(attention_unscaled, verbose=False)
    text = str(score)
    assert "tensor(" not in text and "[" not in text
    assert re.search(r"max error \d\.\de[-+]\d\d > 1e-06", text)
    assert str(score).splitlines()[0] == f"ex-attention-implement: {score.passed}/8 cases passed"


# --- grade_namespace ------------------------------------------------------------------------------


# --- the registry against the notebooks -----------------------------------------------------------


# --- for tests/test_course.py: the notebook's solutions, in the checker's argument order, and
# other right answers

REFERENCES = {
    "ex-attention-implement": (attention,),
    "ex-masks-and-positions-masks": (my_causal_mask, my_padding_mask),
    "ex-masks-and-positions-sinusoidal": (my_sinusoidal_encoding,),
    "ex-encoder-layer-layer-norm": (layer_norm,),
    "ex-encoder-layer-forward": (encoder_layer_forward,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-attention-implement", (scaled_dot_product_attention,)),
    ("ex-masks-and-positions-masks", (causal_mask, padding_mask)),
    ("ex-masks-and-positions-sinusoidal", (sinusoidal_encoding,)),
    ("ex-masks-and-positions-sinusoidal", (sinusoidal_float32,)),
    (
        "ex-encoder-layer-layer-norm",
        (lambda x, g, b, eps=1e-5: F.layer_norm(x, x.shape[-1:], g, b, eps),),
    ),
]
