"""Checkers of the encoder layer chapter (notebooks/22_encoder_layer)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from companion.course.core import (
    Case,
    Score,
    case_generator,
    case_seed,
    compare,
    randn,
    run_cases,
)
from companion.course.registry import Chapter
from companion.layers import EncoderLayer
from companion.masks import attention_mask, causal_mask, padding_mask

CHAPTER = Chapter(22, "encoder_layer")  # notebooks/22_encoder_layer.ipynb


LAYER_NORM_ATOL = 1e-10


@CHAPTER.exercise(
    "ex-encoder-layer-layer-norm",
    title="Implement LayerNorm",
    difficulty="medium",
    names=("layer_norm",),
)
def check_layer_norm(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-encoder-layer-layer-norm: ``layer_norm(x, gamma, beta, eps=1e-5)`` over the last
    dimension, biased variance, against :func:`torch.nn.functional.layer_norm` (float64)."""

    def case(seed, shape, eps=None, scale=1.0, grads=False):
        def run():
            g = case_generator(seed)
            d = shape[-1]
            x = randn(g, *shape, scale=scale) + randn(g, 1, scale=3.0)
            gamma, beta = randn(g, d), randn(g, d)
            with torch.enable_grad():
                # the learner's copies: what fn does to them cannot change the reference
                ours = [t.requires_grad_(grads) for t in (x, gamma, beta)]
                theirs = [t.detach().clone().requires_grad_(grads) for t in ours]
                kw = {} if eps is None else {"eps": eps}
                want = F.layer_norm(x, (d,), gamma, beta, 1e-5 if eps is None else eps)
                got = fn(*theirs, **kw)
                problem = compare(got, want, "output", LAYER_NORM_ATOL)
                if problem or not grads:
                    return problem
                if not got.requires_grad:
                    return "output has no gradient (was it computed outside autograd?)"
                up = randn(g, *shape)
                got_g = torch.autograd.grad(got, theirs, up, allow_unused=True)
                want_g = torch.autograd.grad(want, ours, up)
            for name, a, b in zip(("x", "gamma", "beta"), got_g, want_g, strict=True):
                if a is None:
                    return f"gradient with respect to {name} is missing"
                problem = compare(a, b, f"gradient with respect to {name}", 1e-8)
                if problem:
                    return problem
            return None

        return run

    cases: list[Case] = [
        ("x (2, 5, 16), default eps", case(1, (2, 5, 16))),
        ("x (7,), a single vector", case(2, (7,))),
        ("x (3, 1, 4, 8), eps 0.01", case(3, (3, 1, 4, 8), eps=1e-2)),
        ("x (4, 6), tiny variance, default eps", case(4, (4, 6), scale=1e-3)),
        ("x (2, 3, 5), eps 0.5", case(5, (2, 3, 5), eps=0.5)),
        ("x (2, 1), d 1", case(6, (2, 1))),
        ("gradients, x (2, 5, 16)", case(7, (2, 5, 16), grads=True)),
    ]
    return run_cases("ex-encoder-layer-layer-norm", cases, verbose)


ENCODER_ATOL = 1e-10


@CHAPTER.exercise(
    "ex-encoder-layer-forward",
    title="Both layouts from the parts",
    difficulty="medium",
    names=("encoder_layer_forward",),
    references=("companion.layers.EncoderLayer.forward", "companion.layers.sublayer"),
)
def check_encoder_layer_forward(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-encoder-layer-forward: ``encoder_layer_forward(x, layer, norm_first, mask=None)``, one
    encoder layer from its parts, against :class:`companion.layers.EncoderLayer` (float64, eval)."""

    def case(seed, norm_first, batch, seq, d_model, n_heads, mask_kind=None, activation="relu"):
        def run():
            g = case_generator(seed)
            torch.manual_seed(
                case_seed(seed)
            )  # the layer's initialisation (inside _run's fork_rng)
            layer = EncoderLayer(
                d_model, n_heads, 2 * d_model, activation=activation, norm_first=norm_first
            )
            layer = layer.double().eval()
            with torch.no_grad():
                for norm in (layer.norm1, layer.norm2):  # gamma, beta away from 1, 0
                    norm.weight.copy_(1 + 0.5 * torch.randn(d_model, generator=g))
                    norm.bias.copy_(0.5 * torch.randn(d_model, generator=g))
            x = randn(g, batch, seq, d_model)
            mask = None
            if mask_kind == "causal":
                mask = causal_mask(seq)
            elif mask_kind == "padding":
                lengths = [seq] + [max(1, seq - 2 - b) for b in range(batch - 1)]
                mask = attention_mask(padding_mask(lengths, seq))  # (batch, 1, 1, seq)
            with torch.no_grad():
                want, _ = layer(x, mask=mask)
                got = fn(x, layer, norm_first) if mask is None else fn(x, layer, norm_first, mask)
            return compare(got, want, "output", ENCODER_ATOL)

        return run

    cases: list[Case] = [
        ("post-LN, no mask, batch 2, seq 7, d_model 16", case(1, False, 2, 7, 16, 4)),
        ("pre-LN, no mask, batch 2, seq 7, d_model 16", case(2, True, 2, 7, 16, 4)),
        ("post-LN, causal mask, batch 3, seq 5, d_model 24", case(3, False, 3, 5, 24, 3, "causal")),
        ("pre-LN, causal mask, batch 3, seq 5, d_model 24", case(4, True, 3, 5, 24, 3, "causal")),
        ("post-LN, padding mask, batch 3, seq 6, d_model 8", case(5, False, 3, 6, 8, 2, "padding")),
        ("pre-LN, padding mask, batch 3, seq 6, d_model 8", case(6, True, 3, 6, 8, 2, "padding")),
        ("post-LN, length-1 sequence, gelu", case(7, False, 2, 1, 12, 2, activation="gelu")),
        ("pre-LN, length-1 sequence, gelu", case(8, True, 2, 1, 12, 2, activation="gelu")),
    ]
    return run_cases("ex-encoder-layer-forward", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-encoder-layer-ln-by-hand", title="LayerNorm by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-encoder-layer-depth", title="How the gap grows with depth", difficulty="hard"
)
CHAPTER.other_exercise("ex-encoder-layer-init", title="Initialization matters", difficulty="medium")
CHAPTER.other_exercise(
    "ex-encoder-layer-warmup-longer", title="Stuck or slow?", difficulty="medium"
)
