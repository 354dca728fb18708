"""companion.scaling: the power-law fit L(N) = E + (N_c / N)^alpha, the IsoFLOP vertex, 6ND."""

from __future__ import annotations

import numpy as np
import pytest

from companion.scaling import (
    PowerLawFit,
    fit_power_law,
    isoflop_minimum,
    tokens_for_budget,
    training_flops,
)

N = np.logspace(4, 6, 7)


def law(e: float, n_c: float, alpha: float, n: np.ndarray = N) -> np.ndarray:
    return e + (n_c / n) ** alpha


@pytest.mark.parametrize(
    "e, n_c, alpha",
    [(1.5, 2e4, 0.35), (0.0, 8.8e13, 0.076), (3.0, 1e3, 0.8), (0.7, 5e5, 0.2)],
)
def test_exact_data_is_fitted_exactly(e, n_c, alpha):
    fit = fit_power_law(N, law(e, n_c, alpha))
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert fit.alpha == pytest.approx(alpha, rel=1e-3)
    assert fit.E == pytest.approx(e, abs=1e-3)
    np.testing.assert_allclose(fit.predict(N * 10), law(e, n_c, alpha, N * 10), rtol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_known_parameters_are_recovered_from_noisy_data(seed):
    rng = np.random.default_rng(seed)
    n = np.logspace(3.5, 6.5, 10)
    loss = law(1.2, 3e4, 0.3, n) * (1 + 0.003 * rng.standard_normal(len(n)))
    fit = fit_power_law(n, loss)
    assert fit.alpha == pytest.approx(0.3, abs=0.05)
    assert fit.E == pytest.approx(1.2, abs=0.05)
    assert fit.r2 > 0.99 and fit.n_points == 10
    assert 0 <= fit.E < loss.min()


def test_the_fit_is_not_a_straight_line_in_log_log():
    """With a floor, a line through log L against log N is wrong; the fit finds the floor."""
    loss = law(2.0, 1e4, 0.5)
    slope, _ = np.polyfit(np.log(N), np.log(loss), 1)
    assert -slope < 0.25  # the line's exponent is far from 0.5
    assert fit_power_law(N, loss).alpha == pytest.approx(0.5, rel=1e-3)


def test_predict_and_str():
    fit = PowerLawFit(E=1.0, N_c=1e4, alpha=0.5, r2=0.99, n_points=5)
    np.testing.assert_allclose(fit.predict([1e4, 1e6]), [2.0, 1.1])
    assert fit.predict(1e2).shape == ()
    assert "R^2 = 0.9900" in str(fit) and "5 points" in str(fit)
    with pytest.raises(ValueError, match="N=.*must be positive"):
        fit.predict([1e3, 0.0])


@pytest.mark.parametrize(
    "n, loss, error, message",
    [
        ([1e3, 1e4, 1e5], [3.0, 2.5, 2.2], ValueError, "at least 4 points"),
        ([1e3, 1e4, 1e5, 1e6], [3.0, 2.5, 2.2], ValueError, "as long as N"),
        ([1e3, 0.0, 1e5, 1e6], [3.0, 2.5, 2.2, 2.0], ValueError, "N=.*positive"),
        ([-1e3, 1e4, 1e5, 1e6], [3.0, 2.5, 2.2, 2.0], ValueError, "N=.*positive"),
        ([1e3, 1e4, 1e5, 1e6], [3.0, 2.5, float("nan"), 2.0], ValueError, "L=.*finite"),
        ([1e3, 1e4, 1e5, 1e6], [3.0, 2.5, -2.2, 2.0], ValueError, "L=.*positive"),
        ([1e3, 1e3, 1e5, 1e5], [3.0, 2.9, 2.2, 2.1], ValueError, "3 distinct sizes"),
        ([[1e3, 1e4], [1e5, 1e6]], [3.0, 2.5, 2.2, 2.0], ValueError, "one-dimensional"),
        (["a", "b", "c", "d"], [3.0, 2.5, 2.2, 2.0], TypeError, "sequence of numbers"),
    ],
)
def test_bad_input_is_named(n, loss, error, message):
    with pytest.raises(error, match=message):
        fit_power_law(n, loss)


def test_isoflop_minimum_finds_the_vertex():
    n = np.logspace(4, 6, 5)
    loss = 0.1 * (np.log(n) - np.log(1e5)) ** 2 + 2.0  # a parabola in log N, vertex at 1e5
    assert isoflop_minimum(n, loss) == pytest.approx(1e5, rel=1e-6)
    shifted = 0.1 * (np.log(n) - np.log(3e4)) ** 2 + 2.0  # between grid points
    assert isoflop_minimum(n, shifted) == pytest.approx(3e4, rel=1e-6)


def test_isoflop_minimum_refuses_a_curve_without_minimum():
    n = np.logspace(4, 6, 5)
    with pytest.raises(ValueError, match="no minimum"):
        isoflop_minimum(n, 3.0 - 0.1 * (np.log(n) - np.log(1e5)) ** 2)
    with pytest.raises(ValueError, match="3 distinct sizes"):
        isoflop_minimum([1e4, 1e5], [2.0, 1.9])
    with pytest.raises(ValueError, match="as long as N"):
        isoflop_minimum([1e4, 1e5, 1e6], [2.0, 1.9])


def test_isoflop_minimum_refuses_a_minimum_at_the_edge():
    n = np.logspace(4, 6, 5)
    with pytest.raises(ValueError, match="smallest N"):
        isoflop_minimum(n, np.linspace(2.0, 2.5, 5))  # monotone: the smallest size wins
    with pytest.raises(ValueError, match="largest N"):
        isoflop_minimum(n, np.linspace(2.5, 2.0, 5))
    with pytest.raises(ValueError, match="neighbours"):
        isoflop_minimum(n, 0.1 * (np.log(n) - np.log(1e5)) ** 2 + 2.0, neighbours=0)


def test_isoflop_minimum_is_not_dragged_by_a_far_outlier():
    n = np.logspace(3, 6, 7)  # the minimum, 3e4, lies between the 3rd and 4th grid points
    loss = 0.05 * (np.log(n) - np.log(3e4)) ** 2 + 2.0
    loss[-1] += 1.0  # a huge model on almost no tokens: far worse than the parabola
    assert isoflop_minimum(n, loss) == pytest.approx(3e4, rel=1e-6)  # only the neighbours count
    everything = isoflop_minimum(n, loss, neighbours=10)  # all 7 points: the outlier drags it
    assert not everything == pytest.approx(3e4, rel=0.05)
    shuffled = np.random.default_rng(0).permutation(7)
    assert isoflop_minimum(n[shuffled], loss[shuffled]) == pytest.approx(3e4, rel=1e-6)


def test_flops_and_tokens_are_inverse():
    assert training_flops(1e6, 2e7) == 1.2e14  # 6 N D
    assert tokens_for_budget(1.2e14, 1e6) == pytest.approx(2e7)
    # Chinchilla: 70B parameters on 1.4T tokens is 20 tokens per parameter and 5.9e23 FLOPs
    assert training_flops(70e9, 1.4e12) == pytest.approx(5.88e23)
    with pytest.raises(ValueError, match="N=0"):
        training_flops(0, 10)
    with pytest.raises(TypeError, match="C='1e12'"):
        tokens_for_budget("1e12", 10)
