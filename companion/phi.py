"""System integrated information φ_s of tiny binary networks (IIT 4.0), and the unfolding argument.

A network of ``n`` binary units is given by its **state-by-node TPM** (transition probability
matrix), an array of shape ``(2**n, n)``: ``tpm[s, i] = P(unit i is ON at t+1 | state s at t)``.
States are indexed little-endian, as in PyPhi: unit ``i`` is bit ``i`` of ``s``, so for three
units row 1 is ``(1, 0, 0)`` and row 4 is ``(0, 0, 1)``. Units are conditionally independent
given the previous state (IIT 4.0's Eq. 2), which is why a column per unit is a whole network.

What is computed: the *system* integrated information ``φ_s`` of a candidate system in a state,
following Albantakis et al. (2023), "Integrated information theory (IIT) 4.0", PLoS Comput Biol
19(10): e1011465, Eqs. 3, 5-9, 12-13 and 16-23 -- **not** the Φ-structure of distinctions and
relations (Eqs. 27 onwards) whose sum IIT calls big Φ. In ibits (log base 2):

* effect repertoire ``p_e(s̄|s)`` (Eq. 3) and its unconstrained version
  ``p_e(s̄) = mean_s p_e(s̄|s)`` (Eq. 6); cause: ``p_c(s|s̄)``, ``p_c(s) = mean_s̄ p_c(s|s̄)``
  (Eq. 8) and the backward probability ``p_c(s̄|s) = p_c(s|s̄) / sum_ŝ p_c(s|ŝ)`` (Eq. 9);
* intrinsic information, selectivity times informativeness (Eqs. 5, 7)::

      ii_e(s, s̄) = p_e(s̄|s) log2(p_e(s̄|s) / p_e(s̄))
      ii_c(s, s̄) = p_c(s̄|s) log2(p_c(s|s̄) / p_c(s))

* the maximal effect and cause states ``s'_e``, ``s'_c`` maximise them (Eqs. 12-13);
* a partition θ cuts connections and replaces each cut input by uniform noise, unit by unit
  (causal marginalisation, Eqs. 17-18): ``p^θ(s̄_j|s) = mean over x in Ω_{X_j} of p(s̄_j|x, y)``,
  ``X_j`` the units whose connections into unit ``j`` are cut;
* integrated information over θ (Eqs. 19-21)::

      φ_e(θ) = p_e(s'_e|s)  |log2(p_e(s'_e|s) / p^θ_e(s'_e|s))|_+
      φ_c(θ) = p_c(s'_c|s)  |log2(p_c(s|s'_c) / p^θ_c(s|s'_c))|_+
      φ_s(θ) = min(φ_c(θ), φ_e(θ))

* the minimum partition θ' minimises ``φ_s(θ) / N(θ)``, with ``N(θ) = sum_i |S^(i)| |X^(i)|``
  the number of connections θ can cut (Eq. 23); ties go to the larger ``φ_s(θ)``, and
  ``φ_s = φ_s(θ')`` (Eq. 22).

Choices, where the paper leaves room or where this module is narrower than the paper:

* **Partitions.** The paper's Θ(S) (Eqs. 14-16) divides S into k >= 2 parts, each cutting its
  inputs, outputs or both. Here k = 2 only: for every bipartition {A, B}, cut A -> B, cut
  B -> A, or both (for k = 2 the paper's nine direction labels reduce to exactly these three
  cuts). Parts k >= 3 are not searched: there are about 10^5 of them for 9 units. Any system
  that is not strongly connected still gets φ_s = 0, because some bipartition then cuts nothing.
  A single unit is cut from itself (PyPhi's convention, which gives a self-looped unit φ_s > 0,
  as the paper's Fig. 1 does for unit a).
* **Background.** Units outside the candidate system are held at their current state, for
  causes as for effects (the conditioning of IIT 3.0 and PyPhi 1). The published Eq. 4 instead
  averages the background's *past* states, weighted by how well each explains the current
  state of the whole; the two agree when the system is the whole network (``units=None``).
* **Ties of states.** If several states tie for maximal ii, each partition is scored with the
  tied state that maximises φ_c (φ_e) (the paper's rule after Eq. 20).
* **No cause.** If no state leads to the current state (``p_c(s) = 0``: the state cannot be
  reached), or ii_c or ii_e is 0, the system has no cause–effect power and φ_s = 0, with
  ``partition=None`` (PyPhi raises on unreachable states instead).

Cross-checks in ``tests/test_phi.py``: hand-derived values for two-unit networks, PyPhi's stored
reference value for its three-unit "basic" network, and zero for feed-forward networks.

The **unfolding argument** (Doerig et al. 2019): any recurrent network run for ``K`` steps can be
rewritten as a feed-forward one with ``K + 1`` layers (:func:`unfold`) that computes the same
map from initial state to final state (:func:`input_output_table`). IIT assigns the feed-forward
one φ_s = 0 in every state and every subset of units, whatever it computes.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from companion import validators as check

__all__ = [
    "MAX_UNITS",
    "Cut",
    "SystemPhi",
    "connectivity",
    "input_output_table",
    "run",
    "state_index",
    "state_of",
    "subsystem_phis",
    "system_phi",
    "tpm_from_rules",
    "trajectory_state",
    "unfold",
]

MAX_UNITS = 10  # φ_s of a system of n units costs about 2**n * 2**n * n floats
_TIE = 1e-12  # two ibit values closer than this are equal (PyPhi compares to 13 digits)

Rule = Callable[[tuple[int, ...]], float]


# ----------------------------------------------------------------------------- networks


def _bits(n: int) -> np.ndarray:
    """(2**n, n) int table: row s holds the states of units 0..n-1 in state s (little-endian)."""
    return (np.arange(2**n)[:, None] >> np.arange(n)) & 1


def state_index(state: Sequence[int]) -> int:
    """The row of ``state`` in a TPM: ``sum_i state[i] * 2**i`` (unit 0 is the lowest bit)."""
    return sum(int(b) << i for i, b in enumerate(state))


def state_of(index: int, n: int) -> tuple[int, ...]:
    """The state of ``n`` units at row ``index``: the inverse of :func:`state_index`."""
    check.positive_int("n", n)
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < 2**n:
        check.fail("index", index, f"an int in [0, {2**n - 1}] (a row of a TPM of {n} units)")
    return tuple((index >> i) & 1 for i in range(n))


def _check_tpm(tpm) -> np.ndarray:
    """``tpm`` as a float64 array of shape (2**n, n) with entries in [0, 1]."""
    if isinstance(tpm, str) or not isinstance(tpm, np.ndarray | list | tuple):
        check.fail("tpm", type(tpm).__name__, "an array of shape (2**n, n)", error=TypeError)
    array = np.asarray(tpm, dtype=float)
    n = array.shape[1] if array.ndim == 2 else 0
    if array.ndim != 2 or n < 1 or array.shape[0] != 2**n:
        check.fail(
            "tpm.shape",
            array.shape,
            "(2**n, n), one row per state and one column per unit",
            "row s, column i is P(unit i ON next | state s), e.g. shape (8, 3) for 3 units",
        )
    if not np.isfinite(array).all() or (array < 0).any() or (array > 1).any():
        bad = array[~(np.isfinite(array) & (array >= 0) & (array <= 1))][0]
        check.fail("tpm entry", float(bad), "a probability in [0, 1]")
    return array


def _check_state(state, n: int, name: str = "state") -> tuple[int, ...]:
    if isinstance(state, str) or not isinstance(state, Sequence | np.ndarray):
        check.fail(name, state, f"a sequence of {n} zeros and ones", error=TypeError)
    if len(state) != n or any(isinstance(b, bool) or b not in (0, 1) for b in state):
        check.fail(name, tuple(state), f"{n} zeros and ones, one per unit", "e.g. (1, 0, 0)")
    return tuple(int(b) for b in state)


def tpm_from_rules(rules: Sequence[Rule]) -> np.ndarray:
    """The TPM, shape (2**n, n), of ``n`` units where unit ``i`` follows ``rules[i]``.

    ``rules[i](state)`` gets the current state as a tuple of ``n`` zeros and ones and returns
    unit ``i``'s next state (0, 1, ``True``, ``False``) or the probability that it is ON:

    >>> tpm_from_rules([lambda s: s[1], lambda s: s[0]])  # two units that swap their states
    array([[0., 0.],
           [0., 1.],
           [1., 0.],
           [1., 1.]])
    """
    if isinstance(rules, str) or not isinstance(rules, Sequence) or not rules:
        check.fail("rules", rules, "a non-empty list of callables, one per unit", error=TypeError)
    n = len(rules)
    if n > 16:
        check.fail("len(rules)", n, "at most 16 units (a TPM has 2**n rows)")
    for i, rule in enumerate(rules):
        if not callable(rule):
            check.fail(f"rules[{i}]", rule, "a callable of the state tuple", error=TypeError)
    tpm = np.empty((2**n, n))
    for s in range(2**n):
        state = state_of(s, n)
        for i, rule in enumerate(rules):
            value = rule(state)
            value = int(value) if isinstance(value, bool | np.bool_) else value
            if isinstance(value, np.integer | np.floating):
                value = value.item()
            tpm[s, i] = check.number(
                f"rules[{i}]{state}", value, 0, 1, hint="return 0, 1 or a probability"
            )
    return tpm


def connectivity(tpm) -> np.ndarray:
    """(n, n) bool matrix, ``cm[i, j]`` True when unit ``j``'s next state depends on unit ``i``.

    Read off the TPM: unit ``i`` feeds unit ``j`` if flipping ``i`` in some state changes
    ``P(j ON next)``. A network is feed-forward when this graph has no directed cycle (and
    no self-loop: ``cm[i, i]`` False).
    """
    tpm = _check_tpm(tpm)
    n = tpm.shape[1]
    rows = np.arange(2**n)
    return np.stack([(tpm[rows ^ (1 << i)] != tpm).any(axis=0) for i in range(n)])


def _check_deterministic(tpm: np.ndarray, name: str = "tpm") -> None:
    if not np.isin(tpm, (0.0, 1.0)).all():
        check.fail(
            name,
            "a probabilistic TPM",
            "deterministic (every entry 0 or 1)",
            "run() samples probabilistic units only when given rng=np.random.default_rng(seed)",
        )


def run(tpm, state: Sequence[int], steps: int, rng: np.random.Generator | None = None):
    """The state after ``steps`` updates from ``state``: a tuple of ``n`` zeros and ones.

    Units whose probability of ON is 0 or 1 update deterministically; any other unit is drawn
    from ``rng``, which is then required.
    """
    tpm = _check_tpm(tpm)
    n = tpm.shape[1]
    state = _check_state(state, n)
    check.nonnegative_int("steps", steps)
    if rng is None:
        _check_deterministic(tpm)
    elif not isinstance(rng, np.random.Generator):
        check.fail("rng", rng, "None or a np.random.Generator", error=TypeError)
    for _ in range(steps):
        p_on = tpm[state_index(state)]  # (n,)
        draw = p_on if rng is None else (rng.random(n) < p_on)
        state = tuple(int(b) for b in draw)
    return state


# ----------------------------------------------------------------------------- unfolding


def unfold(network, steps: int) -> np.ndarray:
    """The feed-forward unfolding over ``steps`` steps of a recurrent network: a TPM of
    ``(steps + 1) * n`` units, shape ``(2**((steps + 1) * n), (steps + 1) * n)``.

    ``network`` is a TPM of shape (2**n, n) or a list of rules (see :func:`tpm_from_rules`).
    Unit ``k * n + i`` is unit ``i`` of layer ``k``. Layer 0 holds the initial state and has no
    inputs inside the network: each of its units turns ON with probability 1/2 (whatever sets
    the initial state comes from outside). Unit ``i`` of layer ``k + 1`` applies unit ``i``'s
    rule to layer ``k``. No connection goes backwards or stays in a layer, so the unfolding is
    feed-forward (Doerig et al. 2019's unfolding argument).
    """
    rules = isinstance(network, Sequence) and network and all(map(callable, network))
    tpm = tpm_from_rules(network) if rules else _check_tpm(network)
    n = tpm.shape[1]
    check.positive_int("steps", steps)
    units = (steps + 1) * n
    if units > 16:
        hint = f"use steps <= {16 // n - 1}" if n <= 8 else "unfold at most 8 units"
        check.fail("(steps + 1) * n", units, "at most 16 units", hint)
    s = np.arange(2**units)
    layers = [(s >> (k * n)) & (2**n - 1) for k in range(steps)]  # state index of each layer
    columns = [np.full((2**units, n), 0.5)] + [tpm[layer] for layer in layers]
    return np.concatenate(columns, axis=1)


def trajectory_state(tpm, initial: Sequence[int], steps: int) -> tuple[int, ...]:
    """The state of :func:`unfold` ``(tpm, steps)`` whose layer ``k`` holds the recurrent
    network's state after ``k`` steps from ``initial``: ``(x, f(x), ..., f^steps(x))``.

    It is the state in which the unfolded network shows the whole run, and each layer
    ``k >= 1`` is what layer ``k - 1`` produces.
    """
    tpm = _check_tpm(tpm)
    _check_deterministic(tpm)
    state = _check_state(initial, tpm.shape[1], "initial")
    check.positive_int("steps", steps)
    layers = [state]
    for _ in range(steps):
        layers.append(run(tpm, layers[-1], 1))
    return tuple(b for layer in layers for b in layer)


def input_output_table(tpm, steps: int, seed: int = 0) -> list[tuple[tuple[int, ...], ...]]:
    """Run the recurrent network and its unfolding from every initial state, side by side.

    Returns one row ``(initial, recurrent_final, unfolded_final)`` per initial state, in row
    order: ``recurrent_final`` is :func:`run` for ``steps`` steps; ``unfolded_final`` is the
    last layer of :func:`unfold` ``(tpm, steps)`` after ``steps`` steps, started with layer 0
    at ``initial`` and the other layers OFF (its noisy layer 0 is drawn from ``seed``; what it
    draws never reaches the last layer in time). The two final states agree on every row when
    the unfolding computes the same function.
    """
    tpm = _check_tpm(tpm)
    _check_deterministic(tpm)
    check.positive_int("steps", steps)
    check.nonnegative_int("seed", seed)
    n = tpm.shape[1]
    unfolded = unfold(tpm, steps)
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(2**n):
        initial = state_of(s, n)
        start = initial + (0,) * (steps * n)
        final = run(unfolded, start, steps, rng=rng)
        rows.append((initial, run(tpm, initial, steps), final[steps * n :]))
    return rows


# ----------------------------------------------------------------------------- φ_s


@dataclass(frozen=True)
class Cut:
    """A directional bipartition: the connections from ``sources`` into ``targets`` are cut
    (and from ``targets`` into ``sources`` too when ``bidirectional``). Unit indices are the
    network's. A single unit's cut has ``sources == targets``: its connection to itself."""

    sources: tuple[int, ...]
    targets: tuple[int, ...]
    bidirectional: bool = False

    def __str__(self) -> str:
        def name(units):
            return "{" + ",".join(map(str, units)) + "}"

        arrow = "<->" if self.bidirectional else "->"
        return f"{name(self.sources)} {arrow} {name(self.targets)}"


@dataclass(frozen=True)
class SystemPhi:
    """The system integrated information of ``units`` in ``state`` (all in ibits).

    Attributes:
        phi: φ_s = min(phi_cause, phi_effect) over the minimum partition (Eqs. 21-23).
        partition: the minimum partition θ', or None when the system has no cause or no effect
            (then every φ is 0).
        phi_cause, phi_effect: φ_c and φ_e over θ' (Eqs. 19-20).
        ii_cause, ii_effect: intrinsic information of the maximal cause / effect state
            (Eq. 13); 0 when there is no cause.
        cause_state, effect_state: s'_c and s'_e, states of ``units`` in their order; the
            cause state is None when no state leads to ``state`` (it is unreachable).
        units: the system's units (sorted); state: their current states.
    """

    phi: float
    partition: Cut | None
    phi_cause: float
    phi_effect: float
    ii_cause: float
    ii_effect: float
    cause_state: tuple[int, ...] | None
    effect_state: tuple[int, ...]
    units: tuple[int, ...]
    state: tuple[int, ...]


def _check_units(units, n: int) -> tuple[int, ...]:
    if units is None:
        units = tuple(range(n))
    if isinstance(units, str) or not isinstance(units, Sequence):
        check.fail("units", units, f"a sequence of unit indices in 0..{n - 1}", error=TypeError)
    for u in units:
        if isinstance(u, bool) or not isinstance(u, int | np.integer):
            check.fail("units", tuple(units), "unit indices (ints)", error=TypeError)
    if not units or len(set(units)) != len(units) or not all(0 <= u < n for u in units):
        check.fail("units", tuple(units), f"distinct unit indices in 0..{n - 1}, at least one")
    if len(units) > MAX_UNITS:
        check.fail("len(units)", len(units), f"at most {MAX_UNITS}", "pass a subset as units=")
    return tuple(sorted(int(u) for u in units))


def _system_tpm(tpm: np.ndarray, state: tuple[int, ...], units: tuple[int, ...]) -> np.ndarray:
    """(2**m, m): the TPM of ``units`` with every other unit held at its current state."""
    background = sum(b << i for i, b in enumerate(state) if i not in units)
    rows = background + sum(_bits(len(units))[:, k] << u for k, u in enumerate(units))
    return tpm[np.ix_(rows, units)]


def _transition_matrix(p_on: np.ndarray) -> np.ndarray:
    """(2**m, 2**m) state-by-state TPM ``T[s, s̄] = prod_j p(s̄_j | s)`` (Eq. 2) from the
    (2**m, m) state-by-node one."""
    bits = _bits(p_on.shape[1]).astype(bool)
    T = np.ones((len(p_on), len(p_on)))
    for j in range(p_on.shape[1]):
        T *= np.where(bits[None, :, j], p_on[:, None, j], 1 - p_on[:, None, j])
    return T


def _intrinsic_information(p: np.ndarray, selectivity: np.ndarray, chance: np.ndarray):
    """Eqs. 5/7: ``selectivity * log2(p / chance)``, 0 where ``p`` is 0. Shapes (2**m,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, selectivity * np.log2(p / chance), 0.0)


@functools.cache
def _cuts(m: int) -> tuple[list[tuple[int, int, bool]], np.ndarray]:
    """Every directional bipartition of ``m`` units and, per cut and unit ``j``, the bitmask of
    the units whose connections into ``j`` it cuts: shapes (cuts,) and (cuts, m).

    A cut is ``(A, B, both)`` as bitmasks: A -> B cut, and B -> A too if ``both``.
    """
    full, cuts, masks = 2**m - 1, [], []
    if m == 1:  # a single unit: cut its connection to itself
        cuts, masks = [(1, 1, False)], [[1]]
    for a in range(1, full):
        b = full ^ a
        into = [(a if (b >> j) & 1 else 0) for j in range(m)]  # A -> B: B's inputs from A
        cuts.append((a, b, False))
        masks.append(into)
        if a < b:  # each unordered bipartition once for the bidirectional cut
            cuts.append((a, b, True))
            masks.append([a if (b >> j) & 1 else b for j in range(m)])  # and A's from B
    masks = np.array(masks)
    masks.flags.writeable = False  # cached: shared by every call
    return cuts, masks


def _marginal_on(p_on: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(2**m, len(rows), m): ``out[X, r, j]`` = P(unit j ON | state rows[r]) with the units in
    bitmask X replaced by uniform noise (causal marginalisation, Eq. 18).

    That is the mean of ``p_on[rows[r] ^ d, j]`` over the flips ``d`` inside X, a sum over the
    subsets of X for every X at once: the subset-sum (zeta) transform, one pass per unit.
    """
    m = p_on.shape[1]
    flips = np.arange(2**m)
    total = p_on[rows[:, None] ^ flips[None, :]]  # (len(rows), 2**m, m), indexed by flip d
    for i in range(m):
        with_i = flips[(flips >> i) & 1 == 1]
        total[:, with_i] += total[:, with_i ^ (1 << i)]  # now summed over flips of unit i too
    size = _bits(m).sum(axis=1)  # |X| for each bitmask X
    return (total / 2.0 ** size[None, :, None]).transpose(1, 0, 2)


def _partitioned(on: np.ndarray, masks: np.ndarray, row: np.ndarray, target: np.ndarray):
    """(cuts, len(row)): ``p^θ(target | rows[row])`` for each cut θ (Eqs. 17-18); ``on`` from
    :func:`_marginal_on`, ``target`` a (len(row), m) or (m,) array of unit states."""
    m = masks.shape[1]
    p = on[masks[:, None, :], row[None, :, None], np.arange(m)]  # (cuts, len(row), m)
    return np.where(target.astype(bool), p, 1 - p).prod(axis=-1)


def _integration(p: np.ndarray, selectivity: np.ndarray, p_cut: np.ndarray) -> np.ndarray:
    """Eqs. 19-20: ``selectivity * |log2(p / p_cut)|_+``, shape of ``p_cut``."""
    return selectivity * np.maximum(np.log2(p / p_cut), 0.0)


def system_phi(tpm, state: Sequence[int], units: Sequence[int] | None = None) -> SystemPhi:
    """φ_s of the system ``units`` (default: all units) of the network ``tpm`` in ``state``.

    ``tpm`` has shape (2**n, n); ``state`` gives all ``n`` units (the units outside ``units``
    are background conditions held at their state). See the module docstring for the
    equations and the choices made. At most :data:`MAX_UNITS` units; 9 units take a few
    hundredths of a second.
    """
    tpm = _check_tpm(tpm)
    n = tpm.shape[1]
    state = _check_state(state, n)
    units = _check_units(units, n)
    m = len(units)
    s = state_index([state[u] for u in units])
    p_on = _system_tpm(tpm, state, units)  # (2**m, m)
    T = _transition_matrix(p_on)  # (2**m, 2**m): T[s, s̄] = p(s̄ | s)
    bits = _bits(m)
    # Effect side, Eqs. 3, 5, 6, 12-13
    p_e = T[s]
    ii_e = _intrinsic_information(p_e, p_e, T.mean(axis=0))
    # Cause side, Eqs. 7-9: p_c(s | s̄) over past states s̄, Bayes with a uniform prior
    p_c = T[:, s]
    reachable = p_c.sum() > 0
    backward = p_c / p_c.sum() if reachable else p_c
    ii_c = _intrinsic_information(p_c, backward, p_c.mean()) if reachable else np.zeros(2**m)
    effect_ties = np.flatnonzero(ii_e >= ii_e.max() - _TIE)
    cause_ties = np.flatnonzero(ii_c >= ii_c.max() - _TIE)
    null = dict(
        phi=0.0,
        partition=None,
        phi_cause=0.0,
        phi_effect=0.0,
        ii_cause=float(ii_c.max()),
        ii_effect=float(ii_e.max()),
        cause_state=state_of(int(cause_ties[0]), m) if reachable else None,
        effect_state=state_of(int(effect_ties[0]), m),
        units=units,
        state=tuple(state[u] for u in units),
    )
    if not reachable or ii_c.max() <= _TIE or ii_e.max() <= _TIE:
        return SystemPhi(**null)
    cuts, masks = _cuts(m)
    on = _marginal_on(p_on, np.concatenate([[s], cause_ties]))
    # φ_e(θ) for each tied effect state (Eq. 19): the current state s is row 0 of `on`
    p_e_cut = _partitioned(on, masks, np.zeros(len(effect_ties), int), bits[effect_ties])
    phi_e = _integration(p_e[effect_ties], p_e[effect_ties], p_e_cut)  # (cuts, ties)
    # φ_c(θ) for each tied cause state (Eq. 20): p^θ(s | s̄) with s̄ at rows 1.. of `on`
    p_c_cut = _partitioned(on, masks, np.arange(1, len(cause_ties) + 1), bits[s])
    phi_c = _integration(p_c[cause_ties], backward[cause_ties], p_c_cut)
    best_e, best_c = phi_e.argmax(axis=1), phi_c.argmax(axis=1)  # tied states: the max φ
    phi_e, phi_c = phi_e.max(axis=1), phi_c.max(axis=1)
    phi_s = np.minimum(phi_c, phi_e)  # Eq. 21
    # Eq. 23: N(θ) = sum_i |S^(i)| |X^(i)| = number of (source, unit) connections θ cuts
    n_cut = bits.sum(axis=1)[masks].sum(axis=1)
    relative = phi_s / n_cut
    tied = np.flatnonzero(relative <= relative.min() + _TIE)
    mip = int(tied[np.argmax(phi_s[tied])])  # ties: the largest unnormalised φ_s
    a, b, both = cuts[mip]
    members = [tuple(u for k, u in enumerate(units) if (mask >> k) & 1) for mask in (a, b)]
    return SystemPhi(
        **{
            **null,
            "phi": float(phi_s[mip]),
            "partition": Cut(members[0], members[1], both),
            "phi_cause": float(phi_c[mip]),
            "phi_effect": float(phi_e[mip]),
            "cause_state": state_of(int(cause_ties[best_c[mip]]), m),
            "effect_state": state_of(int(effect_ties[best_e[mip]]), m),
        }
    )


def subsystem_phis(tpm, state: Sequence[int]) -> dict[tuple[int, ...], SystemPhi]:
    """:func:`system_phi` of every non-empty subset of the network's units (at most
    :data:`MAX_UNITS` each), keyed by the subset; 2**n - 1 entries."""
    tpm = _check_tpm(tpm)
    n = tpm.shape[1]
    state = _check_state(state, n)
    if n > MAX_UNITS:
        check.fail("n units", n, f"at most {MAX_UNITS} to score every subset")
    return {
        units: system_phi(tpm, state, units)
        for size in range(1, n + 1)
        for units in itertools.combinations(range(n), size)
    }
