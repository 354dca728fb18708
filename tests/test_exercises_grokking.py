"""The checker of chapter 51 (companion.course.exercises.grokking): the notebook's answer gets full
marks, so do two right answers written differently (torch.fft, and a plain loop over
frequencies); the usual mistakes are rejected. The shared contract is tests/test_course.py."""

from __future__ import annotations

import math

import pytest
import torch

from companion.course.exercises.grokking import check_norm_fraction_in_top_k

# --- the notebook's solution ---------------------------------------------------------------------


def my_norm_fraction_in_top_k(W, k):
    p = W.shape[0]
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64) / math.sqrt(p)]
    for f in range(1, (p - 1) // 2 + 1):
        w = 2 * math.pi * f / p
        rows += [math.sqrt(2 / p) * torch.cos(w * x), math.sqrt(2 / p) * torch.sin(w * x)]
    basis = torch.stack(rows)  # (p, p), orthonormal rows
    power = (basis @ W.double()).pow(2).sum(-1)  # (p,): squared norm per basis function
    spectrum = torch.cat([power[:1], power[1:].reshape(-1, 2).sum(-1)])  # cos + sin per frequency
    return float(spectrum.sort(descending=True).values[:k].sum() / spectrum.sum())


# --- right answers written differently -----------------------------------------------------------


def fft_norm_fraction(W, k):
    """rfft with norm="ortho": the frequencies k >= 1 stand for k and p - k, so their power doubles."""
    X = torch.fft.rfft(W.double(), dim=0, norm="ortho")  # ((p+1)/2, d), complex
    power = X.abs().pow(2).sum(-1)
    power[1:] *= 2
    return (power.topk(k).values.sum() / W.double().pow(2).sum()).item()


def loop_norm_fraction(W, k):
    p, d = W.shape
    W = W.double()
    spectrum = [float(W.sum(0).pow(2).sum() / p)]
    for f in range(1, (p + 1) // 2):
        c = torch.tensor([math.cos(2 * math.pi * f * x / p) for x in range(p)], dtype=torch.float64)
        s = torch.tensor([math.sin(2 * math.pi * f * x / p) for x in range(p)], dtype=torch.float64)
        spectrum.append(float(((c @ W).pow(2).sum() + (s @ W).pow(2).sum()) * 2 / p))
    return sum(sorted(spectrum, reverse=True)[:k]) / sum(spectrum)


# --- wrong answers -------------------------------------------------------------------------------


def _power(W):
    """Squared norm per orthonormal basis function (constant, cos 1, sin 1, ...)."""
    X = torch.fft.rfft(W.double(), dim=0, norm="ortho")
    power = X.abs().pow(2).sum(-1)
    power[1:] *= 2
    return power


def cos_and_sin_apart(W, k):
    X = torch.fft.rfft(W.double(), dim=0, norm="ortho")
    parts = torch.cat(
        [X[:1].real.pow(2).sum(-1, keepdim=True).T[0]]
        + [X[1:].real.pow(2).sum(-1) * 2, X[1:].imag.pow(2).sum(-1) * 2]
    )
    return (parts.topk(k).values.sum() / parts.sum()).item()  # cos and sin ranked separately


def forgets_the_constant(W, k):
    power = _power(W)[1:]  # the constant term left out of the spectrum and the total
    return (power.topk(k).values.sum() / power.sum()).item()


def norm_not_squared(W, k):
    norms = _power(W).sqrt()
    return (norms.topk(k).values.sum() / norms.sum()).item()


def fft_unnormalised(W, k):
    power = torch.fft.rfft(W.double(), dim=0).abs().pow(2).sum(-1)  # no 1/p, no doubling
    return (power.topk(k).values.sum() / W.double().pow(2).sum()).item()


def fft_ortho_without_doubling(W, k):
    power = torch.fft.rfft(W.double(), dim=0, norm="ortho").abs().pow(2).sum(-1)
    return (power.topk(k).values.sum() / power.sum()).item()  # the constant weighs double


def returns_the_top_k_power(W, k):
    return _power(W).topk(k).values.sum().item()  # not divided by the total


REFERENCES = {"ex-grokking-spectrum": (my_norm_fraction_in_top_k,)}
OTHER_RIGHT_ANSWERS = [
    ("ex-grokking-spectrum", (fft_norm_fraction,)),
    ("ex-grokking-spectrum", (loop_norm_fraction,)),
]


def test_the_solution_passes():
    score = check_norm_fraction_in_top_k(my_norm_fraction_in_top_k, verbose=False)
    assert score.passed == score.total == 8


@pytest.mark.parametrize(("label", "fns"), OTHER_RIGHT_ANSWERS)
def test_other_right_answers_pass(label, fns):
    score = check_norm_fraction_in_top_k(*fns, verbose=False)
    assert score.passed == score.total, score.messages


@pytest.mark.parametrize(
    "wrong",
    [
        cos_and_sin_apart,
        forgets_the_constant,
        norm_not_squared,
        fft_unnormalised,
        fft_ortho_without_doubling,
        returns_the_top_k_power,
    ],
)
def test_a_wrong_fraction_is_rejected(wrong):
    score = check_norm_fraction_in_top_k(wrong, verbose=False)
    assert score.passed < score.total, wrong.__name__


def test_the_messages_say_what_is_wrong():
    messages = " ".join(check_norm_fraction_in_top_k(fft_unnormalised, verbose=False).messages)
    assert "cannot hold more than the whole norm" in messages
    messages = " ".join(check_norm_fraction_in_top_k(norm_not_squared, verbose=False).messages)
    assert "off by" in messages
