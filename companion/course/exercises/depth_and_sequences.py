"""Checkers of the chapter "Why depth and long sequences were hard"
(notebooks/02_depth_and_sequences)."""

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
    with torch.enable_grad():  # a learner may call the checker under torch.no_grad()
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
        return (
            f"layer norms differ (max relative error {err:.1e} > {RTOL:.0e}, "
            f"worst at layer {worst})"
        )
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
    a float tensor of shape ``(depth,)``, computed by a hand-written backward pass (no autograd).

    The function is called under ``torch.no_grad()``, so an answer that calls autograd
    (``.backward()`` or ``torch.autograd.grad``) fails: the exercise is the backward recursion."""

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
            with torch.no_grad():  # the exercise is the recursion: autograd raises here
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


WIDTH, BATCH, MAX_DEPTH = 64, 128, 30  # the sigmoid network of the notebook's section 1.1


def _sigmoid_ratio(depth: int, seed: int = 0) -> float:
    """First-layer / last-layer gradient norm of section 1.1's sigmoid network at ``depth``:
    Xavier-uniform float64 weights drawn from ``Generator(seed)``, inputs from ``Generator(1000 +
    seed)``, ``L = 0.5 * sum(h_L ** 2) / batch``, by autograd (the notebook's
    ``layer_gradient_norms(depth, "sigmoid", seed)``)."""
    g = torch.Generator().manual_seed(seed)
    a = math.sqrt(6 / (2 * WIDTH))
    weights = [
        (torch.rand((WIDTH, WIDTH), generator=g, dtype=torch.float64) * 2 - 1) * a
        for _ in range(depth)
    ]
    x = torch.randn(
        BATCH, WIDTH, generator=torch.Generator().manual_seed(1000 + seed), dtype=torch.float64
    )
    norms = _reference_norms(weights, x, "sigmoid")
    return (norms[0] / norms[-1]).item()


def _first_depth_below(threshold: float, ratios: dict[int, float]) -> int:
    """The first depth >= 2 whose ratio is below ``threshold`` (ratios computed on demand)."""
    for depth in range(2, MAX_DEPTH + 1):
        if depth not in ratios:
            ratios[depth] = _sigmoid_ratio(depth)
        if ratios[depth] < threshold:
            return depth
    raise ValueError(f"no depth up to {MAX_DEPTH} is below {threshold}")  # not for our cases


@CHAPTER.exercise(
    "ex-depth-and-sequences-first-depth",
    title="Predict, then measure: the depth that loses 99.9%",
    difficulty="easy",
    names=("my_first_depth_below",),
    references=(),
)
def check_first_depth_below(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-depth-and-sequences-first-depth: ``my_first_depth_below(threshold: float) -> int``.

    The first depth ``L >= 2`` at which the sigmoid network of section 1.1 (width 64, Xavier
    initialisation, seed 0: ``init_weights(L, "sigmoid", seed=0)`` and the batch of 128 inputs
    drawn from ``Generator(1000)``) has a first-layer / last-layer gradient-norm ratio below
    ``threshold``. The public cases include ``threshold = 1e-3``, the chapter's question; the
    grader adds thresholds between the ratios of two consecutive depths."""
    ratios: dict[int, float] = {}

    def case(threshold: float) -> Case:
        def run() -> str | None:
            want = _first_depth_below(threshold, ratios)  # before the learner's call
            got = fn(threshold)
            if isinstance(got, bool) or not isinstance(got, int):
                return f"returned a {type(got).__name__}, not an int (a depth)"
            if got < want:
                return f"depth {got} is too shallow: its ratio is not yet below {threshold:.3g}"
            if got > want:
                return (
                    f"depth {got} is too deep: a shallower network is already below {threshold:.3g}"
                )
            return None

        return f"threshold {threshold:.3g}", run

    cases = [case(t) for t in (1e-1, 1e-2, 1e-3, 1e-5)]
    if (g := hidden_generator()) is not None:  # between the ratios of depths k - 1 and k
        for _ in range(2):
            k = int(torch.randint(3, 13, (1,), generator=g))
            lo, hi = _sigmoid_ratio(k), _sigmoid_ratio(k - 1)
            cases.append(case(math.sqrt(lo * hi) if lo < hi else lo * 1.5))
    return run_cases("ex-depth-and-sequences-first-depth", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-depth-and-sequences-bound", title="The sigmoid bound by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-depth-and-sequences-copy", title="Reverse or copy: change the task", difficulty="hard"
)
CHAPTER.other_exercise("ex-depth-and-sequences-query", title="Move the query", difficulty="hard")
