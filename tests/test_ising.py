"""companion.ising: the energy of known configurations, Metropolis' acceptance rule and detailed
balance, the ordered state below T_c, seed determinism, the checkerboard, and bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from companion.ising import (
    ONSAGER_TC,
    acceptance_probability,
    checkerboard,
    energy,
    local_field,
    magnetisation,
    metropolis_sweep,
    simulate,
)


def test_onsager_temperature():
    assert ONSAGER_TC == pytest.approx(2.269185314, abs=1e-9)


def test_energy_of_known_configurations():
    L = 4
    up = torch.ones(L, L)
    assert float(energy(up)) == -2 * L * L  # 2 bonds per site, all satisfied
    stripes = torch.ones(L, L)
    stripes[:, 1::2] = -1  # columns alternate: horizontal bonds broken, vertical ones satisfied
    assert float(energy(stripes)) == 0
    neel = 1 - 2 * checkerboard(L)[1].float()  # every bond broken
    assert float(energy(neel)) == 2 * L * L
    one_flipped = up.clone()
    one_flipped[1, 2] = -1  # breaks its 4 bonds: E rises by 2 * 4
    assert float(energy(one_flipped)) == -2 * L * L + 8


def test_energy_matches_a_loop_over_bonds():
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 2, (3, 6, 6), generator=g).float() * 2 - 1
    for lattice, e in zip(s, energy(s), strict=True):
        loop = -sum(
            lattice[i, j] * (lattice[i, (j + 1) % 6] + lattice[(i + 1) % 6, j])
            for i, j in itertools.product(range(6), range(6))
        )
        assert float(e) == float(loop)


def test_flip_energy_change_is_2_s_h():
    g = torch.Generator().manual_seed(1)
    lattice = torch.randint(0, 2, (6, 6), generator=g).float() * 2 - 1
    h = local_field(lattice)
    for i, j in [(0, 0), (2, 3), (5, 5)]:
        flipped = lattice.clone()
        flipped[i, j] *= -1
        assert float(energy(flipped) - energy(lattice)) == float(2 * lattice[i, j] * h[i, j])


def test_acceptance_rule_and_detailed_balance():
    beta = 0.4
    for de in (-8.0, -4.0, 0.0):
        assert float(acceptance_probability(torch.tensor(de), beta)) == 1.0
    for de in (4.0, 8.0):
        a = float(acceptance_probability(torch.tensor(de), beta))
        assert a == pytest.approx(math.exp(-beta * de))
        # detailed balance: w(s) A(s -> s') = w(s') A(s' -> s), w = exp(-beta E), dE = E' - E
        back = float(acceptance_probability(torch.tensor(-de), beta))
        assert 1.0 * a == pytest.approx(math.exp(-beta * de) * back)


def test_checkerboard_colours_have_no_same_colour_neighbour():
    black, white = checkerboard(6)
    assert bool((black ^ white).all())
    assert int(black.sum()) == 18
    assert not bool((black & black.roll(1, 0)).any()) and not bool((black & black.roll(1, 1)).any())


def test_all_up_stays_magnetised_near_zero_temperature():
    s = torch.ones(2, 8, 8)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        metropolis_sweep(s, torch.tensor([1 / 0.1, 1 / 0.5]), g)
    assert bool((magnetisation(s) > 0.99).all())


def test_high_temperature_disorders():
    run = simulate(8, torch.tensor([1.0, 10.0]), sweeps=200, burn_in=50, chains=2, seed=0)
    assert float(run.abs_m[0]) > 0.99
    assert float(run.abs_m[1]) < 0.3
    assert float(run.energy[0]) == pytest.approx(-2.0, abs=0.01)  # ground state: -2 per site
    assert float(run.binder[0]) == pytest.approx(2 / 3, abs=1e-3)


def test_same_seed_same_result_and_another_seed_differs():
    temps = torch.tensor([2.0, 2.3, 2.6])
    a = simulate(8, temps, sweeps=30, burn_in=10, chains=2, seed=3)
    b = simulate(8, temps, sweeps=30, burn_in=10, chains=2, seed=3)
    c = simulate(8, temps, sweeps=30, burn_in=10, chains=2, seed=4)
    assert torch.equal(a.abs_m, b.abs_m) and torch.equal(a.chi, b.chi)
    assert not torch.equal(a.abs_m, c.abs_m)


def test_chi_peaks_near_the_transition_on_a_small_lattice():
    temps = torch.tensor([1.5, 2.3, 3.5])
    run = simulate(8, temps, sweeps=300, burn_in=100, chains=4, seed=0)
    assert run.chi_peak == pytest.approx(2.3)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: checkerboard(5), ValueError, "even"),
        (lambda: checkerboard(0), ValueError, "positive"),
        (lambda: energy(torch.zeros(4, 4)), ValueError, "+1 or -1"),
        (lambda: energy(torch.ones(4, 3)), ValueError, "(..., L, L)"),
        (lambda: energy([[1, 1], [1, 1]]), TypeError, "torch.Tensor"),
        (lambda: simulate(8, torch.tensor([-1.0]), sweeps=1, burn_in=0), ValueError, "> 0"),
        (lambda: simulate(8, torch.tensor([2.0]), sweeps=0, burn_in=0), ValueError, "sweeps"),
        (lambda: simulate(7, torch.tensor([2.0]), sweeps=1, burn_in=0), ValueError, "L=8"),
    ],
)
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


@pytest.mark.slow
def test_gpu_profile_configuration_runs():
    """Chapter 50's gpu profile (never run on a GPU yet): the largest lattice and its grid, 1 sweep."""
    temps = torch.linspace(1.8, 3.0, 49)
    run = simulate(128, temps, sweeps=1, burn_in=0, chains=16, seed=0)
    assert run.abs_m.shape == run.chi.shape == (49,)
    assert bool(torch.isfinite(run.chi).all())
