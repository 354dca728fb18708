"""Checkers of the fine-tuning chapter (notebooks/12_finetuning)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, compare, hidden_generator, run_cases
from companion.course.core import randn as _randn
from companion.course.registry import Chapter

CHAPTER = Chapter(12, "finetuning")  # notebooks/12_finetuning.ipynb

LORA_ATOL = 1e-9  # float64 inputs; the reference computes in float64 too


def _lora_forward(x, weight, bias, A, B, alpha, r):
    """The expected value: ``x W^T + b + (alpha / r) (x A^T) B^T``, all float64."""
    out = x @ weight.T + (alpha / r) * ((x @ A.T) @ B.T)
    return out if bias is None else out + bias


@CHAPTER.exercise(
    "ex-finetuning-lora-forward",
    title="The LoRA forward pass",
    difficulty="easy",
    names=("my_lora_forward",),
    references=("companion.lora.LoRALinear.forward",),
)
def check_lora_forward(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-finetuning-lora-forward: ``lora_forward(x, weight, bias, A, B, alpha, r)`` ->
    ``(..., d_out)`` = ``W x + b + (alpha / r) B A x`` for ``x (..., d_in)``, ``weight
    (d_out, d_in)``, ``bias (d_out,)`` or None, ``A (r, d_in)``, ``B (d_out, r)``."""

    def case(case_no, lead, d_in, d_out, r, alpha, with_bias):
        g = case_generator(case_no)
        x = _randn(g, *lead, d_in)
        weight = _randn(g, d_out, d_in, scale=0.5)
        bias = _randn(g, d_out) if with_bias else None
        A = _randn(g, r, d_in, scale=0.5)
        B = _randn(g, d_out, r, scale=0.5)  # nonzero, as after training
        args = (x, weight, bias, A, B, alpha, r)
        want = _lora_forward(*args)
        copies = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
        return lambda: compare(fn(*copies), want, "output", LORA_ATOL)

    specs = [  # (leading dims of x, d_in, d_out, r, alpha, bias)
        ((1,), 3, 3, 1, 1.0, True),
        ((4,), 6, 6, 2, 4.0, True),
        ((5,), 8, 3, 2, 5.0, True),  # alpha / r = 2.5: an integer division fails here
        ((2, 7), 10, 12, 4, 6.0, True),  # and here (1.5)
        ((3,), 5, 9, 3, 3.0, False),
        ((2, 3), 16, 16, 8, 16.0, False),
    ]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        for _ in range(2):
            d_in, d_out = (int(v) for v in torch.randint(2, 20, (2,), generator=g))
            r = int(torch.randint(1, min(d_in, d_out) + 1, (1,), generator=g))
            alpha = float(torch.randint(1, 33, (1,), generator=g))
            specs.append(
                (
                    (2, int(torch.randint(1, 6, (1,), generator=g))),
                    d_in,
                    d_out,
                    r,
                    alpha,
                    bool(torch.randint(0, 2, (1,), generator=g)),
                )
            )
    cases: list[Case] = []
    for i, (lead, d_in, d_out, r, alpha, with_bias) in enumerate(specs):
        shape = "x".join(map(str, (*lead, d_in)))
        what = f"x {shape}, d_out {d_out}, r {r}, alpha {alpha:g}, {'bias' if with_bias else 'no bias'}"
        cases.append((what, case(i, lead, d_in, d_out, r, alpha, with_bias)))
    return run_cases("ex-finetuning-lora-forward", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-finetuning-count", title="Count LoRA's parameters", difficulty="easy")
CHAPTER.other_exercise(
    "ex-finetuning-quant-error", title="The int8 error bound", difficulty="medium"
)
CHAPTER.other_exercise("ex-finetuning-ffn", title="LoRA on the FFN only", difficulty="hard")
