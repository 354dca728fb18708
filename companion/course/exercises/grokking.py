"""Exercises of the chapter "Grokking: memorise first, generalise much later" (notebooks/51_grokking)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.grokking import fourier_basis, norm_fraction_in_top_k

CHAPTER = Chapter(51, "grokking")  # notebooks/51_grokking.ipynb

ATOL = 1e-6  # fractions are in [0, 1]; float32 inputs are converted before the sums


def _planted(g: torch.Generator, p: int, d: int, freqs: list[int], constant: float, noise: float):
    """An embedding ``(p, d)`` made of ``freqs`` (random phases and directions), a constant row
    offset of size ``constant`` and Gaussian noise of scale ``noise``."""
    basis = fourier_basis(p)  # (p, p): constant, then cos/sin pairs
    coeff = noise * torch.randn(p, d, generator=g, dtype=torch.float64)  # (p, d)
    coeff[0] += constant * torch.randn(d, generator=g, dtype=torch.float64)
    for k in freqs:
        coeff[2 * k - 1 : 2 * k + 1] += 3 * torch.randn(2, d, generator=g, dtype=torch.float64)
    return basis.T @ coeff  # (p, d): back from frequencies to residues


def _diagnose(got: object, want: float) -> str | None:
    if isinstance(got, Tensor):
        if got.numel() != 1:
            return f"returned a tensor of shape {tuple(got.shape)}, expected one number"
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int | float):
        return f"returned a {type(got).__name__}, expected a float"
    if not math.isfinite(got):
        return f"returned {got}, expected a fraction in [0, 1]"
    if got > 1 + ATOL:
        return (
            f"returned {got:.4f} > 1: the top k cannot hold more than the whole norm (is the "
            "Fourier transform orthonormal, and are squared norms compared with ‖W‖²_F?)"
        )
    if abs(got - want) > ATOL:
        return f"returned {got:.6f}, which is off by {abs(got - want):.1e}"
    return None


@CHAPTER.exercise(
    "ex-grokking-spectrum",
    title="The Fourier spectrum of an embedding",
    difficulty="medium",
    names=("my_norm_fraction_in_top_k",),
    references=("companion.grokking.norm_fraction_in_top_k",),
)
def check_norm_fraction_in_top_k(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-grokking-spectrum: ``norm_fraction_in_top_k(W, k)`` -> a float: the fraction of
    ``‖W‖²_F`` held by the ``k`` largest frequencies of ``W (p, d)`` (``p`` odd), where frequency
    0 is the constant and frequency ``k >= 1`` holds the squared norm of both ``cos(2πkx/p)`` and
    ``sin(2πkx/p)`` components (an orthonormal basis)."""

    def case(W: Tensor, k: int):
        want = norm_fraction_in_top_k(W, k)  # computed before the learner sees W

        def run():
            return _diagnose(fn(W.clone(), k), want)

        return run

    def planted(i, p, d, freqs, constant=0.0, noise=0.1, g=None):
        return _planted(case_generator(i) if g is None else g, p, d, freqs, constant, noise)

    specs = [
        ("p 11: three frequencies only, k 3 holds everything", planted(1, 11, 8, [1, 3, 4], 0, 0), 3),
        ("p 11: random Gaussian W, k 2", planted(2, 11, 5, [], 0, 1.0), 2),
        ("p 59, d 64: five key frequencies with noise, k 5", planted(3, 59, 64, [4, 9, 14, 20, 27]), 5),
        ("p 59: the same, k 3", planted(3, 59, 64, [4, 9, 14, 20, 27]), 3),
        ("p 23: a large constant offset, k 1", planted(4, 23, 16, [2, 7], 6.0), 1),
        ("p 23: a large constant offset, k 3", planted(4, 23, 16, [2, 7], 6.0), 3),
        ("p 97: one frequency and a constant, k 2", planted(5, 97, 32, [41], 2.0, 0.3), 2),
        ("p 113, float32, d 128, k 5", planted(6, 113, 128, [14, 35, 41, 42, 52], 1.0).float(), 5),
    ]  # fmt: skip
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        for n in range(2):
            p = [13, 31, 47, 61][int(torch.randint(4, (1,), generator=g))]
            freqs = torch.randperm((p - 1) // 2, generator=g)[:3].add(1).tolist()
            k = int(torch.randint(1, 5, (1,), generator=g))
            W = planted(0, p, 24, freqs, float(torch.rand(1, generator=g)) * 4, 0.5, g=g)
            specs.append((f"hidden case {n + 1}: p {p}, k {k}", W, k))
    cases: list[Case] = [(what, case(W, k)) for what, W, k in specs]
    return run_cases("ex-grokking-spectrum", cases, verbose)


# The chapter's other exercises: by hand, predict-then-measure.
CHAPTER.other_exercise(
    "ex-grokking-why-cos", title="Why cos(w(a + b − c)) answers a + b mod p", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-grokking-predict", title="Predict, then measure: the training fraction", difficulty="medium"
)
