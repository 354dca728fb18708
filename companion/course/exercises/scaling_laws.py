"""Exercises of the chapter "Scaling laws: smooth at scale" (notebooks/53_scaling_laws)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.scaling import fit_power_law

CHAPTER = Chapter(53, "scaling_laws")  # notebooks/53_scaling_laws.ipynb

NOISE = 0.002  # relative noise on the hidden losses
RMS_SLACK = 2.0  # a fit may miss the data by at most 2x the reference fit's RMS error (+ 1e-3)
ALPHA_RTOL = 0.15  # and its alpha may differ from the reference's by 15%
E_ATOL = 0.05  # and its E by 0.05 nats


def _law(g, *, e: float | None = None, points: int | None = None):
    """A known law ``(N, L)`` drawn from generator ``g``: ``points`` sizes over 2 to 3 decades,
    ``E`` in [0.5, 2.5] (or ``e``), alpha in [0.15, 0.7], and a reducible loss at the smallest
    size between 0.5 and 2.5 nats, so that the floor matters; ``NOISE`` relative noise."""
    u = torch.rand(6, generator=g, dtype=torch.float64).tolist()
    start, decades = 3 + 2 * u[0], 2 + u[1]
    n = np.logspace(start, start + decades, points or 6 + int(4 * u[2]))
    alpha = 0.15 + 0.55 * u[3]
    e = 0.5 + 2.0 * u[4] if e is None else e
    reducible = 0.5 + 2.0 * u[5]  # (N_c / N_min)^alpha
    n_c = n[0] * reducible ** (1 / alpha)
    noise = torch.randn(len(n), generator=g, dtype=torch.float64).numpy()
    return n, (e + (n_c / n) ** alpha) * (1 + NOISE * noise)


def _diagnose(got, n: np.ndarray, loss: np.ndarray) -> str | None:
    """What is wrong with ``got = (E, N_c, alpha)`` for the data ``(n, loss)``; None if right."""
    if not isinstance(got, tuple | list | np.ndarray) or len(got) != 3:
        return f"returned {type(got).__name__}, expected a tuple (E, N_c, alpha)"
    try:
        e, n_c, alpha = (float(v) for v in got)
    except (TypeError, ValueError):
        return "the tuple does not hold three numbers (E, N_c, alpha)"
    if not all(math.isfinite(v) for v in (e, n_c, alpha)):
        return "E, N_c or alpha is not finite"
    if n_c <= 0 or alpha <= 0:
        return f"N_c and alpha must be positive (got N_c {n_c:.3g}, alpha {alpha:.3g})"
    ref = fit_power_law(n, loss)
    rms = float(np.sqrt(np.mean(((e + (n_c / n) ** alpha) / loss - 1) ** 2)))
    ref_rms = float(np.sqrt(np.mean((ref.predict(n) / loss - 1) ** 2)))
    if not rms <= RMS_SLACK * ref_rms + 1e-3:
        return (
            f"E + (N_c / N)^alpha misses the data by {rms:.2%} RMS, a good fit by {ref_rms:.2%}: "
            "is the floor E fitted (not assumed 0 or guessed), and N_c / N the right way up?"
        )
    if abs(alpha - ref.alpha) > ALPHA_RTOL * ref.alpha:
        return f"alpha is more than {ALPHA_RTOL:.0%} away from a good fit's"
    if abs(e - ref.E) > E_ATOL:
        return f"E is more than {E_ATOL} nats away from a good fit's"
    return None


@CHAPTER.exercise(
    "ex-scaling-laws-fit",
    title="Fit a power law",
    difficulty="medium",
    names=("my_fit_power_law",),
    references=("companion.scaling.fit_power_law",),
)
def check_fit_power_law(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-scaling-laws-fit: ``fit_power_law(N, L)`` -> ``(E, N_c, alpha)`` for the least-squares
    fit of ``L = E + (N_c / N)^alpha`` to float64 arrays ``N`` and ``L`` of shape ``(n,)``,
    ``n >= 4``; checked on laws with 0.2% noise against companion's fit."""

    def case(n: np.ndarray, loss: np.ndarray):
        def run():
            return _diagnose(fn(n.copy(), loss.copy()), n, loss)

        return run

    specs = [(f"a random law, case {i}", *_law(case_generator(i))) for i in range(1, 5)]
    specs += [
        ("no floor: E = 0", *_law(case_generator(5), e=0.0)),
        ("a large floor: E = 3", *_law(case_generator(6), e=3.0)),
        ("4 points only", *_law(case_generator(7), points=4)),
    ]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        for k in range(2):
            specs.append((f"hidden case {k + 1}", *_law(g)))
    cases: list[Case] = [(what, case(n, loss)) for what, n, loss in specs]
    return run_cases("ex-scaling-laws-fit", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise(
    "ex-scaling-laws-by-hand", title="Scaling arithmetic by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-scaling-laws-predict", title="Predict, then measure: the largest model", difficulty="medium"
)
