"""Checkers of the chapter notebooks/30_build_transformer."""

from __future__ import annotations

import copy
import functools
import numbers
from collections.abc import Callable

import torch
from torch import Tensor

from companion.attention import MultiHeadAttention
from companion.course.core import (
    Case,
    Score,
    case_generator,
    compare,
    randn,
    run_cases,
)
from companion.course.registry import Chapter
from companion.masks import causal_mask
from companion.models import EncoderDecoder, EncoderDecoderConfig

CHAPTER = Chapter(30, "build_transformer")  # notebooks/30_build_transformer.ipynb


CAUSAL_ATOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def causal_self_attention_reference(
    x: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor, w_o: Tensor, n_heads: int
) -> Tensor:
    """companion's :class:`MultiHeadAttention` (no biases) with ``W^Q, W^K, W^V, W^O`` copied in,
    under :func:`causal_mask`. ``x (batch, seq, d_model)``, each ``w (d_model, d_model)`` applied
    as ``x @ w`` -> ``(batch, seq, d_model)``."""
    mha = MultiHeadAttention(x.shape[-1], n_heads, bias=False).to(x.dtype)
    projections = (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj)
    with torch.no_grad():
        for proj, w in zip(projections, (w_q, w_k, w_v, w_o), strict=True):
            proj.weight.copy_(w.T)  # nn.Linear computes x @ weight.T
        return mha(x, mask=causal_mask(x.shape[1]))[0]


def _form(got: object, want: Tensor) -> str | None:
    """What is wrong with ``got``'s type, shape or NaNs (not its values), or None."""
    return compare(got, want, "output", float("inf"))


def _leak(got: Tensor, again: object, want: Tensor, t: int, atol: float) -> str | None:
    """None if the outputs at positions ``0..t`` did not move when only later tokens changed."""
    problem = _form(again, want)
    if problem:
        return problem
    moved = (again[:, : t + 1] - got[:, : t + 1]).abs().max().item()
    if moved > atol:
        return (
            f"the outputs at positions 0..{t} changed (by up to {moved:.1e}) when only the "
            f"tokens after position {t} changed: a position sees the future"
        )
    return None


@CHAPTER.exercise(
    "ex-build-transformer-causal-attention",
    title="Causal self-attention from the weights",
    difficulty="medium",
    names=("causal_self_attention",),
    references=(
        "companion.attention.MultiHeadAttention.forward",
        "companion.attention.scaled_dot_product_attention",
    ),
)
def check_causal_self_attention(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-build-transformer-causal-attention: ``causal_self_attention(x, w_q, w_k, w_v, w_o,
    n_heads)``, multi-head self-attention under the causal mask with ``Q = x @ w_q`` (head ``i``
    takes columns ``i * d_k .. (i + 1) * d_k``) and no biases, against companion's
    :class:`~companion.attention.MultiHeadAttention` with the same weights."""

    def case(seed, batch, seq, d_model, n_heads, scale=1.0, dtype=torch.float64, leak_at=None):
        def run():
            g = case_generator(seed)
            x = randn(g, batch, seq, d_model, scale=scale).to(dtype)
            ws = [randn(g, d_model, d_model, scale=d_model**-0.5).to(dtype) for _ in range(4)]
            want = causal_self_attention_reference(x, *ws, n_heads)
            got = fn(x, *ws, n_heads)
            atol = CAUSAL_ATOL[dtype]
            if leak_at is not None:
                t = leak_at
                changed = x.clone()  # the same sequences with every token after t replaced
                changed[:, t + 1 :] = randn(g, batch, seq - t - 1, d_model, scale=scale).to(dtype)
                problem = _form(got, want) or _leak(got, fn(changed, *ws, n_heads), want, t, atol)
                if problem:
                    return problem
            return compare(got, want, "output", atol)

        return run

    cases: list[Case] = [
        ("batch 2, seq 5, d_model 8, 2 heads", case(1, 2, 5, 8, 2)),
        ("a single token: batch 1, seq 1, d_model 4, 1 head", case(2, 1, 1, 4, 1)),
        ("batch 3, seq 7, d_model 16, 4 heads", case(3, 3, 7, 16, 4)),
        ("one head with d_k 64: batch 2, seq 9, d_model 64", case(4, 2, 9, 64, 1)),
        ("8 heads with d_k 4: batch 1, seq 6, d_model 32", case(5, 1, 6, 32, 8)),
        ("large inputs: batch 2, seq 6, d_model 12, 3 heads", case(6, 2, 6, 12, 3, scale=3.0)),
        (
            "no leak: changing the tokens after position 2 leaves positions 0..2 alone",
            case(7, 2, 8, 16, 4, leak_at=2),
        ),
        (
            "float32 input: batch 2, seq 5, d_model 16, 4 heads",
            case(8, 2, 5, 16, 4, dtype=torch.float32),
        ),
    ]
    return run_cases("ex-build-transformer-causal-attention", cases, verbose)


def _describe(config: EncoderDecoderConfig) -> str:
    """One line naming what a config sets, for the description of a random case."""
    c = config
    heads = f"{c.n_heads} head" + ("s" if c.n_heads > 1 else "")
    return (
        f"vocabularies {c.vocab_size} -> {c.tgt_vocab_size}, d_model {c.d_model} ({heads}), "
        f"{c.n_layers} + {c.n_decoder_layers} layers, d_ff {c.d_ff}, "
        f"max_len {c.max_len}, {c.pos_encoding} positions, "
        f"{'tied' if c.tie_weights else 'untied'}, final_norm {c.final_norm}"
    )


@functools.cache
def _model_parameters(fields: tuple[tuple[str, object], ...]) -> int:
    """``EncoderDecoder(EncoderDecoderConfig(**dict(fields))).num_parameters()``, built on the
    meta device (the count needs shapes only: no memory, no initialisation) and remembered."""
    with torch.device("meta"):
        return EncoderDecoder(EncoderDecoderConfig(**dict(fields))).num_parameters()


@CHAPTER.exercise(
    "ex-build-transformer-parameter-count",
    title="The parameter count of any configuration",
    difficulty="medium",
    names=("encoder_decoder_parameters",),
    references=("companion.models.EncoderDecoder.__init__", "companion.models.num_parameters"),
)
def check_parameter_count(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-build-transformer-parameter-count: ``encoder_decoder_parameters(config)`` -> the number
    of parameters of ``EncoderDecoder(config)`` (an int), for configs that vary the vocabularies,
    widths, depths, context length, learned or sinusoidal positions, tying and the final norms."""

    def case(**fields):
        def run():
            config = EncoderDecoderConfig(**fields)
            want = _model_parameters(tuple(sorted(fields.items())))
            got = fn(copy.deepcopy(config))
            if isinstance(got, bool) or not isinstance(got, numbers.Integral):
                return f"returned a {type(got).__name__}, expected an int (convert with int(...))"
            if got != want:
                return f"returned {int(got):,}, which is too {'high' if got > want else 'low'}"
            return None

        return run

    def random_fields(seed: int, pos_encoding: str, tie_weights: bool) -> dict:
        g = case_generator(seed)

        def pick(options):
            return options[int(torch.randint(len(options), (1,), generator=g))]

        n_heads = pick([1, 2, 4])
        return dict(
            vocab_size=pick([17, 100, 999]),
            tgt_vocab_size=pick([None, 23, 500]),
            d_model=n_heads * pick([4, 6, 16]),
            n_heads=n_heads,
            n_layers=pick([1, 2, 3]),
            n_decoder_layers=pick([None, 1, 4]),
            d_ff=pick([None, 10, 96]),
            max_len=pick([8, 77, 300]),
            pos_encoding=pos_encoding,
            tie_weights=tie_weights,
            final_norm=pick([None, True, False]),
        )

    small = dict(vocab_size=100, d_model=32, n_heads=4, n_layers=2, d_ff=64)
    cases: list[Case] = [
        (
            "the 2017 base model: d_model 512, 6 + 6 layers, d_ff 2048, vocabulary 37000",
            case(vocab_size=37000, d_model=512, n_heads=8, n_layers=6, d_ff=2048, max_len=256),
        ),
        ("small, sinusoidal positions, max_len 64", case(**small, max_len=64)),
        ("the same with max_len 512", case(**small, max_len=512)),
        ("small, learned positions, max_len 64", case(**small, max_len=64, pos_encoding="learned")),
        ("the same with max_len 512", case(**small, max_len=512, pos_encoding="learned")),
        ("untied output layer", case(**small, tie_weights=False)),
        (
            "separate vocabularies: 300 source, 120 target",
            case(**dict(small, vocab_size=300), tgt_vocab_size=120),
        ),
        ("3 encoder layers, 1 decoder layer", case(**dict(small, n_layers=3), n_decoder_layers=1)),
        ("final LayerNorms (final_norm=True)", case(**small, final_norm=True)),
        ("pre-LN (norm_first=True: final norms by default)", case(**small, norm_first=True)),
    ]
    for seed, (pos_encoding, tie_weights) in enumerate(
        [("learned", True), ("sinusoidal", False), ("learned", False), ("sinusoidal", True)],
        start=101,
    ):
        fields = random_fields(seed, pos_encoding, tie_weights)
        description = _describe(EncoderDecoderConfig(**fields))
        cases.append((f"random config: {description}", case(**fields)))
    return run_cases("ex-build-transformer-parameter-count", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-build-transformer-target-padding",
    title="Does the decoder need a target padding mask?",
    difficulty="easy",
)
CHAPTER.other_exercise(
    "ex-build-transformer-final-norm",
    title="The final LayerNorm: predict, then measure",
    difficulty="medium",
)
