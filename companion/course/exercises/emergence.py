"""Exercises of the chapter "Emergence: phase transitions and the mirage" (notebooks/50_emergence)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter

CHAPTER = Chapter(50, "emergence")  # notebooks/50_emergence.ipynb

ATOL = 1e-9  # both numbers are exact functions of a bool matrix: float64 round-off only


def _want(correct: Tensor) -> tuple[float, float]:
    per_position = correct.double().mean(0)  # (L,)
    return float(correct.all(1).double().mean()), float(per_position.prod())


def _diagnose(got: object, correct: Tensor) -> str | None:
    """What is wrong with ``got`` for the bool matrix ``correct (n, L)``; None if it is right."""
    if not isinstance(got, tuple | list) or len(got) != 2:
        return "return a pair (exact_match, predicted), two floats"
    try:
        exact, predicted = (float(x) for x in got)
    except (TypeError, ValueError, RuntimeError):
        return "return a pair of numbers (Python floats or 0-d tensors)"
    want_exact, want_predicted = _want(correct)
    if not abs(exact - want_exact) <= ATOL:
        if abs(exact - float(correct.double().mean())) <= ATOL:
            return "exact_match is the share of right digits: it must be the share of answers right in every digit"
        return f"exact_match is {exact:.6f}, not the share of rows whose digits are all right"
    if not abs(predicted - want_predicted) <= ATOL:
        p = float(correct.double().mean())
        if abs(predicted - p ** correct.shape[1]) <= ATOL:
            return (
                "predicted is (mean accuracy)^L: with positions of different accuracy, the "
                "product of each position's accuracy is what independence predicts"
            )
        return f"predicted is {predicted:.6f}, not prod_k p_k over the L positions"
    return None


def _bernoulli(g: torch.Generator, n: int, p: Tensor) -> Tensor:
    """``(n, L)`` independent digits, column ``k`` right with probability ``p[k]``."""
    return torch.rand(n, len(p), generator=g, dtype=torch.float64) < p  # (n, L)


def _carry_chain(g: torch.Generator, n: int, L: int, q: float) -> Tensor:
    """``(n, L)`` correlated errors: once a digit is wrong, every later one is wrong with prob. 0.8."""
    u = torch.rand(n, L, generator=g, dtype=torch.float64)
    correct = torch.ones(n, L, dtype=torch.bool)
    for k in range(L):
        wrong_before = ~correct[:, :k].all(1) if k else torch.zeros(n, dtype=torch.bool)
        correct[:, k] = torch.where(wrong_before, u[:, k] > 0.8, u[:, k] > q)
    return correct


@CHAPTER.exercise(
    "ex-emergence-exact-match",
    title="Exact match from per-digit accuracy",
    difficulty="easy",
    names=("exact_and_predicted",),
    references=("companion.arithmetic.score",),
)
def check_exact_and_predicted(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-emergence-exact-match: ``exact_and_predicted(correct)`` for a bool tensor ``correct
    (n, L)`` (row = one answer, column = one digit position) -> ``(exact_match, predicted)``:
    the share of rows right in every digit, and ``prod_k p_k`` with ``p_k`` the accuracy of
    column ``k`` (what exact match would be if the digits were right independently)."""

    def case(correct: Tensor):
        def run():
            return _diagnose(fn(correct.clone()), correct)

        return run

    def g(i: int) -> torch.Generator:
        return case_generator(i)

    specs = [
        ("3 answers by hand", torch.tensor([[1, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=torch.bool)),
        ("every digit right", torch.ones(4, 5, dtype=torch.bool)),
        ("one position always wrong", torch.tensor([[1, 0], [1, 0], [0, 0]], dtype=torch.bool)),
        ("one answer of 6 digits", torch.tensor([[1, 1, 0, 1, 1, 1]], dtype=torch.bool)),
        ("5 digits, equal accuracies 0.9", _bernoulli(g(1), 2000, torch.full((5,), 0.9))),
        (
            "5 digits, accuracies that differ",
            _bernoulli(g(2), 2000, torch.tensor([0.99, 0.95, 0.7, 0.5, 1.0])),
        ),
        ("8 digits, random accuracies", _bernoulli(g(3), 500, torch.rand(8, generator=g(4)))),
        ("5 digits, errors chained as carries are", _carry_chain(g(5), 2000, 5, 0.1)),
    ]
    if (h := hidden_generator()) is not None:  # grading with the instructor's seed
        for k in range(2):
            L = int(torch.randint(2, 10, (1,), generator=h))
            p = torch.rand(L, generator=h, dtype=torch.float64) * 0.6 + 0.4
            specs.append((f"hidden case {k + 1}, {L} digits", _bernoulli(h, 1000, p)))
    cases: list[Case] = [(what, case(correct)) for what, correct in specs]
    return run_cases("ex-emergence-exact-match", cases, verbose)


# The chapter's other exercises.
CHAPTER.other_exercise("ex-emergence-by-hand", title="Ising energies by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-emergence-weak-strong", title="Weak or strong emergence?", difficulty="medium"
)
