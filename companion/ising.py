"""The 2D Ising model sampled by Metropolis updates on a checkerboard, vectorised in torch (chapter 50).

Spins ``s_i = +-1`` sit on an ``L x L`` square lattice with periodic boundaries; with coupling
``J = 1`` and no field the energy of a configuration is

    E(s) = - sum_<ij> s_i s_j                 (each nearest-neighbour pair counted once)

and at temperature ``T`` (``k_B = 1``, ``beta = 1 / T``) configurations have Boltzmann weight
``exp(-beta E)``. Flipping spin ``i`` changes the energy by ``dE_i = 2 s_i h_i``, ``h_i`` the sum
of its four neighbours, and Metropolis (1953) accepts the flip with probability

    A(s -> s') = min(1, exp(-beta dE)),

which satisfies detailed balance, ``exp(-beta E(s)) A(s -> s') = exp(-beta E(s')) A(s' -> s)``.
The sites of one colour of a checkerboard have no neighbour of the same colour, so all of them
can be updated at once: a sweep is two such half-updates, and many chains (one per temperature,
several per temperature) run side by side in one tensor ``(chains, L, L)``.

On the infinite lattice the transition is at ``T_c = 2 / ln(1 + sqrt 2) = 2.269...`` (Kramers and
Wannier 1941, by duality; Onsager 1944 solved the model exactly). A finite lattice has no sharp
transition; its susceptibility peaks at a temperature that approaches ``T_c`` as ``1 / L``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor

from companion import validators as check

__all__ = [
    "ONSAGER_TC",
    "IsingRun",
    "acceptance_probability",
    "checkerboard",
    "energy",
    "local_field",
    "magnetisation",
    "metropolis_sweep",
    "simulate",
]

ONSAGER_TC = 2 / math.log(1 + math.sqrt(2))  # 2.2691853...


def _check_spins(spins: Tensor) -> None:
    if not isinstance(spins, Tensor):
        check.fail("spins", type(spins).__name__, "a torch.Tensor of +-1", error=TypeError)
    if spins.ndim < 2 or spins.shape[-1] != spins.shape[-2] or spins.shape[-1] < 2:
        check.fail(
            "spins",
            tuple(spins.shape),
            "shaped (..., L, L) with L >= 2",
            "e.g. torch.ones(8, 8) for one 8 x 8 lattice",
        )
    if not bool(((spins == 1) | (spins == -1)).all()):
        check.fail("spins", "a tensor with values other than +-1", "+1 or -1 everywhere")


def local_field(spins: Tensor) -> Tensor:
    """``h_i = sum`` of the four neighbours of each site, periodic boundaries; same shape as ``spins``
    ``(..., L, L)``."""
    return (
        spins.roll(1, -1) + spins.roll(-1, -1) + spins.roll(1, -2) + spins.roll(-1, -2)
    )  # (..., L, L)


def energy(spins: Tensor) -> Tensor:
    """``E(s) = -sum_<ij> s_i s_j`` of each lattice in ``spins (..., L, L)`` -> ``(...)``.

    Each bond is counted once: the right and the lower neighbour of every site.
    """
    _check_spins(spins)
    s = spins.float()
    bonds = s * s.roll(-1, -1) + s * s.roll(-1, -2)  # (..., L, L): right and down bonds
    return -bonds.sum((-2, -1))


def magnetisation(spins: Tensor) -> Tensor:
    """``m = (1 / L^2) sum_i s_i`` of each lattice in ``spins (..., L, L)`` -> ``(...)``."""
    _check_spins(spins)
    return spins.float().mean((-2, -1))


def acceptance_probability(delta_e: Tensor, beta: Tensor | float) -> Tensor:
    """Metropolis' ``A = min(1, exp(-beta dE))`` for energy changes ``delta_e`` (broadcasts)."""
    return torch.exp(-beta * delta_e).clamp(max=1.0)


def checkerboard(L: int) -> Tensor:
    """The two colours of an ``L x L`` checkerboard, a bool tensor ``(colours, L, L)`` with
    ``colours = 2`` (black, then white); ``L`` must be even
    (with periodic boundaries an odd ``L`` puts two sites of one colour side by side)."""
    check.positive_int("L", L)
    if L % 2:
        check.fail("L", L, "an even int >= 2", f"use L={L + 1}")
    i = torch.arange(L)
    black = (i[:, None] + i[None, :]) % 2 == 0  # (L, L)
    return torch.stack([black, ~black])  # (2, L, L)


def metropolis_sweep(spins: Tensor, beta: Tensor, generator: torch.Generator) -> Tensor:
    """One Metropolis sweep of every chain: the black sites, then the white ones.

    Args:
        spins: ``(chains, L, L)`` of +-1 (float), updated in place and returned.
        beta: ``(chains,)`` inverse temperatures, one per chain.
        generator: the only source of randomness (a CPU generator for CPU spins).
    """
    for colour in checkerboard(spins.shape[-1]).to(spins.device):  # (L, L) each
        delta_e = 2 * spins * local_field(spins)  # (chains, L, L)
        accept = acceptance_probability(delta_e, beta[:, None, None])  # (chains, L, L)
        u = torch.rand(spins.shape, generator=generator, device=spins.device)
        flip = (u < accept) & colour  # (chains, L, L)
        spins.mul_(1 - 2 * flip.float())  # s_i -> -s_i where flipped
    return spins


@dataclass
class IsingRun:
    """Averages over the measured sweeps of :func:`simulate`, one value per temperature ``(n_T,)``.

    ``abs_m`` = <|m|>; ``chi`` = beta L^2 (<m^2> - <|m|>^2), the susceptibility (with |m|, as for
    a finite lattice without a field, where <m> = 0 by symmetry); ``energy`` = <E> / L^2;
    ``binder`` = 1 - <m^4> / (3 <m^2>^2), Binder's cumulant (2/3 when ordered, 0 when disordered).
    """

    L: int
    temperatures: Tensor
    abs_m: Tensor
    chi: Tensor
    energy: Tensor
    binder: Tensor

    @property
    def chi_peak(self) -> float:
        """The temperature of the largest susceptibility: this lattice's transition temperature."""
        return float(self.temperatures[self.chi.argmax()])


def simulate(
    L: int,
    temperatures: Tensor,
    *,
    sweeps: int,
    burn_in: int,
    chains: int = 1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> IsingRun:
    """Sample the ``L x L`` Ising model at each temperature and average the observables.

    Each of the ``chains`` chains per temperature starts from all spins up (ordered: at low
    temperature it stays in equilibrium from the start; above ``T_c`` it melts during the
    burn-in), runs ``burn_in`` sweeps that are discarded and ``sweeps`` that are measured.
    All ``n_T * chains`` chains run at once. The same arguments always give the same result.

    Args:
        L: the side of the lattice, even.
        temperatures: ``(n_T,)`` positive temperatures.
        sweeps: measured sweeps (every one is measured).
        burn_in: sweeps discarded first.
        chains: independent chains per temperature.
        seed: seeds the generator of every random number used.
        device: where to run; ``None`` for the CPU.
    """
    checkerboard(L)  # validates L
    for name, value in (("sweeps", sweeps), ("chains", chains)):
        check.positive_int(name, value)
    check.nonnegative_int("burn_in", burn_in)
    check.nonnegative_int("seed", seed)
    temperatures = torch.as_tensor(temperatures, dtype=torch.float32).reshape(-1)
    if temperatures.numel() == 0 or not bool((temperatures > 0).all()):
        check.fail("temperatures", temperatures.tolist(), "a non-empty list of numbers > 0")
    n_t = temperatures.numel()
    generator = torch.Generator(device or "cpu").manual_seed(seed)
    beta = (1 / temperatures).repeat_interleave(chains).to(device)  # (n_T * chains,)
    spins = torch.ones(n_t * chains, L, L, device=device)  # (n_T * chains, L, L)
    for _ in range(burn_in):
        metropolis_sweep(spins, beta, generator)
    m = torch.empty(sweeps, n_t * chains, device=device)
    e = torch.empty(sweeps, n_t * chains, device=device)
    for t in range(sweeps):
        metropolis_sweep(spins, beta, generator)
        m[t] = spins.mean((-2, -1))
        e[t] = -(spins * (spins.roll(-1, -1) + spins.roll(-1, -2))).sum((-2, -1))  # = energy(spins)
    m = rearrange(m, "s (t c) -> t (s c)", c=chains)  # (n_T, sweeps * chains)
    e = rearrange(e, "s (t c) -> t (s c)", c=chains)  # (n_T, sweeps * chains)
    m, e = m.double().cpu(), e.double().cpu()
    abs_m, m2, m4 = m.abs().mean(1), (m**2).mean(1), (m**4).mean(1)  # (n_T,) each
    chi = L * L * (m2 - abs_m**2) / temperatures.double()
    return IsingRun(
        L,
        temperatures.cpu(),
        abs_m.float(),
        chi.float(),
        (e.mean(1) / (L * L)).float(),
        (1 - m4 / (3 * m2**2)).float(),
    )
