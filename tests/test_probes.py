"""companion.probes: linear probes and their scores, control tasks and selectivity, hooks that read
and edit a named site, and the edits themselves (ablation, patching)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion.masks import attention_mask
from companion.models import GPT, GPTConfig
from companion.probes import (
    Selectivity,
    ablate,
    capture,
    control_targets,
    covariance_basis,
    data_basis,
    fit_probe,
    intervene,
    orthonormal_basis,
    patch,
    probe_accuracy,
    probe_r2,
    r2_score,
    random_basis,
    random_permutations,
    selectivity,
    subspace_overlap,
    variance_fraction,
)


def gaussian(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def half_split(n: int, seed: int = 0) -> torch.Tensor:
    train = torch.zeros(n, dtype=torch.bool)
    train[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: n // 2]] = True
    return train


def circle_table(n_types: int, k: int = 1) -> torch.Tensor:
    """cos and sin of 2πkt/n_types for each type t: (n_types, 2)."""
    angle = 2 * math.pi * k * torch.arange(n_types, dtype=torch.float64) / n_types
    return torch.stack([angle.cos(), angle.sin()], dim=1)


# --- probes ---------------------------------------------------------------------------------------


def test_fit_probe_recovers_a_planted_linear_map():
    X = gaussian(500, 6)
    W = gaussian(6, 3, seed=1)
    probe = fit_probe(X, X @ W + 2.5, ridge=0.0)
    torch.testing.assert_close(probe.weight, W, rtol=0, atol=1e-10)
    torch.testing.assert_close(probe.bias, torch.full((3,), 2.5, dtype=torch.float64))


def test_fit_probe_equals_least_squares_and_ignores_the_scale_of_X():
    X, Y = gaussian(200, 5), gaussian(200, 2, seed=1)
    ones = torch.ones(200, 1, dtype=torch.float64)
    solution = torch.linalg.lstsq(torch.cat([X, ones], 1), Y).solution  # (6, 2): W and b
    probe = fit_probe(X, Y, ridge=0.0)
    torch.testing.assert_close(probe.weight, solution[:5], rtol=0, atol=1e-10)
    torch.testing.assert_close(probe.bias, solution[5], rtol=0, atol=1e-10)
    # the ridge is relative to tr(XᵀX)/d: scaling X by 1000 scales W by 1/1000, predictions equal
    small, large = fit_probe(X, Y, ridge=0.1), fit_probe(1000 * X, Y, ridge=0.1)
    torch.testing.assert_close(large(1000 * X), small(X), rtol=0, atol=1e-10)
    assert not torch.allclose(fit_probe(X, Y, ridge=10.0)(X), small(X), atol=1e-3)  # it does act


def test_r2_score_equals_its_formula():
    rng = np.random.default_rng(0)
    y, y_hat = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    expected = np.mean(1 - ((y - y_hat) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0))
    assert r2_score(torch.tensor(y), torch.tensor(y_hat)) == pytest.approx(expected, abs=1e-12)
    assert r2_score(torch.tensor(y), torch.tensor(y)) == 1.0
    mean = torch.tensor(y).mean(0).expand(50, 3)
    assert r2_score(torch.tensor(y), mean) == pytest.approx(0.0, abs=1e-12)


def test_a_probe_recovers_a_planted_linear_feature_and_not_a_nonlinear_one():
    X = gaussian(2000, 8)
    train = half_split(2000)
    noise = 0.1 * gaussian(2000, 1, seed=2)[:, 0]
    linear = X[:, 0] - 2 * X[:, 3] + noise
    product = X[:, 0] * X[:, 1]  # uncorrelated with every linear function of X
    assert probe_r2(X, linear, train) > 0.99
    assert probe_r2(X, product, train) < 0.02
    # a probe on a representation that holds the product linearly finds it
    assert probe_r2(torch.cat([X, product[:, None]], 1), product, train) > 0.99


def test_probe_accuracy_reads_a_linearly_separable_label_and_not_a_random_one():
    n_types, X_types = 10, gaussian(10, 12)  # one random point per type: a lookup table
    types = torch.arange(2000) % n_types
    X = X_types[types] + 0.05 * gaussian(2000, 12, seed=3)
    train = half_split(2000)
    assert probe_accuracy(X, types, train) == 1.0
    labels = torch.randint(0, n_types, (2000,), generator=torch.Generator().manual_seed(4))
    assert probe_accuracy(X, labels, train) < 0.2  # labels unrelated to X: about 1/10


def test_probe_errors_name_the_argument():
    X = gaussian(10, 3)
    with pytest.raises(ValueError, match=r"^Y=\(9, 1\) must be 10 rows"):
        fit_probe(X, torch.zeros(9, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^train=.* must be a bool tensor \(10,\)"):
        probe_r2(X, X[:, 0], torch.ones(10))
    with pytest.raises(ValueError, match=r"^train='10 of 10 True' must be a split"):
        probe_r2(X, X[:, 0], torch.ones(10, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^Y='a constant column' must be targets that vary"):
        r2_score(torch.ones(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"^X='list' must be a torch.Tensor"):
        fit_probe([[1.0]], X)
    with pytest.raises(ValueError, match=r"^X=.* must be finite"):
        fit_probe(torch.full((4, 2), float("nan")), torch.zeros(4))


# --- control tasks and selectivity ------------------------------------------------------------------


def test_control_targets_give_each_type_another_types_targets():
    table = torch.tensor([[0.0], [10.0], [20.0]], dtype=torch.float64)
    types = torch.tensor([0, 1, 2, 2, 0])
    perm = torch.tensor([2, 0, 1])
    expected = torch.tensor([[20.0], [0.0], [10.0], [10.0], [20.0]], dtype=torch.float64)
    assert torch.equal(control_targets(types, table, perm), expected)
    # the same rows, moved: the distribution of targets is kept
    shuffled = control_targets(torch.arange(3), table, perm)
    assert torch.equal(shuffled.sort(0).values, table)
    with pytest.raises(
        ValueError, match=r"^permutation=\(3,\) must be a permutation of range\(3\)"
    ):
        control_targets(types, table, torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match=r"^types=\[3\] must be ints in \[0, 3\)"):
        control_targets(torch.tensor([3]), table, perm)


def test_random_permutations_are_permutations_and_seeded():
    perms = random_permutations(17, 5, seed=3)
    assert all(torch.equal(p.sort().values, torch.arange(17)) for p in perms)
    assert all(
        torch.equal(p, q) for p, q in zip(perms, random_permutations(17, 5, seed=3), strict=True)
    )
    assert not torch.equal(perms[0], random_permutations(17, 1, seed=4)[0])


def test_selectivity_is_high_for_a_structured_representation():
    n_types = 29
    types = torch.arange(29 * 40) % n_types
    table = circle_table(n_types, k=3)  # the property: a point on a circle per type
    X = torch.cat([table[types], 0.1 * gaussian(len(types), 4)], 1)  # (n, 6): the circle + noise
    sel = selectivity(X, types, table, half_split(len(types)), random_permutations(n_types, 10))
    assert isinstance(sel, Selectivity) and sel.controls.shape == (10,)
    assert sel.task > 0.98  # the property is there, linearly
    assert float(sel.controls.max()) < 0.3  # a random assignment of circle points is not
    assert sel.value == pytest.approx(sel.task - float(sel.controls.mean()))
    low, high = sel.interval
    assert low <= sel.value <= high and low > 0.7


def test_selectivity_is_zero_for_a_lookup_table():
    """A random embedding per type in more dimensions than types: a linear probe can fit *any*
    targets per type, the task's as well as every control's, so selectivity is 0."""
    n_types = 23
    types = torch.arange(23 * 20) % n_types
    X = gaussian(n_types, 32)[types]  # (n, 32): injective, linear in one-hot(type)
    table = circle_table(n_types, k=2)
    sel = selectivity(X, types, table, half_split(len(types)), random_permutations(n_types, 5))
    assert sel.task > 0.999 and float(sel.controls.min()) > 0.999
    assert abs(sel.value) < 1e-3


def test_selectivity_of_a_control_task_is_about_zero():
    """When the 'task' is itself a random assignment, task and controls are draws of one
    distribution: selectivity is about 0, on any representation."""
    n_types = 31
    types = torch.arange(31 * 30) % n_types
    X = torch.tanh(gaussian(n_types, 12)[types] + 0.3 * gaussian(len(types), 12, seed=5))
    table = circle_table(n_types, k=1)[random_permutations(n_types, 1, seed=9)[0]]
    sel = selectivity(X, types, table, half_split(len(types)), random_permutations(n_types, 40))
    spread = float(sel.controls.std())
    assert spread > 0.01  # the controls do vary on this representation
    assert abs(sel.value) < 3 * spread


def test_selectivity_errors():
    X, types, table = gaussian(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]), gaussian(3, 1)
    train = torch.tensor([True, True, True, False, False, False])
    with pytest.raises(ValueError, match=r"^permutations='list' must be a non-empty list"):
        selectivity(X, types, table, train, [])
    with pytest.raises(ValueError, match=r"^types=\(5,\) must be \(6,\), one type per row of X"):
        selectivity(X, types[:5], table, train, random_permutations(3, 1))


# --- capturing and editing a site ---------------------------------------------------------------------


@pytest.fixture
def gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, d_model=16, n_heads=2, n_layers=2, max_len=4)).eval()


def test_capture_reads_the_input_of_the_named_module(gpt):
    ids = torch.randint(0, 11, (5, 4), generator=torch.Generator().manual_seed(1))
    h = capture(gpt, "lm_head", lambda: gpt(ids))  # the final hidden state, at the last position
    torch.testing.assert_close(h, gpt.body(ids, is_causal=True)[:, -1])
    first = capture(gpt, "body.layers.1", lambda: gpt(ids), position=0)  # after layer 0
    causal = attention_mask(causal=True, q_len=4, k_len=4)
    layer0, _ = gpt.body.layers[0](gpt.body.embed(ids), mask=causal)
    torch.testing.assert_close(first, layer0[:, 0])
    assert not gpt.lm_head._forward_pre_hooks and not gpt.body.layers[1]._forward_pre_hooks


def test_capture_concatenates_several_calls(gpt):
    ids = torch.randint(0, 11, (6, 4), generator=torch.Generator().manual_seed(2))
    h = capture(gpt, "lm_head", lambda: [gpt(ids[:2]), gpt(ids[2:])])
    torch.testing.assert_close(h, capture(gpt, "lm_head", lambda: gpt(ids)))


def test_intervene_edits_one_position_and_leaves_the_model_as_it_was(gpt):
    ids = torch.randint(0, 11, (3, 4), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        clean = gpt(ids)
        assert torch.equal(intervene(gpt, "body.norm", lambda h: h, lambda: gpt(ids)), clean)
        shift = torch.randn(16, generator=torch.Generator().manual_seed(4))
        edited = intervene(gpt, "lm_head", lambda h: h + shift, lambda: gpt(ids), position=2)
    # lm_head is linear: the logits at position 2 move by W shift, the others not at all
    torch.testing.assert_close(edited[:, 2], clean[:, 2] + gpt.lm_head.weight @ shift)
    assert torch.equal(edited[:, [0, 1, 3]], clean[:, [0, 1, 3]])
    assert not gpt.lm_head._forward_pre_hooks

    def fails():
        gpt(ids)
        raise RuntimeError("after the model ran")

    with pytest.raises(RuntimeError, match="after the model"):  # the hook is removed all the same
        intervene(gpt, "lm_head", lambda h: h, fails)
    assert not gpt.lm_head._forward_pre_hooks


def test_site_errors(gpt):
    with pytest.raises(ValueError, match=r"^site='body.nope' must be the name of one of"):
        capture(gpt, "body.nope", lambda: None)
    with pytest.raises(ValueError, match=r"^forward=.* must be a call of the model"):
        capture(gpt, "lm_head", lambda: None)
    ids = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"^edit=.* must be one returning \(2, 16\)"):
        intervene(gpt, "lm_head", lambda h: h[:, :3], lambda: gpt(ids))


# --- the edits ------------------------------------------------------------------------------------------


def test_orthonormal_and_random_bases():
    D = gaussian(10, 3)
    Q = orthonormal_basis(D)
    torch.testing.assert_close(Q.T @ Q, torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(Q @ Q.T @ D, D)  # the same span
    R = random_basis(10, 3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^directions=\(10, 2\) must be linearly independent"):
        orthonormal_basis(torch.cat([D[:, :1], 2 * D[:, :1]], 1))
    with pytest.raises(ValueError, match=r"^r=11 must be <= d = 10"):
        random_basis(10, 11)


def test_ablating_a_direction_removes_exactly_its_component():
    h, mean = gaussian(50, 8), gaussian(1, 8, seed=1)[0]
    Q = random_basis(8, 3, torch.Generator().manual_seed(2))
    out = ablate(h, Q, mean)
    torch.testing.assert_close(out @ Q, (mean @ Q).expand(50, 3))  # the component: the mean's
    rest = torch.eye(8, dtype=torch.float64) - Q @ Q.T
    torch.testing.assert_close(out @ rest, h @ rest)  # everything orthogonal to Q: untouched
    torch.testing.assert_close(ablate(h, Q) @ Q, torch.zeros(50, 3, dtype=torch.float64))
    # by hand: h = (3, 4), u = (1, 0), mean (1, 1) -> (1, 4)
    one = ablate(torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0], [0.0]]), torch.tensor([1.0, 1.0]))
    assert torch.equal(one, torch.tensor([[1.0, 4.0]]))


def test_patch_takes_the_component_from_the_source():
    h, source = gaussian(20, 6), gaussian(20, 6, seed=1)
    Q = random_basis(6, 2, torch.Generator().manual_seed(3))
    out = patch(h, source, Q)
    torch.testing.assert_close(out @ Q, source @ Q)
    rest = torch.eye(6, dtype=torch.float64) - Q @ Q.T
    torch.testing.assert_close(out @ rest, h @ rest)
    torch.testing.assert_close(patch(h, source, torch.eye(6, dtype=torch.float64)), source)
    with pytest.raises(ValueError, match=r"^Q=.* must be QᵀQ = I"):
        patch(h, source, 2 * Q)
    with pytest.raises(ValueError, match=r"^source=\(3, 6\) must be the shape of h"):
        patch(h, source[:3], Q)


def test_covariance_basis_erases_every_linear_readout_and_a_probe_direction_does_not():
    """Two noisy copies of a feature: the least-squares probe leans on the cleaner one, and
    removing its direction leaves the other, which a new probe reads; removing the covariance
    directions leaves nothing linear to read."""
    n = 3000
    z = gaussian(n, 1)[:, 0]
    noise = gaussian(n, 6, seed=1)
    clean, noisy = z + 0.1 * noise[:, 0], z + 0.5 * noise[:, 1]
    X = torch.cat([clean[:, None], noisy[:, None], noise[:, 2:]], 1)  # (n, 6)
    train, mean = half_split(n), X.mean(0)
    assert probe_r2(X, z, train) > 0.9
    probe = fit_probe(X[train], z[train])
    weight_only = ablate(X, orthonormal_basis(probe.weight), mean)
    assert probe_r2(weight_only, z, train) > 0.5  # still readable along the other copy
    Q = covariance_basis(X, z)
    assert Q.shape == (6, 1)
    erased = ablate(X, Q, mean)
    assert abs(probe_r2(erased, z, train)) < 0.01
    # in sample, exactly nothing: Cov(X', z) = 0, so the least-squares probe predicts the mean
    probe = fit_probe(erased, z, ridge=1e-9)
    assert abs(r2_score(z, probe(erased))) < 1e-6
    with pytest.raises(ValueError, match=r"^Y='targets uncorrelated with X'"):
        covariance_basis(X, torch.ones(n, dtype=torch.float64))


def test_variance_fraction_is_the_trace_formula():
    """tr(QᵀΣQ)/tr(Σ): 1 for the whole space, about r/d for a random subspace of isotropic data,
    and most of it along the directions where the data varies most."""
    X = gaussian(4000, 8) * torch.tensor([5.0, 1, 1, 1, 1, 1, 1, 1], dtype=torch.float64)
    Q = random_basis(8, 3, torch.Generator().manual_seed(1))
    sigma = torch.cov(X.T)  # (8, 8)
    want = float(torch.trace(Q.T @ sigma @ Q) / torch.trace(sigma))
    assert variance_fraction(X, Q) == pytest.approx(want, rel=1e-12)
    assert variance_fraction(X, torch.eye(8, dtype=torch.float64)) == pytest.approx(1.0)
    e1 = torch.eye(8, dtype=torch.float64)[:, :1]
    assert variance_fraction(X, e1) == pytest.approx(25 / 32, abs=0.02)  # 25 of 25 + 7
    iso = gaussian(4000, 8, seed=2)
    fractions = [
        variance_fraction(iso, random_basis(8, 2, torch.Generator().manual_seed(i)))
        for i in range(20)
    ]
    assert sum(fractions) / 20 == pytest.approx(2 / 8, abs=0.02)
    # mean ablation removes exactly this fraction of the variance
    erased = ablate(X, Q, X.mean(0))
    assert 1 - erased.var(0).sum() / X.var(0).sum() == pytest.approx(variance_fraction(X, Q))
    with pytest.raises(ValueError, match=r"^Q=\(7, 3\) must be an orthonormal basis \(8, r\)"):
        variance_fraction(X, Q[:7])


def test_data_basis_leans_towards_the_variance_and_random_basis_does_not():
    scale = torch.tensor([10.0, 5, 1, 1, 1, 1, 1, 1, 1, 1], dtype=torch.float64)
    X = gaussian(500, 10) * scale + 3.0  # (500, 10), the mean is removed first
    g = torch.Generator().manual_seed(0)
    Q = data_basis(X, 2, g)
    torch.testing.assert_close(Q.T @ Q, torch.eye(2, dtype=torch.float64))
    data = [variance_fraction(X, data_basis(X, 2, g)) for _ in range(20)]
    iso = [variance_fraction(X, random_basis(10, 2, g)) for _ in range(20)]
    # the two big directions hold 125/133 of the variance; a random plane about 2/10 of it
    assert sum(data) / 20 > 0.6 > 0.3 > sum(iso) / 20
    assert data_basis(X, 2, torch.Generator().manual_seed(3)).equal(
        data_basis(X, 2, torch.Generator().manual_seed(3))
    )
    with pytest.raises(ValueError, match=r"^r=11 must be <= min\(n, d\) = 10"):
        data_basis(X, 11)


def test_subspace_overlap():
    eye = torch.eye(6, dtype=torch.float64)
    assert subspace_overlap(eye[:, :2], eye[:, :2]) == pytest.approx(1.0)
    assert subspace_overlap(eye[:, :2], eye[:, 2:4]) == pytest.approx(0.0)
    assert subspace_overlap(eye[:, :2], eye[:, :4]) == pytest.approx(1.0)  # one holds the other
    assert subspace_overlap(eye[:, :2], eye[:, 1:3]) == pytest.approx(0.5)  # one of two shared
    rotated = orthonormal_basis(
        eye[:, :2] @ torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    )
    assert subspace_overlap(eye[:, :2], rotated) == pytest.approx(1.0)  # a basis of the same span
    g = torch.Generator().manual_seed(0)
    shared = [subspace_overlap(random_basis(40, 4, g), random_basis(40, 4, g)) for _ in range(50)]
    assert sum(shared) / 50 == pytest.approx(4 / 40, abs=0.02)
    with pytest.raises(ValueError, match=r"^Q2=\(5, 2\) must be an orthonormal basis \(6, r\)"):
        subspace_overlap(eye[:, :2], eye[:5, :2])
    with pytest.raises(ValueError, match=r"^Q1=.* must be QᵀQ = I"):
        subspace_overlap(2 * eye[:, :2], eye[:, :2])
