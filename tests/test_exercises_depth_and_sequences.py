"""Checkers of notebooks/02_depth_and_sequences: the notebook's hand-written backward pass gets full
marks, typical mistakes in it are rejected, and no expected value leaks into the messages."""

from __future__ import annotations

import pytest
import torch

from companion.course.exercises.depth_and_sequences import check_layer_gradient_norms

PHI = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


# --- references ---------------------------------------------------------------------------------


def _backward(weights, x, activation, *, d_phi_of=None, transpose_back=False, per_batch=True):
    """The notebook's backward pass, with switches for the mistakes below."""
    hs = [x]
    for w in weights:
        hs.append(PHI[activation](hs[-1] @ w.T))
    grad_h = hs[-1] / x.shape[0] if per_batch else hs[-1]
    norms = []
    for w, h_prev, h in zip(reversed(weights), reversed(hs[:-1]), reversed(hs[1:]), strict=True):
        if d_phi_of is not None:
            d_phi = d_phi_of(h, h_prev @ w.T)
        elif activation == "sigmoid":
            d_phi = h * (1 - h)
        elif activation == "tanh":
            d_phi = 1 - h**2
        else:
            d_phi = (h > 0).to(h.dtype)
        delta = grad_h * d_phi
        norms.append((delta.T @ h_prev).norm())
        grad_h = delta @ (w.T if transpose_back else w)
    return torch.stack(norms[::-1])


def my_layer_gradient_norms(weights, x, activation):
    """The notebook's solution."""
    return _backward(weights, x, activation)


def norms_from_pre_activations(weights, x, activation):
    """A different route: keep z_l and differentiate phi at z_l explicitly."""
    zs, h = [], x
    for w in weights:
        zs.append(h @ w.T)
        h = PHI[activation](zs[-1])
    grad_h = h / x.shape[0]
    out = [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        z = zs[i]
        if activation == "sigmoid":
            d = torch.sigmoid(z) * (1 - torch.sigmoid(z))
        elif activation == "tanh":
            d = 1 / torch.cosh(z) ** 2
        else:
            d = (z > 0).double()
        delta = grad_h * d
        h_prev = x if i == 0 else PHI[activation](zs[i - 1])
        out[i] = torch.linalg.matrix_norm(delta.T @ h_prev)
        grad_h = delta @ weights[i]
    return torch.stack(out)


# --- plausible wrong versions -------------------------------------------------------------------


def derivative_of_sigmoid_at_h(weights, x, activation):  # sigma'(h) instead of sigma'(z)
    if activation != "sigmoid":
        return _backward(weights, x, activation)
    return _backward(
        weights, x, activation, d_phi_of=lambda h, z: torch.sigmoid(h) * (1 - torch.sigmoid(h))
    )


def forgets_the_activation_derivative(weights, x, activation):  # treats phi' as 1
    return _backward(weights, x, activation, d_phi_of=lambda h, z: torch.ones_like(h))


def transposed_weights_on_the_way_back(weights, x, activation):  # delta @ W^T instead of delta @ W
    return _backward(weights, x, activation, transpose_back=True)


def last_layer_first(weights, x, activation):  # the norms in backward order
    return my_layer_gradient_norms(weights, x, activation).flip(0)


def forgets_the_batch_mean(weights, x, activation):  # dL/dh_L = h_L, the loss summed over the batch
    return _backward(weights, x, activation, per_batch=False)


def squared_norms(weights, x, activation):  # ||dL/dW||^2
    return my_layer_gradient_norms(weights, x, activation) ** 2


def test_the_reference_matches_autograd():
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(6, 6, generator=g, dtype=torch.float64) / 2 for _ in range(4)]
    x = torch.randn(5, 6, generator=g, dtype=torch.float64)
    for activation, phi in PHI.items():
        ws = [w.clone().requires_grad_() for w in weights]
        h = x
        for w in ws:
            h = phi(h @ w.T)
        grads = torch.autograd.grad(0.5 * (h**2).sum() / 5, ws)
        want = torch.stack([gr.norm() for gr in grads])
        for fn in (my_layer_gradient_norms, norms_from_pre_activations):
            torch.testing.assert_close(fn(weights, x, activation), want, rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "fn",
    [
        derivative_of_sigmoid_at_h,
        forgets_the_activation_derivative,
        transposed_weights_on_the_way_back,
        last_layer_first,
        forgets_the_batch_mean,
        squared_norms,
    ],
)
def test_wrong_backward_passes_are_rejected(fn):
    score = check_layer_gradient_norms(fn, verbose=False)
    assert score.passed < score.total, str(score)
    assert any("relative error" in m for m in score.messages), str(score)


def test_a_wrong_shape_and_a_non_tensor_are_reported():
    score = check_layer_gradient_norms(
        lambda w, x, a: my_layer_gradient_norms(w, x, a)[:-1], verbose=False
    )
    assert score.passed == 0 and "has shape" in score.messages[1], str(score)
    score = check_layer_gradient_norms(
        lambda w, x, a: my_layer_gradient_norms(w, x, a).tolist(), verbose=False
    )
    assert score.passed == 0 and "not a torch.Tensor" in score.messages[0], str(score)


def test_the_reference_passes_every_case():
    score = check_layer_gradient_norms(my_layer_gradient_norms, verbose=False)
    assert score.passed == score.total == 7, str(score)


# --- for tests/test_course.py: the notebook's solutions (the checker's argument order) and other right answers

REFERENCES = {"ex-depth-and-sequences-backward": (my_layer_gradient_norms,)}
OTHER_RIGHT_ANSWERS = [("ex-depth-and-sequences-backward", (norms_from_pre_activations,))]
