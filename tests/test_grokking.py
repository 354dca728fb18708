"""companion.grokking: the task, the Fourier tools, the progress measures and the training run."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from companion.grokking import (
    GROKKING_CONFIGS,
    GrokkingConfig,
    cos_logit_fraction,
    excluded_loss,
    fourier_basis,
    fourier_spectrum,
    key_frequencies,
    modular_addition,
    norm_fraction_in_top_k,
    restricted_loss,
    train_grokking,
)


def three_frequency_embedding(p: int = 31, d: int = 12, freqs=(3, 7, 11), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    coeff = torch.zeros(p, d, dtype=torch.float64)
    for k in freqs:
        coeff[2 * k - 1 : 2 * k + 1] = torch.randn(2, d, generator=g, dtype=torch.float64)
    return fourier_basis(p).T @ coeff  # (p, d)


def circuit_logits(p: int, freqs, scale: float = 4.0):
    """Logits (p², p) = scale · Σ_k cos(w_k(a + b - c)): the algorithm of Nanda et al. 2023."""
    r = torch.arange(p).double()
    phase = r[:, None, None] + r[None, :, None] - r[None, None, :]  # (p, p, p)
    cube = sum(torch.cos(2 * math.pi * k / p * phase) for k in freqs)
    return scale * cube.reshape(p * p, p)


@pytest.mark.parametrize("p", [3, 7, 59])
def test_the_fourier_basis_is_orthonormal(p):
    B = fourier_basis(p)
    assert B.shape == (p, p)
    torch.testing.assert_close(B @ B.T, torch.eye(p, dtype=torch.float64), atol=1e-12, rtol=0)


def test_three_frequencies_hold_the_whole_norm_at_k_3():
    W = three_frequency_embedding()
    spectrum = fourier_spectrum(W)
    assert spectrum.shape == (16,)
    torch.testing.assert_close(spectrum.sum(), W.pow(2).sum())
    assert norm_fraction_in_top_k(W, 3) == pytest.approx(1.0, abs=1e-12)
    assert norm_fraction_in_top_k(W, 2) < 0.95
    assert key_frequencies(W, 3) == [3, 7, 11]


def test_the_constant_counts_as_a_frequency():
    W = torch.ones(7, 4)  # only the constant
    assert norm_fraction_in_top_k(W, 1) == pytest.approx(1.0)
    assert fourier_spectrum(W)[1:].abs().max() < 1e-12


def test_the_circuit_logits_are_all_cos_terms_and_the_progress_measures_see_it():
    p, freqs = 23, [2, 5, 9]
    pairs, labels, is_train = modular_addition(p, 0.5, seed=0)
    logits = circuit_logits(p, freqs)
    assert cos_logit_fraction(logits, freqs) == pytest.approx(1.0, abs=1e-9)
    assert cos_logit_fraction(logits, [1, 3]) == pytest.approx(0.0, abs=1e-9)
    full = F.cross_entropy(logits[is_train], labels[is_train]).item()
    # keeping the key frequencies changes nothing; removing them leaves chance (ln p)
    assert restricted_loss(logits, labels, is_train, freqs) == pytest.approx(full, abs=1e-9)
    assert excluded_loss(logits, labels, is_train, freqs) == pytest.approx(math.log(p), abs=1e-9)
    # with the wrong frequencies it is the other way round
    assert restricted_loss(logits, labels, is_train, [1, 3]) == pytest.approx(math.log(p))


def test_a_memorised_lookup_table_has_no_key_frequency_structure():
    p = 23
    _, labels, is_train = modular_addition(p, 0.5, seed=0)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(p * p, p, generator=g, dtype=torch.float64)
    logits[torch.arange(p * p), labels] += 10 * is_train  # right only on the training pairs
    full = F.cross_entropy(logits[is_train], labels[is_train]).item()
    # the table is perfect on the training pairs, but three frequencies of it are not
    assert full < 0.01
    assert restricted_loss(logits, labels, is_train, [2, 5, 9]) > 1.5
    assert cos_logit_fraction(logits, [2, 5, 9]) < 0.2


def test_modular_addition_pairs_labels_and_split():
    pairs, labels, is_train = modular_addition(7, 0.3, seed=1)
    assert pairs.shape == (49, 2) and labels.shape == (49,)
    assert pairs[10].tolist() == [1, 3] and labels[10] == 4
    assert int(is_train.sum()) == round(0.3 * 49)
    assert torch.equal(is_train, modular_addition(7, 0.3, seed=1)[2])
    assert not torch.equal(is_train, modular_addition(7, 0.3, seed=2)[2])


@pytest.mark.parametrize("model", ["transformer", "mlp"])
def test_a_short_run_learns_and_exposes_what_later_chapters_use(model):
    config = GrokkingConfig(
        p=11, model=model, d_model=16, n_heads=2, d_mlp=32, lr=1e-2, steps=30, log_every=10,
        checkpoint_every=15, n_key=2,
    )  # fmt: skip
    run = train_grokking(config, seed=0, progress=False)
    h = run.history
    assert h.step == [0, 10, 20, 30] and h.checkpoint_step == [0, 15, 30]
    assert len(h.restricted_loss) == len(h.excluded_loss) == 3
    assert h.train_loss[-1] < 0.75 * h.train_loss[0]
    assert run.embedding.shape == (11, 16)
    a, b = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 10])
    assert run.hidden(a, b).shape == (3, 16 if model == "transformer" else 32)
    assert run.logits(a, b).shape == (3, 11) and run.logits().shape == (121, 11)
    assert run.predict(a, b).dtype == torch.int64
    acc = (run.logits().argmax(-1) == run.labels)[run.is_train].double().mean().item()
    assert acc == pytest.approx(h.train_acc[-1])
    with pytest.raises(ValueError, match="integers in"):
        run.predict(11, 0)


def test_overrides_and_weight_decay_zero():
    config = replace(GROKKING_CONFIGS["ci"], steps=3, checkpoint_every=3)
    run = train_grokking(config, steps=2, weight_decay=0.0, train_fraction=0.4, progress=False)
    assert run.config.steps == 2 and run.config.weight_decay == 0.0
    assert int(run.is_train.sum()) == round(0.4 * config.p**2)


@pytest.mark.parametrize("model", ["transformer", "mlp"])
def test_init_scale_multiplies_the_weight_matrices_only(model):
    config = GrokkingConfig(p=7, model=model, d_model=8, n_heads=2, d_mlp=16, steps=1, n_key=2)
    runs = [
        train_grokking(replace(config, init_scale=a), steps=1, weight_decay=0.0, progress=False)
        for a in (1.0, 3.0)
    ]  # the weights at checkpoint 0 are the initialisation
    for name, w1 in runs[0].checkpoints[0].items():
        w3 = runs[1].checkpoints[0][name]
        torch.testing.assert_close(w3, 3 * w1 if w1.ndim >= 2 else w1)


def test_the_gpu_configuration_builds_and_steps_on_cpu():
    run = train_grokking("gpu", steps=2, progress=False, run_device="cpu")
    config = run.config
    assert (config.p, config.train_fraction, config.d_model, config.n_heads, config.d_mlp) == (
        113, 0.3, 128, 4, 512,
    )  # fmt: skip
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in run.model.modules())
    assert run.embedding.shape == (113, 128)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(p=10), "odd prime"),
        (dict(p=57), "odd prime"),
        (dict(train_fraction=1.0), "train_fraction"),
        (dict(model="cnn"), "model"),
        (dict(d_model=30, n_heads=4), "divisible"),
        (dict(p=7, n_key=4), "n_key"),
        (dict(init_scale=0.0), "init_scale"),
    ],
)
def test_bad_configs_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GrokkingConfig(**kwargs)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="p odd"):
        fourier_spectrum(torch.zeros(8, 3))
    with pytest.raises(TypeError):
        norm_fraction_in_top_k([[1.0]], 1)
    with pytest.raises(ValueError, match="logits"):
        restricted_loss(torch.zeros(10, 5), torch.zeros(25).long(), torch.ones(25).bool(), [1])
    with pytest.raises(ValueError, match="profile"):
        train_grokking("tpu")


@pytest.mark.parametrize("frequencies", [[], [0], [12], [2, 2], [1.0], 3])
def test_frequencies_outside_one_to_half_p_are_rejected(frequencies):
    logits = circuit_logits(23, [2, 5])
    _, labels, is_train = modular_addition(23, 0.5, seed=0)
    for measure in (restricted_loss, excluded_loss):
        with pytest.raises(ValueError, match="frequencies"):
            measure(logits, labels, is_train, frequencies)
    with pytest.raises(ValueError, match="frequencies"):
        cos_logit_fraction(logits, frequencies)


def test_until_test_acc_stops_at_the_first_evaluation_that_reaches_it():
    config = GrokkingConfig(
        p=23, model="mlp", d_model=32, d_mlp=128, lr=1e-3, steps=12, log_every=1,
        checkpoint_every=100, n_key=2,
    )  # fmt: skip
    full = train_grokking(config, seed=0, progress=False).history
    threshold = 0.025  # reached at step 1 or 2 (test accuracy falls from 0.045 as it memorises)
    stop = next(s for s, v in zip(full.step[1:], full.test_acc[1:], strict=True) if v >= threshold)
    run = train_grokking(config, seed=0, until_test_acc=threshold, progress=False)
    assert run.history.step[-1] == stop < config.steps
    assert run.history.checkpoint_step == [0, stop]
    assert torch.equal(run.embedding, run.embedding_at(-1))
