"""Checker of notebooks/01_backprop: the hand-written backward pass gets full marks (batched or one
example at a time), autograd is refused (the exercise forbids it), and typical mistakes are
rejected without the expected values being shown."""

from __future__ import annotations

import re

import pytest
import torch

from companion.course.exercises.backprop import check_mlp_backward, mlp_loss

# --- the notebook's solution, and a differently written right answer -------------------------------


def my_mlp_backward(x, y, W1, b1, W2, b2):
    """The batched backward pass: rows of delta are the examples' delta vectors."""
    n = x.shape[0]
    z1 = x @ W1.T + b1  # (N, hidden)
    a1 = torch.sigmoid(z1)
    z2 = a1 @ W2.T + b2  # (N, 1)
    delta2 = (torch.sigmoid(z2) - y[:, None]) / n  # (N, 1): dL/dz2 for BCE on a sigmoid
    dW2 = delta2.T @ a1  # (1, hidden)
    db2 = delta2.sum(0)  # (1,)
    delta1 = (delta2 @ W2) * a1 * (1 - a1)  # (N, hidden): W2^T delta2, times sigma'(z1)
    dW1 = delta1.T @ x  # (hidden, d_in)
    db1 = delta1.sum(0)  # (hidden,)
    return dW1, db1, dW2, db2


def autograd_backward(x, y, W1, b1, W2, b2):  # not the exercise: refused under no_grad
    params = [t.clone().requires_grad_(True) for t in (W1, b1, W2, b2)]
    return tuple(torch.autograd.grad(mlp_loss(x, y, *params), params))


def tensor_backward_call(x, y, W1, b1, W2, b2):  # the same, with .backward()
    params = [t.clone().requires_grad_(True) for t in (W1, b1, W2, b2)]
    mlp_loss(x, y, *params).backward()
    return tuple(p.grad for p in params)


def per_example_backward(x, y, W1, b1, W2, b2):
    """One example at a time, column vectors as in the chapter's derivation, then averaged."""
    grads = [torch.zeros_like(t) for t in (W1, b1, W2, b2)]
    for xn, yn in zip(x, y, strict=True):
        a0 = xn[:, None]  # (d_in, 1)
        a1 = torch.sigmoid(W1 @ a0 + b1[:, None])  # (hidden, 1)
        d2 = torch.sigmoid(W2 @ a1 + b2[:, None]) - yn  # (1, 1)
        d1 = (W2.T @ d2) * a1 * (1 - a1)  # (hidden, 1)
        for g, new in zip(grads, (d1 @ a0.T, d1[:, 0], d2 @ a1.T, d2[:, 0]), strict=True):
            g += new / len(x)
    return tuple(grads)


# --- plausible wrong versions ------------------------------------------------------------------


def sigma_prime_of_a(x, y, W1, b1, W2, b2):  # sigma'(a1) = sigma(a1)(1 - sigma(a1)), not sigma'(z1)
    a1 = torch.sigmoid(x @ W1.T + b1)
    delta2 = (torch.sigmoid(a1 @ W2.T + b2) - y[:, None]) / x.shape[0]
    s = torch.sigmoid(a1)
    delta1 = (delta2 @ W2) * s * (1 - s)
    return delta1.T @ x, delta1.sum(0), delta2.T @ a1, delta2.sum(0)


def no_batch_mean(x, y, W1, b1, W2, b2):  # the gradient of the sum, not of the mean
    return tuple(g * x.shape[0] for g in my_mlp_backward(x, y, W1, b1, W2, b2))


def bias_mean_not_sum(x, y, W1, b1, W2, b2):  # averages delta over the batch a second time
    a1 = torch.sigmoid(x @ W1.T + b1)
    delta2 = (torch.sigmoid(a1 @ W2.T + b2) - y[:, None]) / x.shape[0]
    delta1 = (delta2 @ W2) * a1 * (1 - a1)
    return delta1.T @ x, delta1.mean(0), delta2.T @ a1, delta2.mean(0)


def transposed_weight_gradient(x, y, W1, b1, W2, b2):  # x^T delta1: (d_in, hidden), transposed
    dW1, db1, dW2, db2 = my_mlp_backward(x, y, W1, b1, W2, b2)
    return dW1.T, db1, dW2, db2


def forgets_sigma_prime(x, y, W1, b1, W2, b2):  # delta1 = W2^T delta2, no sigma'(z1)
    a1 = torch.sigmoid(x @ W1.T + b1)
    delta2 = (torch.sigmoid(a1 @ W2.T + b2) - y[:, None]) / x.shape[0]
    delta1 = delta2 @ W2
    return delta1.T @ x, delta1.sum(0), delta2.T @ a1, delta2.sum(0)


def squared_error_delta(x, y, W1, b1, W2, b2):  # the delta of MSE, (yhat - y) yhat (1 - yhat)
    a1 = torch.sigmoid(x @ W1.T + b1)
    yhat = torch.sigmoid(a1 @ W2.T + b2)
    delta2 = (yhat - y[:, None]) * yhat * (1 - yhat) / x.shape[0]
    delta1 = (delta2 @ W2) * a1 * (1 - a1)
    return delta1.T @ x, delta1.sum(0), delta2.T @ a1, delta2.sum(0)


def returns_a_list_of_three(x, y, W1, b1, W2, b2):
    return list(my_mlp_backward(x, y, W1, b1, W2, b2))[:3]


REFERENCES = {"ex-backprop-mlp-backward": (my_mlp_backward,)}
OTHER_RIGHT_ANSWERS = [("ex-backprop-mlp-backward", (per_example_backward,))]


@pytest.mark.parametrize(("label", "fns"), OTHER_RIGHT_ANSWERS)
def test_right_answers_get_full_marks(label, fns):
    for fn in (my_mlp_backward, *fns):
        score = check_mlp_backward(fn, verbose=False)
        assert score.passed == score.total == 8, str(score)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (sigma_prime_of_a, "dW1 differs (max error"),
        (no_batch_mean, "differs (max error"),
        (bias_mean_not_sum, "db1 differs (max error"),
        (forgets_sigma_prime, "dW1 differs (max error"),
        (squared_error_delta, "differs (max error"),
        (returns_a_list_of_three, "must return a tuple of four tensors"),
        (autograd_backward, "raised RuntimeError"),
        (tensor_backward_call, "raised RuntimeError"),
    ],
)
def test_wrong_backward_passes_are_rejected(fn, message):
    score = check_mlp_backward(fn, verbose=False)
    assert score.passed < score.total, str(score)
    assert any(message in m for m in score.messages), str(score)
    assert "tensor(" not in str(score)


def test_a_transposed_weight_gradient_fails_on_its_shape_or_its_values():
    score = check_mlp_backward(transposed_weight_gradient, verbose=False)
    assert score.passed == 0, str(score)
    for m in score.messages:
        d_in, hidden = re.search(r"d_in (\d+), hidden (\d+)", m).groups()
        assert ("dW1 differs" if d_in == hidden else "dW1 has shape") in m, m


def test_no_batch_mean_passes_only_with_one_example():
    score = check_mlp_backward(no_batch_mean, verbose=False)
    for m in score.messages:
        assert ("passed" in m) == ("N 1," in m), m
