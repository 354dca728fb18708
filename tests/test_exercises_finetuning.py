"""Checker of notebooks/12_finetuning: the reference LoRA forward gets full marks, plausible
wrong versions are rejected, and no message gives away an expected value."""

from __future__ import annotations

import re

import pytest
import torch

from companion.course.exercises.finetuning import check_lora_forward
from companion.lora import LoRALinear


def lora_forward(x, weight, bias, A, B, alpha, r):  # the notebook's solution
    out = x @ weight.T + (alpha / r) * (x @ A.T @ B.T)  # (..., d_out)
    return out if bias is None else out + bias


def lora_forward_merged(x, weight, bias, A, B, alpha, r):  # merge first, then one matmul
    return torch.nn.functional.linear(x, weight + (alpha / r) * B @ A, bias)


def lora_forward_module(x, weight, bias, A, B, alpha, r):  # companion's module, filled in
    d_out, d_in = weight.shape
    base = torch.nn.Linear(d_in, d_out, bias=bias is not None, dtype=x.dtype)
    layer = LoRALinear(base, r, alpha)
    with torch.no_grad():
        base.weight.copy_(weight)
        if bias is not None:
            base.bias.copy_(bias)
        layer.lora_A.copy_(A)
        layer.lora_B.copy_(B)
    return layer(x).detach()


def scale_alpha(x, weight, bias, A, B, alpha, r):  # alpha instead of alpha / r
    return lora_forward(x, weight, bias, A, B, alpha * r, r)


def transposed_order(x, weight, bias, A, B, alpha, r):  # A^T B^T applied as if (BA)^T
    out = x @ weight.T + (alpha / r) * (x @ (A.T @ B.T).T)
    return out if bias is None else out + bias


def forgets_bias(x, weight, bias, A, B, alpha, r):
    return lora_forward(x, weight, None, A, B, alpha, r)


def forgets_base(x, weight, bias, A, B, alpha, r):  # the update only
    return lora_forward(x, torch.zeros_like(weight), bias, A, B, alpha, r)


def scale_r_over_alpha(x, weight, bias, A, B, alpha, r):
    return lora_forward(x, weight, bias, A, B, r, alpha)


def floor_div_scale(x, weight, bias, A, B, alpha, r):  # alpha // r: right only when r divides alpha
    return lora_forward(x, weight, bias, A, B, float(alpha // r), 1)


def float32_answer(x, weight, bias, A, B, alpha, r):  # right values, rounded to float32
    return lora_forward(x, weight, bias, A, B, alpha, r).float()


REFERENCES = {"ex-finetuning-lora-forward": (lora_forward,)}
OTHER_RIGHT_ANSWERS = [
    ("ex-finetuning-lora-forward", (lora_forward_merged,)),
    ("ex-finetuning-lora-forward", (lora_forward_module,)),
]


def test_the_right_answers_pass():
    for fn in (lora_forward, lora_forward_merged, lora_forward_module):
        score = check_lora_forward(fn, verbose=False)
        assert score.passed == score.total == 6, str(score)


@pytest.mark.parametrize(
    "wrong",
    [
        scale_alpha,
        transposed_order,
        forgets_bias,
        forgets_base,
        scale_r_over_alpha,
        floor_div_scale,
        float32_answer,
    ],
)
def test_wrong_lora_forwards_are_rejected(wrong):
    score = check_lora_forward(wrong, verbose=False)
    assert score.passed < score.total, f"{wrong.__name__} passed every case"
    failed = " ".join(m for m in score.messages if not m.endswith("passed"))
    assert "differs" in failed or "dtype" in failed
    assert not re.search(r"tensor\(", failed)


def test_transposed_order_fails_even_on_square_cases():
    score = check_lora_forward(transposed_order, verbose=False)
    square = [m for m in score.messages if "x 1x3, d_out 3" in m or "x 4x6, d_out 6" in m]
    assert square and not any(m.endswith(": passed") for m in square)


def test_forgetting_the_bias_passes_only_the_cases_without_one():
    score = check_lora_forward(forgets_bias, verbose=False)
    for m in score.messages:
        assert m.endswith(": passed") == ("no bias" in m), m
