"""The checkers of chapter 71 (companion.course.exercises.self_knowledge): the notebook's solutions
and right answers written differently get full marks; plausible mistakes are rejected, on the
public cases and on the grader's hidden ones. The shared contract is tests/test_course.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar

from companion.course.core import hidden_cases
from companion.course.exercises.self_knowledge import (
    check_expected_calibration_error,
    check_fit_temperature,
)

# --- the expected calibration error -----------------------------------------------------------


def my_expected_calibration_error(probs, labels, n_bins=15):
    """The notebook's solution: a loop over the (lo, hi] bins."""
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            gap = correct[in_bin].mean() - confidence[in_bin].mean()
            ece += in_bin.double().mean() * gap.abs()
    return float(ece)


def bucketized_ece(probs, labels, n_bins=15):
    """Right, written another way: bin indices from torch.bucketize, sums from index_add_."""
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    which = (torch.bucketize(confidence, edges, right=False) - 1).clamp(0, n_bins - 1)
    count = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, which, torch.ones_like(correct))
    gap = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, which, correct - confidence)
    return (gap.abs().sum() / count.sum()).item()  # sum_m |sum_B (acc - conf)| / n


def make_wrong_ece(weighted=True, absolute=True, true_class=False, floor_bins=False, bins=None):
    def ece(probs, labels, n_bins=15):
        n_bins = bins or n_bins
        if true_class:  # the probability of the true class, not of the prediction
            confidence = probs.gather(1, labels[:, None])[:, 0]
        else:
            confidence = probs.max(dim=1).values
        correct = (probs.argmax(dim=1) == labels).double()
        if floor_bins:  # [lo, hi) bins
            which = (confidence * n_bins).floor().long().clamp(max=n_bins - 1)
        else:
            edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
            which = (torch.bucketize(confidence, edges) - 1).clamp(0, n_bins - 1)
        gaps, weights = [], []
        for m in range(n_bins):
            in_bin = which == m
            if in_bin.any():
                gaps.append(correct[in_bin].mean() - confidence[in_bin].mean())
                weights.append(in_bin.double().mean())
        gaps, weights = torch.stack(gaps), torch.stack(weights)
        if absolute:
            gaps = gaps.abs()
        if not weighted:
            return gaps.mean().item()
        return (weights * gaps).sum().abs().item()

    return ece


WRONG_ECE = {
    "an unweighted mean over the bins": make_wrong_ece(weighted=False),
    "signed gaps (no absolute value)": make_wrong_ece(absolute=False),
    "the true class's probability as the confidence": make_wrong_ece(true_class=True),
    "[lo, hi) bins": make_wrong_ece(floor_bins=True),
    "always 15 bins, whatever n_bins says": make_wrong_ece(bins=15),
    "computed in float32": lambda probs, labels, n_bins=15: my_expected_calibration_error(
        probs.float(), labels, n_bins
    ),
}


@pytest.mark.parametrize("fn", [my_expected_calibration_error, bucketized_ece, make_wrong_ece()])
@pytest.mark.parametrize("seed", [None, 7])
def test_right_eces_pass(fn, seed):
    with hidden_cases(seed):
        score = check_expected_calibration_error(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize("name", WRONG_ECE)
@pytest.mark.parametrize("seed", [None, 7])
def test_wrong_eces_fail(name, seed):
    with hidden_cases(seed):
        score = check_expected_calibration_error(WRONG_ECE[name], verbose=False)
    assert score.passed < score.total, name


def test_the_edge_case_catches_bins_closed_on_the_left_and_names_float64():
    score = check_expected_calibration_error(WRONG_ECE["[lo, hi) bins"], verbose=False)
    edges = [m for m in score.messages if "exactly on the edges k/15" in m]
    assert len(edges) == 1 and "wrong ECE" in edges[0] and "float64" in edges[0]
    right = check_expected_calibration_error(my_expected_calibration_error, verbose=False)
    assert any("exactly on the edges k/15" in m and m.endswith("passed") for m in right.messages)


# --- the temperature ----------------------------------------------------------------------------


def my_fit_temperature(logits, labels):
    """The notebook's solution: L-BFGS on log T."""
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_t.exp().item()


def brent_temperature(logits, labels):
    """Right, written another way: scipy's bounded scalar minimizer on log T."""

    def nll(log_t):
        return F.cross_entropy(logits / math.exp(log_t), labels).item()

    return math.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x)


def inverse_temperature(logits, labels):
    """Wrong: multiplies the logits by T, so it returns 1 / T*."""
    return 1 / my_fit_temperature(logits, labels)


def at_least_one(logits, labels):
    """Wrong: assumes every network is over-confident and never sharpens."""
    return max(1.0, my_fit_temperature(logits, labels))


def few_gradient_steps(logits, labels):
    """Wrong: plain gradient descent on T, stopped long before it converges."""
    t = torch.ones((), dtype=torch.float64, requires_grad=True)
    for _ in range(20):
        loss = F.cross_entropy(logits / t, labels)
        (grad,) = torch.autograd.grad(loss, t)
        with torch.no_grad():
            t -= 0.01 * grad
    return t.item()


def brier_temperature(logits, labels):
    """Wrong: minimizes the Brier score (squared error of the probabilities), not the NLL."""

    def brier(log_t):
        p = (logits / math.exp(log_t)).softmax(-1)
        return ((p - F.one_hot(labels, p.shape[1])) ** 2).sum(-1).mean().item()

    return math.exp(minimize_scalar(brier, bounds=(-5, 5), method="bounded").x)


def on_probabilities(logits, labels):
    """Wrong: scales the probabilities, softmax(softmax(z) / T), instead of the logits."""
    probs = logits.softmax(-1)
    return brent_temperature(probs, labels)


WRONG_TEMPERATURE = {
    "1 / T (multiplies the logits)": inverse_temperature,
    "never below 1": at_least_one,
    "20 steps of gradient descent": few_gradient_steps,
    "the Brier score's minimizer": brier_temperature,
    "scales the probabilities, not the logits": on_probabilities,
}


@pytest.mark.parametrize("fn", [my_fit_temperature, brent_temperature])
@pytest.mark.parametrize("seed", [None, 7])
def test_right_temperatures_pass(fn, seed):
    with hidden_cases(seed):
        score = check_fit_temperature(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize("name", WRONG_TEMPERATURE)
@pytest.mark.parametrize("seed", [None, 7])
def test_wrong_temperatures_fail(name, seed):
    with hidden_cases(seed):
        score = check_fit_temperature(WRONG_TEMPERATURE[name], verbose=False)
    assert score.passed < score.total, name


def test_a_returned_tensor_counts_as_a_number_and_nonsense_does_not():
    def as_tensor(logits, labels):
        return torch.tensor(my_fit_temperature(logits, labels))

    assert check_fit_temperature(as_tensor, verbose=False).score == 1.0
    for bad in ("1.0", float("nan"), -1.0, None):
        score = check_fit_temperature(lambda z, y, bad=bad: bad, verbose=False)
        assert score.passed == 0, bad


REFERENCES = {
    "ex-self-knowledge-ece": (my_expected_calibration_error,),
    "ex-self-knowledge-temperature": (my_fit_temperature,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-self-knowledge-ece", (bucketized_ece,)),
    ("ex-self-knowledge-temperature", (brent_temperature,)),
]
