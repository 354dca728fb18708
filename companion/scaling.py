"""Scaling laws: fit L(N) = E + (N_c / N)^alpha, and the FLOP arithmetic C = 6 N D (chapter 53).

Kaplan et al. (2020) found that a language model's test loss falls as a power law in its number of
non-embedding parameters ``N`` when data and compute do not limit it, ``L(N) = (N_c / N)^alpha_N``
with ``alpha_N ~ 0.076``; Hoffmann et al. (2022) write the loss with an irreducible term ``E``,
``L(N, D) = E + A / N^alpha + B / D^beta``. At a fixed number of tokens ``D`` the second form is

    L(N) = E + (N_c / N)^alpha,        (N_c / N)^alpha = A / N^alpha  with  A = N_c^alpha,

which :func:`fit_power_law` fits. Training a model of ``N`` parameters on ``D`` tokens costs about
``C = 6 N D`` FLOPs (:func:`training_flops`): 2 per weight and token forward, 4 backward.

This module only fits and counts; the models are trained by :mod:`companion.recipes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

from companion import validators as check

__all__ = ["PowerLawFit", "fit_power_law", "isoflop_minimum", "tokens_for_budget", "training_flops"]

MIN_POINTS = 4  # three parameters: a fit through 3 points is exact and says nothing


@dataclass(frozen=True)
class PowerLawFit:
    """``L(N) = E + (N_c / N)^alpha``, fitted to ``n_points`` points with coefficient ``r2``.

    Attributes:
        E: the loss the fit approaches as ``N -> infinity`` (at the data's fixed token count,
            a floor set by the data as well as by the text's entropy).
        N_c: the scale at which the reducible term ``(N_c / N)^alpha`` equals 1 nat.
        alpha: the exponent; the reducible loss falls by ``10^alpha`` for each 10x in ``N``.
        r2: ``1 - SS_res / SS_tot`` of the fitted ``L`` on the data, in linear space.
        n_points: how many ``(N, L)`` points were fitted.
    """

    E: float
    N_c: float
    alpha: float
    r2: float
    n_points: int

    def predict(self, N: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """``E + (N_c / N)^alpha`` for each ``N`` (any shape; returns float64 of that shape)."""
        n = np.asarray(N, dtype=np.float64)
        if not np.all(n > 0):
            raise ValueError(f"N={N!r} must be positive; parameter counts are > 0")
        return self.E + np.exp(self.alpha * (math.log(self.N_c) - np.log(n)))

    def __str__(self) -> str:
        return (
            f"L(N) = {self.E:.3f} + ({self.N_c:.3g} / N)^{self.alpha:.3f}  "
            f"(R^2 = {self.r2:.4f}, {self.n_points} points)"
        )


def _as_positive_array(name: str, values: object) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        check.fail(name, values, "a sequence of numbers", "e.g. a list or a 1-D array", TypeError)
    if array.ndim != 1:
        check.fail(name, values, "one-dimensional", "pass one number per model")
    if not np.all(np.isfinite(array)) or not np.all(array > 0):
        check.fail(name, values, "finite and positive everywhere", "drop the bad points")
    return array


def fit_power_law(N: Sequence[float] | np.ndarray, L: Sequence[float] | np.ndarray) -> PowerLawFit:
    """Least-squares fit of ``L = E + (N_c / N)^alpha`` to points ``(N_i, L_i)``.

    The residuals are taken in log space, ``log L_i - log(E + (N_c / N_i)^alpha)``: every point
    counts by its relative error, so the smallest losses (the largest models, which decide ``E``)
    are not drowned by the largest. The parameters are ``(E, log N_c, alpha)`` with
    ``0 <= E < min L`` and ``0 < alpha <= 5``; the start is the best of a grid over ``E`` on which
    ``log(L - E) = alpha log N_c - alpha log N`` is a straight line.

    Args:
        N: model sizes, ``(n,)`` positive (parameter counts), ``n >= 4``.
        L: their losses, ``(n,)`` positive.

    Raises:
        ValueError: fewer than 4 points, lengths that differ, a non-positive or non-finite value,
            or a fit that does not converge.
        TypeError: values that are not numbers.
    """
    n, loss = _as_positive_array("N", N), _as_positive_array("L", L)
    if len(n) != len(loss):
        check.fail("L", f"{len(loss)} values", f"as long as N ({len(n)} values)", "one L per N")
    if len(n) < MIN_POINTS:
        check.fail(
            "N", f"{len(n)} points", f"at least {MIN_POINTS} points", "3 parameters need more"
        )
    if len(np.unique(n)) < 3:
        check.fail("N", N, "at least 3 distinct sizes", "a curve needs several sizes")
    log_n, log_l, floor = np.log(n), np.log(loss), float(loss.min())

    def log_model(log_n: np.ndarray, e: float, log_nc: float, alpha: float) -> np.ndarray:
        return np.log(e + np.exp(alpha * (log_nc - log_n)))  # log(E + (N_c / N)^alpha)

    p0 = _start(log_n, loss)
    lower, upper = [0.0, -1e3, 1e-6], [floor * (1 - 1e-9), 1e3, 5.0]
    p0 = np.clip(p0, np.add(lower, 1e-9), np.subtract(upper, 1e-9))
    try:
        (e, log_nc, alpha), _ = curve_fit(
            log_model, log_n, log_l, p0=p0, bounds=(lower, upper), maxfev=20_000
        )
    except RuntimeError as exc:  # scipy: "Optimal parameters not found"
        raise ValueError(
            f"the power-law fit did not converge ({exc}); check that L falls with N"
        ) from exc
    fitted = e + np.exp(alpha * (log_nc - log_n))
    ss_res, ss_tot = float(((loss - fitted) ** 2).sum()), float(((loss - loss.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return PowerLawFit(float(e), float(math.exp(log_nc)), float(alpha), r2, len(n))


def _start(log_n: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """``(E, log N_c, alpha)`` to start from: for E on a grid below min L, a straight-line fit of
    ``log(L - E)`` on ``log N`` (slope ``-alpha``, intercept ``alpha log N_c``); the E with the
    smallest squared error in log L wins."""
    best, best_err = np.array([0.0, 0.0, 0.5]), np.inf
    for e in loss.min() * np.linspace(0.0, 0.99, 34):
        slope, intercept = np.polyfit(log_n, np.log(loss - e), 1)
        if slope >= 0:  # not falling: no power law with alpha > 0
            continue
        alpha = -slope
        err = ((np.log(e + np.exp(intercept + slope * log_n)) - np.log(loss)) ** 2).sum()
        if err < best_err:
            best, best_err = np.array([e, intercept / alpha, alpha]), err
    return best


def training_flops(N: float, D: float) -> float:
    """``C = 6 N D``: the FLOPs of training ``N`` parameters on ``D`` tokens (Kaplan et al. 2020).

    Each weight costs 2 FLOPs per token in the forward pass (a multiply and an add) and 4 in the
    backward pass (the gradients of the input and of the weight). Attention's ``QK^T`` and ``AV``
    are left out (see :meth:`companion.models.GPT.flops_per_token` for the count with them).
    """
    check.number("N", N, 0, low_open=True, hint="a parameter count")
    check.number("D", D, 0, low_open=True, hint="a number of training tokens")
    return 6.0 * N * D


def tokens_for_budget(C: float, N: float) -> float:
    """``D = C / (6 N)``: the tokens a budget of ``C`` FLOPs buys a model of ``N`` parameters."""
    check.number("C", C, 0, low_open=True, hint="a FLOP budget, e.g. 1e12")
    check.number("N", N, 0, low_open=True, hint="a parameter count")
    return C / (6.0 * N)


def isoflop_minimum(
    N: Sequence[float] | np.ndarray, L: Sequence[float] | np.ndarray, neighbours: int = 2
) -> float:
    """The loss-minimising size on one IsoFLOP curve: the vertex of a parabola in ``log N``.

    Hoffmann et al. (2022, approach 2) train several sizes ``N_i`` at one budget ``C`` (each on
    ``D_i = C / (6 N_i)`` tokens), fit ``L = a (log N)^2 + b log N + c`` and take its vertex,
    ``N_opt = exp(-b / 2a)``, which may lie between the grid's sizes. The parabola is fitted only
    to the measured minimum and up to ``neighbours`` grid points on each side of it, so that the
    far ends of the curve (tiny models on many tokens, huge ones on almost none) do not drag the
    vertex. It never extrapolates: a minimum at the edge of the grid, or a vertex outside the
    fitted points, is refused.

    Args:
        N: the sizes, ``(n,)`` positive, ``n >= 3``, at least 3 distinct.
        L: their losses at the same budget, ``(n,)``.
        neighbours: grid points kept on each side of the lowest loss, ``>= 1``.

    Raises:
        ValueError: fewer than 3 points, lengths that differ, non-positive values, the lowest
            loss at the smallest or largest ``N`` (the optimum is off the grid), or a parabola
            with no minimum inside the fitted points.
    """
    n, loss = _as_positive_array("N", N), _as_positive_array("L", L)
    if len(n) != len(loss):
        check.fail("L", f"{len(loss)} values", f"as long as N ({len(n)} values)", "one L per N")
    if len(np.unique(n)) < 3:
        check.fail("N", N, "at least 3 distinct sizes", "a parabola needs 3 points")
    check.positive_int("neighbours", neighbours, "grid points on each side of the minimum, e.g. 2")
    order = np.argsort(n)
    n, loss = n[order], loss[order]  # (n,) sorted by size
    best = int(loss.argmin())
    if best in (0, len(n) - 1):
        raise ValueError(
            f"the IsoFLOP curve has no minimum inside the grid: the lowest loss is at the "
            f"{'smallest' if best == 0 else 'largest'} N={n[best]:.4g}, so the optimum is off the "
            "grid; add sizes on that side"
        )
    window = slice(max(best - neighbours, 0), best + neighbours + 1)
    log_n = np.log(n[window])
    a, b, _ = np.polyfit(log_n, loss[window], 2)  # L = a (log N)^2 + b log N + c
    if a <= 0 or not log_n.min() <= -b / (2 * a) <= log_n.max():
        raise ValueError(
            f"the IsoFLOP curve has no minimum inside the fitted points (parabola a={a:.3g}): "
            "the optimum is off the grid; add sizes on the side where the loss is lowest"
        )
    return float(math.exp(-b / (2 * a)))
