"""Checkers of notebooks/30_build_transformer: the reference solutions get full marks, plausible
wrong implementations are rejected with a message that says how, and no message gives away an
expected value."""

from __future__ import annotations

import math
import re

import pytest
import torch
from einops import rearrange

from companion.course.exercises.build_transformer import (
    check_causal_self_attention,
    check_parameter_count,
)
from companion.models import EncoderDecoder, EncoderDecoderConfig

# --- causal self-attention: the notebook's solution and plausible mistakes --------------------------


def attend(x, w_q, w_k, w_v, w_o, n_heads, *, scale=None, allowed=None, split=None):
    """Multi-head self-attention with every choice a mistake can change as a keyword."""
    split = split or (lambda t: rearrange(t, "b t (h d) -> b h t d", h=n_heads))
    q, k, v = (split(x @ w) for w in (w_q, w_k, w_v))  # (batch, n_heads, seq, d_k)
    n = x.shape[1]
    scale = math.sqrt(q.shape[-1]) if scale is None else scale
    allowed = torch.ones(n, n, dtype=torch.bool).tril() if allowed is None else allowed
    scores = (q @ k.transpose(-2, -1) / scale).masked_fill(~allowed, float("-inf"))
    return rearrange(scores.softmax(dim=-1) @ v, "b h t d -> b t (h d)") @ w_o


def causal_self_attention(x, w_q, w_k, w_v, w_o, n_heads):
    return attend(x, w_q, w_k, w_v, w_o, n_heads)


def attention_unscaled(x, w_q, w_k, w_v, w_o, n_heads):
    return attend(x, w_q, w_k, w_v, w_o, n_heads, scale=1.0)


def attention_scaled_by_d_model(x, w_q, w_k, w_v, w_o, n_heads):
    return attend(x, w_q, w_k, w_v, w_o, n_heads, scale=math.sqrt(x.shape[-1]))


def attention_reversed_mask(x, w_q, w_k, w_v, w_o, n_heads):
    """True = blocked, the convention of nn.MultiheadAttention, fed a True = may-attend mask."""
    n = x.shape[1]
    return attend(
        x, w_q, w_k, w_v, w_o, n_heads, allowed=~torch.ones(n, n, dtype=torch.bool).tril()
    )


def attention_sees_next(x, w_q, w_k, w_v, w_o, n_heads):
    n = x.shape[1]
    allowed = torch.ones(n, n, dtype=torch.bool).tril(diagonal=1)  # position t sees t + 1
    return attend(x, w_q, w_k, w_v, w_o, n_heads, allowed=allowed)


def attention_without_mask(x, w_q, w_k, w_v, w_o, n_heads):
    n = x.shape[1]
    return attend(x, w_q, w_k, w_v, w_o, n_heads, allowed=torch.ones(n, n, dtype=torch.bool))


def attention_wrong_head_split(x, w_q, w_k, w_v, w_o, n_heads):
    """Reshapes (batch, seq, d_model) straight to (batch, heads, seq, d_k): mixes positions."""
    b, n, d = x.shape
    return attend(
        x, w_q, w_k, w_v, w_o, n_heads, split=lambda t: t.reshape(b, n_heads, n, d // n_heads)
    )


def attention_float32_only(x, w_q, w_k, w_v, w_o, n_heads):
    return causal_self_attention(*(t.float() for t in (x, w_q, w_k, w_v, w_o)), n_heads)


# --- the parameter count ----------------------------------------------------------------------------


def encoder_decoder_parameters(c, *, cross=True, positions=None, tied=None, final=True, norms=3):
    """The formula of the chapter, with each term a mistake can drop or add as a keyword."""
    d, f = c.d_model, c.d_ff
    attn, ffn, ln = 4 * (d * d + d), 2 * d * f + f + d, 2 * d
    learned = c.pos_encoding == "learned" if positions is None else positions
    pos = c.max_len * d if learned else 0
    n = c.vocab_size * d + pos + c.n_layers * (attn + ffn + 2 * ln)
    dec_attn = 2 * attn if cross else attn
    n += c.tgt_vocab_size * d + pos + c.n_decoder_layers * (dec_attn + ffn + norms * ln)
    n += 2 * ln if c.final_norm and final else 0
    n += 0 if (c.tie_weights if tied is None else tied) else c.tgt_vocab_size * d
    return n


WRONG_COUNTS = {
    "no cross-attention": lambda c: encoder_decoder_parameters(c, cross=False),
    "positions always counted": lambda c: encoder_decoder_parameters(c, positions=True),
    "positions never counted": lambda c: encoder_decoder_parameters(c, positions=False),
    "output layer always counted": lambda c: encoder_decoder_parameters(c, tied=False),
    "output layer never counted": lambda c: encoder_decoder_parameters(c, tied=True),
    "final norms forgotten": lambda c: encoder_decoder_parameters(c, final=False),
    "two LayerNorms per decoder layer": lambda c: encoder_decoder_parameters(c, norms=2),
}


def model_count(config: EncoderDecoderConfig) -> int:
    with torch.device("meta"):
        return EncoderDecoder(config).num_parameters()


# --- tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (attention_unscaled, "output differs (max error"),
        (attention_scaled_by_d_model, "output differs (max error"),
        (attention_reversed_mask, "contains NaN"),
        (attention_sees_next, "a position sees the future"),
        (attention_without_mask, "a position sees the future"),
        (attention_wrong_head_split, "output differs (max error"),
        (attention_float32_only, "output differs (max error"),
        (lambda *args: causal_self_attention(*args)[:, :-1], "output has shape"),
        (lambda *args: causal_self_attention(*args).tolist(), "output is a list"),
    ],
)
def test_wrong_attention_is_rejected(fn, message):
    score = check_causal_self_attention(fn, verbose=False)
    assert score.passed < score.total, str(score)
    assert any(message in m for m in score.messages), str(score)


def test_scaling_by_d_model_passes_only_the_one_head_cases():
    """With one head d_k = d_model: the mistake is invisible there and caught everywhere else."""
    score = check_causal_self_attention(attention_scaled_by_d_model, verbose=False)
    for m in score.messages:
        one_head = "1 head" in m or "one head" in m
        assert m.endswith(": passed") == one_head, m


def test_the_leak_case_names_the_leak():
    score = check_causal_self_attention(attention_sees_next, verbose=False)
    leak = [m for m in score.messages if "no leak" in m]
    assert len(leak) == 1 and "positions 0..2 changed" in leak[0], leak


@pytest.mark.parametrize("name", sorted(WRONG_COUNTS))
def test_wrong_count_is_rejected(name):
    score = check_parameter_count(WRONG_COUNTS[name], verbose=False)
    assert score.passed < score.total, f"{name}: {score}"
    assert any(re.search(r"returned [\d,]+, which is too (high|low)", m) for m in score.messages)


def test_context_length_matters_only_with_learned_positions():
    """The two max_len cases of each kind: positions-always fails the sinusoidal ones only."""
    score = check_parameter_count(WRONG_COUNTS["positions always counted"], verbose=False)
    for m in score.messages:
        if "max_len" in m and "small" in m:
            assert m.endswith(": passed") == ("learned" in m), m


def test_count_must_be_an_int():
    score = check_parameter_count(lambda c: float(model_count(c)), verbose=False)
    assert score.passed == 0
    assert all("returned a float, expected an int" in m for m in score.messages)
    score = check_parameter_count(lambda c: torch.tensor(model_count(c)), verbose=False)
    assert all("returned a Tensor" in m for m in score.messages)


def test_messages_never_show_expected_values():
    """A wrong count's report gives the learner's own number and a direction, never the model's."""
    score = check_parameter_count(WRONG_COUNTS["no cross-attention"], verbose=False)
    base = EncoderDecoderConfig(
        vocab_size=37000, d_model=512, n_heads=8, n_layers=6, d_ff=2048, max_len=256
    )
    want = model_count(base)
    text = str(score)
    assert f"{want:,}" not in text and str(want) not in text
    assert f"returned {WRONG_COUNTS['no cross-attention'](base):,}, which is too low" in text
    text = str(check_causal_self_attention(attention_unscaled, verbose=False))
    assert "tensor(" not in text and "[" not in text
    assert re.search(r"max error \d\.\de[-+]\d\d > 1e-10", text)


def test_checker_does_not_change_the_config_it_is_given_or_the_rng():
    def mutating(c):
        c.d_model = 1  # the checker hands over a copy
        return 0

    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_parameter_count(mutating, verbose=False)
    check_causal_self_attention(causal_self_attention, verbose=False)
    assert torch.equal(torch.rand(3), expected)
    assert check_parameter_count(encoder_decoder_parameters, verbose=False).score == 1.0


# --- for tests/test_course.py: the notebook's solutions, in the checker's argument order, and
# other right answers

REFERENCES = {
    "ex-build-transformer-causal-attention": (causal_self_attention,),
    "ex-build-transformer-parameter-count": (encoder_decoder_parameters,),
}
OTHER_RIGHT_ANSWERS = [("ex-build-transformer-parameter-count", (model_count,))]
