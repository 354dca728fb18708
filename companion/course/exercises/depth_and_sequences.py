"""Checkers of the chapter "Why depth and long sequences were hard" (notebooks/02_depth_and_sequences)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter

CHAPTER = Chapter(2, "depth_and_sequences")  # notebooks/02_depth_and_sequences.ipynb

ACTIVATIONS = ("sigmoid", "tanh", "relu")
RTOL = 1e-6  # relative tolerance per layer; the cases are float64


def _reference_norms(weights: list[Tensor], x: Tensor, activation: str) -> Tensor:
    """||dL/dW_l||_F for l = 1..depth by autograd, L = 0.5 * sum(h_L ** 2) / batch."""
    phi = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    ws = [w.detach().clone().requires_grad_() for w in weights]
    h = x.detach().clone()
    for w in ws:
        h = phi(h @ w.T)  # (batch, width)
    loss = 0.5 * (h**2).sum() / x.shape[0]
    grads = torch.autograd.grad(loss, ws)
    return torch.stack([g.norm() for g in grads])  # (depth,)


def _compare_relative(got: object, want: Tensor) -> str | None:
    """None if ``got`` equals ``want`` to RTOL relative error per entry; never shows ``want``."""
    if not isinstance(got, Tensor):
        return f"the result is a {type(got).__name__}, not a torch.Tensor"
    if tuple(got.shape) != tuple(want.shape):
        return f"the result has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    if not got.is_floating_point():
        return f"the result has dtype {got.dtype}, expected a floating-point tensor"
    got = got.detach().cpu().double()
    if not torch.isfinite(got).all():
        return "the result contains NaN or infinity"
    err = ((got - want).abs() / want.abs().clamp_min(1e-300)).max().item()
    if not err <= RTOL:
        worst = int(((got - want).abs() / want.abs().clamp_min(1e-300)).argmax()) + 1
        return f"layer norms differ (max relative error {err:.1e} > {RTOL:.0e}, worst at layer {worst})"
    return None


@CHAPTER.exercise(
    "ex-depth-and-sequences-backward",
    title="Layer gradient norms by hand",
    difficulty="medium",
    names=("my_layer_gradient_norms",),
    references=(),
)
def check_layer_gradient_norms(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-depth-and-sequences-backward: ``layer_gradient_norms(weights, x, activation)``.

    ``weights``: a list of ``depth`` float64 tensors ``W_l`` of shape ``(width, width)``; ``x``:
    float64 ``(batch, width)``; ``activation``: ``"sigmoid"``, ``"tanh"`` or ``"relu"``. The net
    is ``h_0 = x``, ``h_l = phi(h_{l-1} W_l^T)`` without biases, the loss ``L = 0.5 *
    sum(h_depth ** 2) / batch``. Returns the Frobenius norms ``||dL/dW_l||`` for ``l = 1..depth``,
    a float tensor of shape ``(depth,)``, computed by a hand-written backward pass (no autograd)."""

    def case(i: int, depth: int, width: int, batch: int, activation: str) -> Case:
        g = case_generator(i)
        scale = math.sqrt(3.0 / width)  # Glorot/He-like scales keep the norms in float range
        weights = [
            (torch.rand(width, width, generator=g, dtype=torch.float64) * 2 - 1) * scale * 1.5
            for _ in range(depth)
        ]
        x = torch.randn(batch, width, generator=g, dtype=torch.float64)
        want = _reference_norms(weights, x, activation)  # before the learner sees the inputs

        def run() -> str | None:
            got = fn([w.clone() for w in weights], x.clone(), activation)
            return _compare_relative(got, want)

        return f"{activation}, depth {depth}, width {width}, batch {batch}", run

    shapes = [
        (1, 3, 2, "sigmoid"),
        (2, 4, 5, "sigmoid"),
        (6, 8, 4, "sigmoid"),
        (3, 5, 3, "tanh"),
        (5, 6, 7, "relu"),
        (12, 16, 8, "sigmoid"),
        (4, 3, 1, "relu"),
    ]
    cases = [case(i, *shape) for i, shape in enumerate(shapes)]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        for j, activation in enumerate(ACTIVATIONS):
            depth, width, batch = (
                int(torch.randint(lo, hi, (1,), generator=g))
                for lo, hi in ((1, 15), (2, 20), (1, 9))
            )
            cases.append(case(100 + j, depth, width, batch, activation))
    return run_cases("ex-depth-and-sequences-backward", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-depth-and-sequences-bound", title="The sigmoid bound by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-depth-and-sequences-copy", title="Reverse or copy: change the task", difficulty="hard"
)
