"""Checkers of the attention chapter (notebooks/20_attention)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from companion.attention import scaled_dot_product_attention
from companion.course.core import (
    Case,
    Score,
    case_generator,
    compare,
    randn,
    run_cases,
)
from companion.course.registry import Chapter
from companion.masks import causal_mask, padding_mask

CHAPTER = Chapter(20, "attention")  # notebooks/20_attention.ipynb


ATTENTION_ATOL = 1e-6


@CHAPTER.exercise(
    "ex-attention-implement",
    title="Implement attention",
    difficulty="medium",
    names=("attention",),
    references=("companion.attention.scaled_dot_product_attention",),
)
def check_attention(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-attention-implement: ``attention(q, k, v, mask=None) -> (out, weights)``, explicit, with
    a boolean mask (True = may attend), against :func:`companion.attention.scaled_dot_product_attention`.
    """

    def case(seed, q_shape, k_len, d_v, mask_kind=None):
        def run():
            g = case_generator(seed)
            *batch, n, d_k = q_shape
            q = randn(g, *q_shape, scale=1.5)
            k = randn(g, *batch, k_len, d_k, scale=1.5)
            v = randn(g, *batch, k_len, d_v)
            mask = None
            if mask_kind == "causal":
                mask = causal_mask(n, k_len)
            elif mask_kind == "padding":
                lengths = torch.randint(1, k_len + 1, (batch[0],), generator=g)
                lengths[0] = k_len
                lengths[-1] = 1
                mask = padding_mask(lengths, k_len)  # (batch, 1, k_len)
                if len(batch) == 2:
                    mask = mask[:, None]  # (batch, 1, 1, k_len)
            elif mask_kind == "per-head":
                mask = torch.rand(*batch, n, k_len, generator=g) < 0.6
                mask[..., 0] = True  # every query keeps at least one key
            out_ref, w_ref = scaled_dot_product_attention(q, k, v, mask)  # before fn may change q
            args = (q, k, v) if mask is None else (q, k, v, mask)
            result = fn(*args)
            if not isinstance(result, tuple | list) or len(result) != 2:
                return f"returned {type(result).__name__}, expected a tuple (out, weights)"
            return compare(result[1], w_ref, "weights", ATTENTION_ATOL) or compare(
                result[0], out_ref, "output", ATTENTION_ATOL
            )

        return run

    cases: list[Case] = [
        ("no mask, 2-D inputs, q_len 4, k_len 6, d_v 3", case(1, (4, 8), 6, 3)),
        ("no mask, batch 2 x 3 heads, q_len 5, k_len 7, d_v 4", case(2, (2, 3, 5, 16), 7, 4)),
        ("causal mask, batch 2", case(3, (2, 6, 8), 6, 8, "causal")),
        ("causal mask, batch 2 x 2 heads, d_k 64", case(4, (2, 2, 5, 64), 5, 3, "causal")),
        ("padding mask (batch, 1, k_len), batch 3", case(5, (3, 4, 8), 7, 5, "padding")),
        ("padding mask, batch 3 x 2 heads", case(6, (3, 2, 4, 8), 6, 2, "padding")),
        ("per-head mask (batch, heads, q_len, k_len)", case(7, (2, 4, 5, 8), 9, 6, "per-head")),
        ("length-1 sequences", case(8, (2, 1, 4), 1, 3)),
    ]
    return run_cases("ex-attention-implement", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-attention-by-hand", title="Attention by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-attention-temperature", title="Temperature: predict, then measure", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-attention-bert", title="The attention parameters of BERT-base", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-attention-cost", title="Where the quadratic term takes over", difficulty="medium"
)
