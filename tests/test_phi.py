"""companion.phi: φ_s on networks whose value is derived by hand (below, in each test), PyPhi's
stored reference value, a slow reference written straight from the paper's equations, zero for
disconnected and feed-forward networks (with a recurrent control that is not zero), the
unfolding's same input-output function with φ_s = 0 in every subsystem, and bad input.

Conventions (see companion/phi.py): ibits = log base 2; states little-endian (unit i is bit i);
the partitions searched are directional bipartitions, A -> B, B -> A or both; a single unit is
cut from itself."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from companion.phi import (
    Cut,
    connectivity,
    input_output_table,
    run,
    state_index,
    state_of,
    subsystem_phis,
    system_phi,
    tpm_from_rules,
    trajectory_state,
    unfold,
)

SWAP = tpm_from_rules([lambda s: s[1], lambda s: s[0]])  # a' = b, b' = a
# Oizumi et al. (2014) Fig. 4: A = OR(B, C), B = AND(A, C), C = XOR(A, B)
OR_AND_XOR = tpm_from_rules([lambda s: s[1] | s[2], lambda s: s[0] & s[2], lambda s: s[0] ^ s[1]])
log2 = math.log2


# ----------------------------------------------------------------------------- networks


def test_tpm_is_little_endian_state_by_node():
    assert state_index((1, 0, 0)) == 1 and state_index((0, 0, 1)) == 4
    assert all(state_index(state_of(s, 4)) == s for s in range(16))
    # row 1 is (A, B, C) = (1, 0, 0): OR(0, 0) = 0, AND(1, 0) = 0, XOR(1, 0) = 1
    assert OR_AND_XOR[1].tolist() == [0, 0, 1]
    assert OR_AND_XOR[state_index((0, 1, 0))].tolist() == [1, 0, 1]
    noisy = tpm_from_rules([lambda s: 0.25 + 0.5 * s[0], lambda s: s[0] == 1])  # bools accepted
    assert noisy.tolist() == [[0.25, 0.0], [0.75, 1.0], [0.25, 0.0], [0.75, 1.0]]


def test_connectivity_is_read_off_the_tpm():
    # cm[i, j]: unit j listens to unit i. A <- B, C; B <- A, C; C <- A, B
    assert connectivity(OR_AND_XOR).astype(int).tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    # a rule that names an input but ignores it has no connection from it
    ignores = tpm_from_rules([lambda s: s[1] | (s[1] & s[0]), lambda s: 0.5])
    assert connectivity(ignores).astype(int).tolist() == [[0, 0], [1, 0]]


def test_run_steps_the_network():
    assert run(SWAP, (1, 0), 1) == (0, 1)
    assert run(SWAP, (1, 0), 2) == (1, 0)
    assert run(OR_AND_XOR, (1, 0, 0), 0) == (1, 0, 0)
    coin = tpm_from_rules([lambda s: 0.5, lambda s: s[0]])
    draws = [run(coin, (0, 0), 3, rng=np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1]  # seeded
    with pytest.raises(ValueError, match="deterministic"):
        run(coin, (0, 0), 1)


# ----------------------------------------------------------------------------- by hand


def test_swap_by_hand():
    """a' = b, b' = a in state (a, b) = (1, 0).

    Effect: the next state is (0, 1) with p = 1; the map is a bijection, so every state has
    chance 1/4: ii_e = 1 * log2(1 / (1/4)) = 2. Cause: only (0, 1) leads to (1, 0), so
    p_c(s | (0, 1)) = 1, p_c(s) = 1/4, backward = 1: ii_c = 2.
    Cut 0 -> 1: unit 1's input becomes noise, p(b' = 1) = 1/2, unit 0 intact: p^θ = 1/2 on both
    sides, φ_e = φ_c = 1 * log2(1 / (1/2)) = 1, over N = 1 connection: 1. Cut 1 -> 0 likewise.
    Both directions: p^θ = 1/4, φ = 2, over N = 2: 1. All three tie at φ_s / N = 1, and the
    tie goes to the largest φ_s (the paper's rule after Eq. 23): φ_s = 2, bidirectional.
    """
    r = system_phi(SWAP, (1, 0))
    assert r.ii_cause == r.ii_effect == 2.0
    assert r.cause_state == r.effect_state == (0, 1)
    assert r.phi == r.phi_cause == r.phi_effect == 2.0
    assert r.partition == Cut((0,), (1,), bidirectional=True)
    assert all(system_phi(SWAP, state_of(s, 2)).phi == 2.0 for s in range(4))


def test_noisy_copy_cause_and_effect_differ_by_hand():
    """a' = b; b' = 1 if a else a coin (p = 1/2). State (a, b) = (1, 1).

    Effect: next state (1, 1) with p = 1. Chance: p(a' = 1) = 1/2, p(b' = 1) = (1 + 1/2)/2 = 3/4,
    so (1, 1) has chance 3/8: ii_e = log2(8/3).
    Cause: (1, 1) needs b̄ = 1; b = 1 has p = 1 from ā = 1, 1/2 from ā = 0. So p_c(s | (1, 1)) = 1,
    p_c(s | (0, 1)) = 1/2, p_c(s) = 3/8, backward 2/3 and 1/3 (degeneracy dilutes the cause):
    ii_c((1, 1)) = 2/3 log2(8/3) > ii_c((0, 1)) = 1/3 log2(4/3).
    Cut 0 -> 1 (b's input from a noised: p(b' = 1 | b) = 3/4): φ_e = log2(1 / (3/4)) = log2(4/3),
    φ_c = 2/3 log2(4/3); N = 1. Cut 1 -> 0 (a' = 1/2): φ_e = 1, φ_c = 2/3; N = 1. Both: φ_e =
    log2(8/3), φ_c = 2/3 log2(8/3), N = 2: 0.47. Minimum: cut 0 -> 1, φ_s = 2/3 log2(4/3).
    """
    noisy = tpm_from_rules([lambda s: s[1], lambda s: 1 if s[0] else 0.5])
    r = system_phi(noisy, (1, 1))
    assert r.ii_effect == pytest.approx(log2(8 / 3), abs=1e-12)
    assert r.ii_cause == pytest.approx(2 / 3 * log2(8 / 3), abs=1e-12)
    assert r.cause_state == r.effect_state == (1, 1)
    assert r.partition == Cut((0,), (1,))
    assert r.phi_effect == pytest.approx(log2(4 / 3), abs=1e-12)
    assert r.phi_cause == pytest.approx(2 / 3 * log2(4 / 3), abs=1e-12)
    assert r.phi == r.phi_cause < r.phi_effect


def test_single_units():
    """a' = a: effect and cause p = 1 against chance 1/2, ii = 1; cutting the self-loop leaves
    p = 1/2: φ_s = 1 * log2(1 / (1/2)) = 1. A unit with no self-loop has φ_s = 0."""
    r = system_phi(tpm_from_rules([lambda s: s[0]]), (1,))
    assert (r.phi, r.phi_cause, r.phi_effect) == (1.0, 1.0, 1.0)
    assert r.partition == Cut((0,), (0,))
    assert system_phi(tpm_from_rules([lambda s: 1 - s[0]]), (0,)).phi == 1.0  # NOT of itself
    constant = system_phi(tpm_from_rules([lambda s: 1]), (1,))
    assert constant.phi == 0 and constant.partition is None  # no cause–effect power
    assert system_phi(SWAP, (1, 0), units=[0]).phi == 0  # b held fixed: a has no self-loop


def test_background_units_are_held_at_their_state():
    """a' = b AND c, b' = a, c' = c. With c = 1 held fixed, {a, b} is the swap (φ_s = 2, see
    above); with c = 0, a' = 0 whatever b does, a no longer listens to b and φ_s = 0."""
    gated = tpm_from_rules([lambda s: s[1] & s[2], lambda s: s[0], lambda s: s[2]])
    assert system_phi(gated, (1, 0, 1), units=(0, 1)).phi == 2.0
    assert system_phi(gated, (1, 0, 0), units=(0, 1)).phi == 0.0


def test_or_and_xor_network_along_its_minimum_partition():
    """Oizumi et al.'s network in state (A, B, C) = (1, 0, 0) (their Fig. 4 state).

    Effect: the next state is f(1, 0, 0) = (0, 0, 1), reached from no other state, chance 1/8:
    ii_e = 3. Cause: (0, 0, 1) and (1, 1, 0) both lead to (1, 0, 0): p_c(s) = 2/8, backward 1/2
    each, ii_c = 1/2 log2(1 / (1/4)) = 1, a tie. Minimum partition: cut B's inputs {A, C} -> {B}
    (N = 2). B = AND(A, C) then turns ON with p = 1/4, so the effect's B' = 0 and the current
    B = 0 both get p^θ = 3/4, the rest intact: φ_e = log2(4/3), φ_c = 1/2 log2(4/3) for either
    tied cause state. (That no other bipartition has a smaller φ_s / N is the search's job; the
    reference implementation below checks it.)
    """
    r = system_phi(OR_AND_XOR, (1, 0, 0))
    assert (r.ii_effect, r.ii_cause) == (3.0, 1.0)
    assert r.effect_state == (0, 0, 1) and r.cause_state in {(0, 0, 1), (1, 1, 0)}
    assert r.partition == Cut((0, 2), (1,))
    assert r.phi_effect == pytest.approx(log2(4 / 3), abs=1e-12)
    assert r.phi == r.phi_cause == pytest.approx(log2(4 / 3) / 2, abs=1e-12)


def test_unreachable_state_has_no_cause():
    # nothing leads to (0, 1, 0) in the OR/AND/XOR network (B' = 1 needs A = C = 1, and then A' = 1)
    r = system_phi(OR_AND_XOR, (0, 1, 0))
    assert r.cause_state is None and r.partition is None and r.phi == 0


def test_matches_pyphi_reference_value():
    """PyPhi's "basic" network, A = OR(B, C), B = COPY(C), C = XOR(A, B), in state (1, 0, 0).

    PyPhi (the IIT authors' toolbox) stores φ_s = 0.41503749927884376 for it under its IIT 4.0
    (2023) settings, with the minimum partition cutting A's inputs from {B, C}, cause state
    (1, 1, 0) and effect state (0, 0, 1) (test/data/golden/v1/basic_iit4_2023.json in
    github.com/wmayner/pyphi). PyPhi searches partitions into any number of parts; here only
    bipartitions are searched, and the minimum is the same.
    """
    basic = tpm_from_rules([lambda s: s[1] | s[2], lambda s: s[2], lambda s: s[0] ^ s[1]])
    r = system_phi(basic, (1, 0, 0))
    assert r.phi == pytest.approx(0.41503749927884376, abs=1e-12)
    assert r.partition == Cut((1, 2), (0,))
    assert r.cause_state == (1, 1, 0) and r.effect_state == (0, 0, 1)


# ----------------------------------------------------------------------------- a slow reference


def reference_phi(tpm: np.ndarray, state: tuple[int, ...], units: tuple[int, ...]) -> float:
    """φ_s by the paper's equations, one probability at a time (no vectorisation, no tricks)."""
    m, tie = len(units), 1e-12
    current = tuple(state[u] for u in units)
    states = list(itertools.product((0, 1), repeat=m))

    def p_on(j, past, noised=()):  # P(unit units[j] ON | past), inputs from `noised` averaged
        values = []
        for noise in itertools.product((0, 1), repeat=len(noised)):
            full = list(state)
            for k, u in enumerate(units):
                full[u] = past[k]
            for k, b in zip(noised, noise, strict=True):
                full[units[k]] = b
            values.append(tpm[state_index(full), units[j]])
        return sum(values) / len(values)

    def p(past, nxt, cut=None):  # prod_j p(nxt_j | past), Eqs. 2, 17-18
        cut = cut or {}
        out = 1.0
        for j in range(m):
            q = p_on(j, past, tuple(sorted(cut.get(j, ()))))
            out *= q if nxt[j] else 1 - q
        return out

    def ii(prob, selectivity, chance):
        return selectivity * log2(prob / chance) if prob > 0 else 0.0

    p_e = {t: p(current, t) for t in states}
    ii_e = {t: ii(p_e[t], p_e[t], sum(p(s, t) for s in states) / 2**m) for t in states}
    p_c = {t: p(t, current) for t in states}
    if sum(p_c.values()) == 0:
        return 0.0
    back = {t: p_c[t] / sum(p_c.values()) for t in states}
    ii_c = {t: ii(p_c[t], back[t], sum(p_c.values()) / 2**m) for t in states}
    if max(ii_e.values()) <= tie or max(ii_c.values()) <= tie:
        return 0.0
    effects = [t for t in states if ii_e[t] >= max(ii_e.values()) - tie]
    causes = [t for t in states if ii_c[t] >= max(ii_c.values()) - tie]
    cuts = [{0: {0}}] if m == 1 else []
    for size in range(1, m):
        for a in itertools.combinations(range(m), size):
            b = [k for k in range(m) if k not in a]
            cuts.append({j: set(a) for j in b})  # a -> b
            if a < tuple(b):
                cuts.append({**{j: set(a) for j in b}, **{j: set(b) for j in a}})
    scores = []
    for cut in cuts:
        phi_e = max(p_e[t] * max(0.0, log2(p_e[t] / p(current, t, cut))) for t in effects)
        phi_c = max(back[t] * max(0.0, log2(p_c[t] / p(t, current, cut))) for t in causes)
        phi_s = min(phi_c, phi_e)
        scores.append((phi_s / sum(len(x) for x in cut.values()), phi_s))
    lowest = min(rel for rel, _ in scores)
    return max(phi_s for rel, phi_s in scores if rel <= lowest + tie)


def random_tpm(n: int, rng: np.random.Generator) -> np.ndarray:
    """Entries 0, 1 or uniform in (0, 1), so that determinism, ties and zeros all occur."""
    kind = rng.integers(0, 3, size=(2**n, n))
    return np.where(kind == 0, 0.0, np.where(kind == 1, 1.0, rng.random((2**n, n))))


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_phi_equals_the_slow_reference(seed):
    rng = np.random.default_rng(seed)
    tpm = random_tpm(3, rng)
    for s in range(8):
        state = state_of(s, 3)
        for units, r in subsystem_phis(tpm, state).items():
            assert r.phi == pytest.approx(reference_phi(tpm, state, units), abs=1e-9)


def test_vectorised_phi_equals_the_slow_reference_on_four_units():
    rng = np.random.default_rng(100)
    tpms = [random_tpm(4, rng), OR_AND_XOR]
    for tpm in tpms:
        n = tpm.shape[1]
        for s in range(2**n):
            state = state_of(s, n)
            assert system_phi(tpm, state).phi == pytest.approx(
                reference_phi(tpm, state, tuple(range(n))), abs=1e-9
            )


def test_relabelling_units_does_not_change_phi():
    for order in itertools.permutations(range(3)):
        # new unit k is old unit order[k]; rows are re-indexed to match
        rows = [state_index([state_of(s, 3)[i] for i in np.argsort(order)]) for s in range(8)]
        permuted = OR_AND_XOR[rows][:, order]
        for s in range(8):
            old = state_of(s, 3)
            new = tuple(old[i] for i in order)
            assert system_phi(permuted, new).phi == pytest.approx(
                system_phi(OR_AND_XOR, old).phi, abs=1e-12
            )


# ----------------------------------------------------------------------------- zero φ_s


def test_disconnected_units_have_zero_phi():
    # two units that each copy themselves: each alone has φ_s = 1, together they are two systems
    apart = tpm_from_rules([lambda s: s[0], lambda s: s[1]])
    for s in range(4):
        assert system_phi(apart, state_of(s, 2)).phi == 0
        assert system_phi(apart, state_of(s, 2), units=[0]).phi == 1
    # one-way: b copies a, a copies itself; no path back from b to a
    one_way = tpm_from_rules([lambda s: s[0], lambda s: s[0]])
    assert all(system_phi(one_way, state_of(s, 2)).phi == 0 for s in range(4))


def random_chain_dag(n: int, rng: np.random.Generator) -> list:
    """Noisy rules on a random DAG: unit order[k] listens to order[k - 1] and to a random set of
    earlier units, P(ON) in [0.05, 0.95]; order[0] has no inputs. No self-loops."""
    order = rng.permutation(n)
    rules = [None] * n
    for k, unit in enumerate(order):
        parents = [int(order[k - 1])] if k else []
        parents += [int(u) for u in order[: max(k - 1, 0)] if rng.random() < 0.5]
        table = rng.uniform(0.05, 0.95, size=2 ** len(parents))
        rules[unit] = lambda s, p=tuple(parents), t=table: t[state_index([s[i] for i in p])]
    return rules, [int(u) for u in order]


@pytest.mark.parametrize(("n", "seed"), [(3, 0), (4, 1), (5, 2)])
def test_random_feed_forward_networks_have_zero_phi_everywhere(n, seed):
    rng = np.random.default_rng(seed)
    rules, order = random_chain_dag(n, rng)
    tpm = tpm_from_rules(rules)
    cm = connectivity(tpm)
    rank = np.argsort(order)  # position of each unit in the order
    assert all(rank[i] < rank[j] for i, j in zip(*np.nonzero(cm), strict=True))  # a DAG
    powered = 0  # multi-unit systems with cause and effect power, so φ_s = 0 is the partition's
    for s in range(2**n):
        for units, r in subsystem_phis(tpm, state_of(s, n)).items():
            assert r.phi == 0, (state_of(s, n), units, r)
            powered += len(units) > 1 and r.partition is not None
    assert powered > 2**n * (2**n - 1 - n) / 2
    # control: one connection back from the last unit to the first closes the chain into a loop
    rules[order[0]] = lambda s: 0.1 + 0.8 * s[order[-1]]
    looped = tpm_from_rules(rules)
    assert max(system_phi(looped, state_of(s, n)).phi for s in range(2**n)) > 1e-4  # noisy: small


# ----------------------------------------------------------------------------- the unfolding


def test_unfolding_is_feed_forward_and_keeps_the_connections():
    steps, n = 2, 3
    cm = connectivity(unfold(OR_AND_XOR, steps))
    layer = np.arange((steps + 1) * n) // n
    sources, targets = np.nonzero(cm)
    assert (layer[targets] == layer[sources] + 1).all()  # only forward, one layer at a time
    for k in range(steps):  # each layer-to-layer block is the recurrent network's wiring
        block = cm[k * n : (k + 1) * n, (k + 1) * n : (k + 2) * n]
        assert (block == connectivity(OR_AND_XOR)).all()
    # unfolding from rules or from the TPM gives the same network
    rules = [lambda s: s[1] | s[2], lambda s: s[0] & s[2], lambda s: s[0] ^ s[1]]
    assert (unfold(rules, steps) == unfold(OR_AND_XOR, steps)).all()


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_unfolding_computes_the_same_function(steps):
    rng = np.random.default_rng(steps)
    deterministic = rng.integers(0, 2, size=(16, 4)).astype(float)  # a random 4-unit network
    networks = [SWAP, deterministic] + ([OR_AND_XOR] if steps < 3 else [])
    for tpm in networks:
        table = input_output_table(tpm, steps)
        assert len(table) == len(tpm)
        for initial, recurrent, unfolded in table:
            assert recurrent == unfolded == run(tpm, initial, steps)


def test_trajectory_state_lays_out_the_run():
    assert trajectory_state(OR_AND_XOR, (0, 1, 0), 2) == (0, 1, 0) + (1, 0, 1) + (1, 1, 1)


def test_recurrent_network_is_integrated_and_its_unfolding_is_not():
    """The recurrent OR/AND/XOR network has φ_s > 0 in (1, 0, 0) (derived above); its 9-unit
    unfolding over two steps computes the same map, yet each of its 511 subsystems has
    φ_s = 0, in the states that lay out the run from (1, 0, 0) and from (1, 0, 1)."""
    assert system_phi(OR_AND_XOR, (1, 0, 0)).phi > 0.2
    unfolded = unfold(OR_AND_XOR, 2)
    for initial in [(1, 0, 0), (1, 0, 1)]:
        state = trajectory_state(OR_AND_XOR, initial, 2)
        whole = system_phi(unfolded, state)
        assert whole.cause_state is not None and whole.ii_cause > 0 and whole.ii_effect > 0
        phis = subsystem_phis(unfolded, state)
        assert len(phis) == 2**9 - 1
        assert max(r.phi for r in phis.values()) == 0


def test_unfolded_swap_has_zero_phi_in_every_state():
    unfolded = unfold(SWAP, 2)  # 6 units
    for s in range(2**6):
        assert all(r.phi == 0 for r in subsystem_phis(unfolded, state_of(s, 6)).values())


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: system_phi("tpm", (0,)), TypeError, "tpm='str' must be an array"),
        (lambda: system_phi(np.zeros((3, 2)), (0, 0)), ValueError, r"tpm.shape=\(3, 2\)"),
        (lambda: system_phi(np.zeros(4), (0, 0)), ValueError, r"\(2\*\*n, n\)"),
        (lambda: system_phi(SWAP * 2, (0, 0)), ValueError, "probability in"),
        (lambda: system_phi(SWAP * np.nan, (0, 0)), ValueError, "probability in"),
        (lambda: system_phi(SWAP, (0, 0, 1)), ValueError, "2 zeros and ones"),
        (lambda: system_phi(SWAP, (0, 2)), ValueError, "2 zeros and ones"),
        (lambda: system_phi(SWAP, (True, False)), ValueError, "2 zeros and ones"),
        (lambda: system_phi(SWAP, "01"), TypeError, "sequence of 2"),
        (lambda: system_phi(SWAP, (0, 0), units=(0, 0)), ValueError, "distinct unit indices"),
        (lambda: system_phi(SWAP, (0, 0), units=(2,)), ValueError, "distinct unit indices"),
        (lambda: system_phi(SWAP, (0, 0), units=()), ValueError, "at least one"),
        (lambda: system_phi(SWAP, (0, 0), units=(0.0,)), TypeError, "unit indices"),
        (lambda: system_phi(np.zeros((2**11, 11)), (0,) * 11), ValueError, "at most 10"),
        (lambda: tpm_from_rules([]), TypeError, "non-empty list of callables"),
        (lambda: tpm_from_rules([1]), TypeError, r"rules\[0\]=1 must be a callable"),
        (lambda: tpm_from_rules([lambda s: 2]), ValueError, r"rules\[0\]\(0,\)=2 must be"),
        (lambda: tpm_from_rules([lambda s: "on"]), TypeError, "return 0, 1 or a probability"),
        (lambda: unfold(SWAP, 0), ValueError, "steps=0 must be a positive int"),
        (lambda: unfold(OR_AND_XOR, 5), ValueError, "at most 16 units; use steps <= 4"),
        (lambda: run(SWAP, (0, 1), -1), ValueError, "steps=-1 must be an int >= 0"),
        (lambda: run(SWAP, (0, 1), 1, rng=7), TypeError, "np.random.Generator"),
        (lambda: state_of(4, 2), ValueError, r"index=4 must be an int in \[0, 3\]"),
        (lambda: input_output_table(SWAP, 1, seed=-1), ValueError, "seed=-1"),
        (lambda: trajectory_state(SWAP * 0.5, (0, 1), 1), ValueError, "deterministic"),
        (lambda: input_output_table(SWAP * 0.5, 1), ValueError, "deterministic"),
    ],
)
def test_bad_input_raises_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
