"""Exercises of the chapter "Backpropagation by hand" (notebooks/01_backprop)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from companion.course.core import Case, Score, case_generator, compare, randn, run_cases
from companion.course.registry import Chapter

CHAPTER = Chapter(1, "backprop")  # notebooks/01_backprop.ipynb

GRAD_ATOL = 1e-6  # float64 throughout; a right answer is ~1e-16 away from autograd's
GRAD_NAMES = ("dW1", "db1", "dW2", "db2")


def mlp_loss(x, y, W1, b1, W2, b2):
    """The chapter's two-layer sigmoid MLP and its loss: mean binary cross-entropy of
    sigma(z2) against y, computed from the logits z2 (N,)."""
    a1 = torch.sigmoid(x @ W1.T + b1)  # (N, hidden)
    z2 = (a1 @ W2.T + b2)[:, 0]  # (N, 1) -> (N,)
    return F.binary_cross_entropy_with_logits(z2, y)


def _autograd_grads(args):
    params = [t.detach().clone().requires_grad_(True) for t in args[2:]]
    x, y = (t.detach().clone() for t in args[:2])
    mlp_loss(x, y, *params).backward()
    return [p.grad for p in params]


def _mlp_case(fn, i: int, n: int, d_in: int, hidden: int, scale: float = 1.0):
    g = case_generator(i)
    x = randn(g, n, d_in)
    y = torch.randint(0, 2, (n,), generator=g).double()
    params = (
        randn(g, hidden, d_in, scale=scale),
        randn(g, hidden, scale=scale),
        randn(g, 1, hidden, scale=scale),
        randn(g, 1, scale=scale),
    )
    args = (x, y, *params)

    def run():
        want = _autograd_grads(args)  # before the learner sees (copies of) the inputs
        with torch.no_grad():  # the exercise is the formulas: autograd's .backward() raises here
            got = fn(*(t.clone() for t in args))
        if not isinstance(got, tuple | list) or len(got) != 4:
            return "must return a tuple of four tensors (dW1, db1, dW2, db2)"
        for name, mine, ref in zip(GRAD_NAMES, got, want, strict=True):
            problem = compare(mine, ref, name, GRAD_ATOL)
            if problem is not None:
                return problem
        return None

    return run


@CHAPTER.exercise(
    "ex-backprop-mlp-backward",
    title="The backward pass of the MLP",
    difficulty="medium",
    names=("my_mlp_backward",),
    references=(),
)
def check_mlp_backward(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-backprop-mlp-backward: ``mlp_backward(x, y, W1, b1, W2, b2) -> (dW1, db1, dW2, db2)``,
    the gradients of the chapter's loss L = mean over the batch of the binary cross-entropy of
    sigma(z2) against y, where z1 = x W1^T + b1, a1 = sigma(z1), z2 = a1 W2^T + b2.

    Shapes (float64 tensors): x (N, d_in), y (N,) of 0.0 and 1.0, W1 (hidden, d_in), b1 (hidden,),
    W2 (1, hidden), b2 (1,) (one output unit); each gradient has its parameter's shape. Compared
    with autograd's to 1e-6. The function is called under ``torch.no_grad()``, so an answer that
    calls ``.backward()`` or ``torch.autograd.grad`` fails with the error autograd raises. It
    cannot tell an answer that switches autograd back on (``torch.enable_grad()``) or uses
    ``torch.func.grad`` (a function transform, which ignores an outer ``no_grad``) from the
    formulas. The grader's kernel runs the call in the checker's grad mode,
    so the same holds when grading. The public cases draw their numbers from
    case_generator(i), so the grader's seed changes them all."""
    sizes = [  # (what, n, d_in, hidden, scale)
        ("XOR-sized: N 4, d_in 2, hidden 2", 4, 2, 2, 1.0),
        ("one example: N 1, d_in 3, hidden 5", 1, 3, 5, 1.0),
        ("N 8, d_in 5, hidden 3", 8, 5, 3, 1.0),
        ("square weights: N 6, d_in 4, hidden 4", 6, 4, 4, 1.0),
        ("large weights (saturated units): N 10, d_in 3, hidden 6", 10, 3, 6, 4.0),
        ("N 32, d_in 7, hidden 16", 32, 7, 16, 0.5),
    ]
    cases: list[Case] = [
        (what, _mlp_case(fn, i, n, d, h, s)) for i, (what, n, d, h, s) in enumerate(sizes)
    ]
    g = case_generator(len(sizes))  # random sizes: new under the grader's seed
    for j in range(2):
        n, d, h = (
            int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in [(1, 40), (1, 9), (1, 17)]
        )
        cases.append((f"random: N {n}, d_in {d}, hidden {h}", _mlp_case(fn, 100 + j, n, d, h)))
    return run_cases("ex-backprop-mlp-backward", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-backprop-by-hand", title="A graph by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-backprop-predict", title="Predict the cost of a Jacobian", difficulty="medium"
)
CHAPTER.other_exercise("ex-backprop-change", title="Two hidden units, or four", difficulty="hard")
