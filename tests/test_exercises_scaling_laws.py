"""The checker of chapter 53 (companion.course.exercises.scaling_laws): the notebook's power-law
fit gets full marks, and so do a fit by least squares in linear space and a fit by a fine grid
over the floor; the usual shortcuts are rejected. The shared contract is tests/test_course.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import curve_fit

from companion.course.core import hidden_cases
from companion.course.exercises.scaling_laws import check_fit_power_law

# --- the notebook's solution ---------------------------------------------------------------------


def my_fit_power_law(N, L):
    log_n, log_l = np.log(N), np.log(L)

    def model(log_n, e, log_nc, alpha):  # log(E + (N_c / N)^alpha)
        return np.log(e + np.exp(alpha * (log_nc - log_n)))

    best = None
    for e in np.linspace(0, 0.99, 50) * L.min():  # a start: the best straight line of log(L - E)
        slope, intercept = np.polyfit(log_n, np.log(L - e), 1)
        err = (
            ((model(log_n, e, intercept / -slope, -slope) - log_l) ** 2).sum()
            if slope < 0
            else np.inf
        )
        if best is None or err < best[0]:
            best = (err, [e, intercept / -slope, -slope])
    (e, log_nc, alpha), _ = curve_fit(
        model,
        log_n,
        log_l,
        p0=best[1],
        maxfev=20_000,
        bounds=([0, -1e3, 1e-6], [L.min() * (1 - 1e-9), 1e3, 5]),
    )
    return e, math.exp(log_nc), alpha


# --- right answers written differently -----------------------------------------------------------


def linear_space_fit(N, L):
    """Least squares on L itself (not log L), started from the notebook's answer."""
    e0, nc0, a0 = my_fit_power_law(N, L)
    (e, log_nc, alpha), _ = curve_fit(
        lambda n, e, log_nc, a: e + np.exp(a * (log_nc - np.log(n))),
        N,
        L,
        p0=[e0, math.log(nc0), a0],
        bounds=([0, -1e3, 1e-6], [np.inf, 1e3, 5]),  # E >= 0, as the exercise asks
        maxfev=20_000,
    )
    return e, math.exp(log_nc), alpha


def grid_over_the_floor(N, L):
    """No curve_fit: a fine grid over E, a straight line of log(L - E) for each, the best kept."""
    best = None
    for e in np.linspace(0, 0.9999, 4000) * L.min():
        slope, intercept = np.polyfit(np.log(N), np.log(L - e), 1)
        if slope >= 0:
            continue
        fitted = e + np.exp(intercept + slope * np.log(N))
        err = ((np.log(fitted) - np.log(L)) ** 2).sum()
        if best is None or err < best[0]:
            best = (err, (float(e), math.exp(intercept / -slope), -slope))
    return best[1]


# --- wrong answers -------------------------------------------------------------------------------


def straight_line_in_log_log(N, L):
    slope, intercept = np.polyfit(np.log(N), np.log(L), 1)  # assumes E = 0
    return 0.0, math.exp(intercept / -slope), -slope


def linear_space_without_offset(N, L):
    (n_c, alpha), _ = curve_fit(
        lambda n, n_c, a: (n_c / n) ** a,
        N,
        L,
        p0=[N.min(), 0.3],
        bounds=([1e-9, 1e-6], [np.inf, 5]),
        maxfev=20_000,
    )
    return 0.0, n_c, alpha


def n_over_n_c(N, L):
    """Fits (N_c / N)^alpha but reports the constant of (N / c)^-alpha the wrong way up."""
    e, n_c, alpha = my_fit_power_law(N, L)
    return e, 1 / n_c, alpha


def returns_log_n_c(N, L):
    e, n_c, alpha = my_fit_power_law(N, L)
    return e, math.log(n_c), alpha


def guessed_floor(N, L):
    e = 0.9 * L.min()  # not fitted
    slope, intercept = np.polyfit(np.log(N), np.log(L - e), 1)
    return e, math.exp(intercept / -slope), -slope


def log10_intercept(N, L):
    """Fits a line in log10 but converts N_c with exp, as if it were the natural log."""
    e, _, alpha = my_fit_power_law(N, L)
    slope, intercept = np.polyfit(np.log10(N), np.log10(L - e * 0.999), 1)
    return e, math.exp(intercept / alpha), alpha


REFERENCES = {"ex-scaling-laws-fit": (my_fit_power_law,)}
OTHER_RIGHT_ANSWERS = [
    ("ex-scaling-laws-fit", (linear_space_fit,)),
    ("ex-scaling-laws-fit", (grid_over_the_floor,)),
]


def test_the_solution_passes():
    score = check_fit_power_law(my_fit_power_law, verbose=False)
    assert score.passed == score.total == 7


@pytest.mark.parametrize("seed", [None, 1, 2027])
@pytest.mark.parametrize("right", [linear_space_fit, grid_over_the_floor])
def test_other_right_answers_pass_on_hidden_cases_too(right, seed):
    with hidden_cases(seed):
        score = check_fit_power_law(right, verbose=False)
    assert score.passed == score.total, str(score)


@pytest.mark.parametrize(
    "wrong",
    [
        straight_line_in_log_log,
        linear_space_without_offset,
        n_over_n_c,
        returns_log_n_c,
        guessed_floor,
        log10_intercept,
    ],
)
def test_a_wrong_fit_is_rejected(wrong):
    score = check_fit_power_law(wrong, verbose=False)
    assert score.passed <= score.total - 3, f"{wrong.__name__}: {score}"


def test_the_messages_say_what_is_wrong():
    messages = " ".join(check_fit_power_law(straight_line_in_log_log, verbose=False).messages)
    assert "is the floor E fitted" in messages
    messages = " ".join(check_fit_power_law(lambda N, L: (1.0, 2.0), verbose=False).messages)
    assert "expected a tuple (E, N_c, alpha)" in messages
    messages = " ".join(check_fit_power_law(lambda N, L: (1.0, -2.0, 0.3), verbose=False).messages)
    assert "must be positive" in messages
