"""companion.metrics for confidences (chapter 71): AUROC equals scikit-learn's roc_auc_score on
random inputs, tied scores included; the expected calibration error equals a loop written from
Guo et al.'s formula, and its bins equal scikit-learn's calibration_curve; the bootstrap keeps
pairs and is reproducible; the reliability diagram draws the bins. scikit-learn is a test
dependency only."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

from companion.metrics import (
    Interval,
    auroc,
    bootstrap_interval,
    expected_calibration_error,
    reliability_bins,
)
from companion.viz import plot_reliability_diagram

matplotlib.use("Agg")  # no display: draw into memory

# --- AUROC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_auroc_equals_scikit_learn_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]  # both classes
    scores = rng.normal(size=n) + labels * rng.uniform(0, 2)
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_auroc_equals_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 300))
    labels = rng.integers(0, 2, n).astype(bool)
    labels[:2] = [False, True]
    scores = rng.integers(0, int(rng.integers(1, 6)), n).astype(float)  # few distinct values
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auroc_by_hand_and_on_tensors():
    # positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9 > 0.5, 0.9 > 0.1, 0.5 = 0.5, 0.5 > 0.1)
    assert auroc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)
    assert auroc(torch.tensor([0.2, 0.8]), torch.tensor([False, True])) == 1.0
    assert auroc([0.2, 0.8], [1, 0]) == 0.0
    assert auroc([1.0, 1.0, 1.0], [1, 0, 1]) == 0.5  # every pair tied


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, 0.2], [1, 1], "only one class"),
        ([0.1, 0.2], [0, 1, 1], "two 1-D arrays"),
        ([0.1, float("nan")], [0, 1], "finite"),
        ([0.1, 0.2], [0, 2], "0/1 or bool"),
    ],
)
def test_auroc_rejects_bad_input(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        auroc(scores, labels)


# --- the expected calibration error ---------------------------------------------------------------


def reference_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """Guo et al.'s formula as a loop: bins (lo, hi], sum over bins of |B|/n |acc - conf|."""
    confidence, prediction = probs.max(axis=1), probs.argmax(axis=1)
    total = 0.0
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        members = [i for i in range(len(labels)) if lo < confidence[i] <= hi]
        if members:
            accuracy = sum(prediction[i] == labels[i] for i in members) / len(members)
            mean_confidence = sum(confidence[i] for i in members) / len(members)
            total += len(members) / len(labels) * abs(accuracy - mean_confidence)
    return total


def random_probs(seed: int, n: int, k: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(k, p=row) for row in p])
    q = np.exp(scale * z) / np.exp(scale * z).sum(1, keepdims=True)
    return q, labels


@pytest.mark.parametrize(
    ("seed", "n", "k", "scale", "n_bins"),
    [(0, 500, 3, 3.0, 15), (1, 500, 10, 0.3, 15), (2, 300, 2, 1.0, 10), (3, 9, 4, 2.0, 15), (4, 1000, 5, 1.5, 7)],
)  # fmt: skip
def test_ece_equals_the_formula_on_random_probabilities(seed, n, k, scale, n_bins):
    probs, labels = random_probs(seed, n, k, scale)
    got = expected_calibration_error(probs, labels, n_bins)
    assert got == pytest.approx(reference_ece(probs, labels, n_bins), abs=1e-12)
    assert expected_calibration_error(torch.tensor(probs), torch.tensor(labels), n_bins) == got


def test_ece_by_hand_and_its_edge_cases():
    # the by-hand exercise of chapter 71: 10 answers, 5 bins, ECE 0.135 (0.06 + 0.015 + 0.06)
    c = np.array([0.95, 0.9, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.55, 0.45])
    right = np.array([1, 1, 0, 1, 1, 0, 1, 1, 0, 0])
    probs = np.stack([c, (1 - c) / 2, (1 - c) / 2], axis=1)
    assert expected_calibration_error(probs, 1 - right, n_bins=5) == pytest.approx(0.135)
    one_hot = np.eye(3)[[0, 1, 2, 0]]  # confidence exactly 1 lands in the last bin
    assert expected_calibration_error(one_hot, np.array([0, 1, 2, 0])) == 0.0
    assert expected_calibration_error(one_hot, np.array([1, 1, 2, 0])) == pytest.approx(0.25)
    # confidences exactly on the edges k/5 count in the bin that closes there: 0.6 in (0.4, 0.6]
    edges = np.array([[0.6, 0.4], [0.6, 0.4], [0.8, 0.2], [1.0, 0.0]])
    # bin (0.4, 0.6]: conf 0.6, acc 1/2; bin (0.6, 0.8]: conf 0.8, acc 1; bin (0.8, 1]: exact
    want = 2 / 4 * abs(0.5 - 0.6) + 1 / 4 * abs(1.0 - 0.8)
    got = expected_calibration_error(edges, np.array([0, 1, 0, 0]), n_bins=5)
    assert got == pytest.approx(want)
    # calibrated by construction: confidence 0.75 in every row, 3 of 4 right
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)


def test_reliability_bins_equal_scikit_learns_calibration_curve():
    # two classes with p(class 1) >= 1/2: the confidence is p1, and "right" is label 1, so the
    # top-label bins are calibration_curve's bins of (label, p1), which also close on the right
    rng = np.random.default_rng(5)
    p1 = rng.uniform(0.5, 1.0, 2000)
    labels = (rng.uniform(size=2000) < p1**2).astype(int)
    bins = reliability_bins(np.stack([1 - p1, p1], axis=1), labels, n_bins=10)
    prob_true, prob_pred = calibration_curve(labels, p1, n_bins=10, strategy="uniform")
    full = bins.count > 0
    np.testing.assert_allclose(bins.accuracy[full], prob_true, atol=1e-12)
    np.testing.assert_allclose(bins.confidence[full], prob_pred, atol=1e-12)
    assert bins.count.sum() == 2000 and len(bins.edges) == 11
    assert np.isnan(bins.accuracy[~full]).all()  # the bins below 1/2 are empty


@pytest.mark.parametrize("seed", range(5))
def test_binary_ece_equals_the_one_built_from_scikit_learns_calibration_curve(seed):
    # two classes, class 1 always predicted (p1 > 1/2): the top-label ECE is then the binary ECE
    # of Naeini et al., sum_m n_m / n |prob_true - prob_pred| over calibration_curve's bins; the
    # probabilities are continuous, so none falls on an edge where np.histogram's [lo, hi) bins
    # and calibration_curve's (lo, hi] ones would disagree
    rng = np.random.default_rng(50 + seed)
    n, n_bins = int(rng.integers(50, 3000)), int(rng.integers(3, 20))
    p1 = rng.uniform(0.5, 1.0, n)
    labels = (rng.uniform(size=n) < p1 ** rng.uniform(0.5, 2)).astype(int)  # mis-calibrated
    prob_true, prob_pred = calibration_curve(labels, p1, n_bins=n_bins, strategy="uniform")
    counts, _ = np.histogram(p1, bins=np.linspace(0, 1, n_bins + 1))
    counts = counts[counts > 0]  # calibration_curve drops the empty bins
    want = np.sum(counts / n * np.abs(prob_true - prob_pred))
    got = expected_calibration_error(np.stack([1 - p1, p1], axis=1), labels, n_bins=n_bins)
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize(
    ("probs", "labels", "message"),
    [
        (np.array([0.2, 0.8]), np.array([1]), "shape \\(n, n_classes\\)"),
        (np.array([[1.2, -0.2]]), np.array([0]), "probabilities in \\[0, 1\\]"),
        (np.array([[0.5, 0.5]]), np.array([0.0]), "integer class ids"),
        (np.array([[0.5, 0.5]]), np.array([2]), "ids in \\[0, 2\\)"),
    ],
)
def test_ece_rejects_bad_input(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, labels)


def test_ece_rejects_a_bad_bin_count():
    with pytest.raises(ValueError, match="n_bins=0 must be a positive int"):
        expected_calibration_error(np.array([[0.5, 0.5]]), np.array([0]), n_bins=0)


# --- the bootstrap --------------------------------------------------------------------------------


def test_bootstrap_interval_of_a_mean_matches_the_normal_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    iv = bootstrap_interval(np.mean, x, n_resamples=2000, seed=1)
    half = 1.96 * x.std() / np.sqrt(len(x))
    assert iv.estimate == pytest.approx(x.mean())
    assert iv.low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert iv.high == pytest.approx(x.mean() + half, abs=0.15 * half)
    assert isinstance(iv, Interval) and iv.level == 0.95 and str(iv).count("[") == 1


def test_bootstrap_resamples_the_arrays_as_pairs_and_is_reproducible():
    rng = np.random.default_rng(1)
    scores, labels = rng.normal(size=300), rng.integers(0, 2, 300)

    def difference(a, b, y):
        return auroc(a, y) - auroc(b, y)

    same = bootstrap_interval(difference, scores, scores.copy(), labels, n_resamples=200)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)  # the pairs stay together
    a = bootstrap_interval(auroc, scores, labels, n_resamples=200, seed=3)
    b = bootstrap_interval(
        auroc, torch.tensor(scores), torch.tensor(labels), n_resamples=200, seed=3
    )
    assert a == b and a.low < a.estimate < a.high


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one array"):
        bootstrap_interval(np.mean)
    with pytest.raises(ValueError, match="non-empty arrays of one length"):
        bootstrap_interval(np.mean, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="level=1.5"):
        bootstrap_interval(np.mean, np.ones(3), level=1.5)


# --- the reliability diagram ----------------------------------------------------------------------


def test_reliability_diagram_draws_a_bar_and_a_gap_per_full_bin():
    probs, labels = random_probs(0, 300, 3, 3.0)
    bins = reliability_bins(probs, labels)
    fig = plot_reliability_diagram(bins, title="before")
    ax = fig.axes[0]
    full = bins.count > 0
    bars = ax.patches
    assert len(bars) == 2 * full.sum()
    heights = [b.get_height() for b in bars[: full.sum()]]
    np.testing.assert_allclose(heights, bins.accuracy[full])
    tops = [b.get_y() + b.get_height() for b in bars[full.sum() :]]
    np.testing.assert_allclose(tops, bins.confidence[full])
    assert ax.get_title() == "before" and ax.get_xlabel().startswith("confidence")
    labels_shown = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels_shown == [
        "accuracy", "gap: over-confident", "gap: under-confident", "perfect calibration"
    ]  # fmt: skip
    plt.close(fig)
    with pytest.raises(TypeError, match="reliability_bins"):
        plot_reliability_diagram(np.zeros(3))


def test_reliability_diagram_colours_gaps_by_sign_and_counts_the_bins():
    # under-confident rows (scale 0.3) and over-confident ones (scale 3) in one set of bins
    over, y_over = random_probs(1, 2000, 3, 3.0)
    under, y_under = random_probs(2, 2000, 3, 0.3)
    bins = reliability_bins(np.r_[over, under], np.r_[y_over, y_under], n_bins=10)
    fig, (ax, counts_ax) = plt.subplots(2, 1)
    plot_reliability_diagram(bins, ax=ax, counts_ax=counts_ax)
    full = bins.count > 0
    gaps = ax.patches[full.sum() :]
    sign = bins.confidence[full] > bins.accuracy[full]
    assert sign.any() and not sign.all()  # both kinds of gap occur
    for patch, over_confident in zip(gaps, sign, strict=True):
        # over: an opaque light red above the bar; under: no fill on the bar (no purple mixing)
        want = (0.97, 0.78, 0.78, 1.0) if over_confident else (0.0, 0.0, 0.0, 0.0)
        np.testing.assert_allclose(patch.get_facecolor(), want)
        assert patch.get_hatch() == "//"
    np.testing.assert_allclose([b.get_height() for b in counts_ax.patches], bins.count[full])
    assert counts_ax.get_yscale() == "log" and counts_ax.get_xlabel().startswith("confidence")
    plt.close(fig)
