"""Checkers of notebooks/02_depth_and_sequences: the notebook's hand-written backward pass and its
measured first depth below 0.1% get full marks, typical mistakes are rejected, and no expected
value leaks into the messages."""

from __future__ import annotations

import math

import pytest
import torch

from companion.course.exercises.depth_and_sequences import (
    check_first_depth_below,
    check_layer_gradient_norms,
)

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


def uses_autograd(weights, x, activation):  # right numbers, but not the exercise: rejected
    ws = [w.clone().requires_grad_() for w in weights]
    h = x
    for w in ws:
        h = PHI[activation](h @ w.T)
    grads = torch.autograd.grad(0.5 * (h**2).sum() / x.shape[0], ws)
    return torch.stack([g.norm() for g in grads])


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


def test_an_autograd_answer_is_rejected():
    with torch.enable_grad():
        score = check_layer_gradient_norms(uses_autograd, verbose=False)
    assert score.passed == 0, str(score)
    assert torch.is_grad_enabled()


def test_the_checker_can_be_called_under_no_grad():
    """A learner's notebook may have turned autograd off; the checker's own reference needs it."""
    with torch.no_grad():
        score = check_layer_gradient_norms(my_layer_gradient_norms, verbose=False)
    assert score.passed == score.total > 0, str(score)


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


# --- the prediction: the first depth below a threshold ------------------------------------------


def init_sigmoid_weights(depth, seed=0, width=64):
    """The notebook's init_weights(depth, "sigmoid", seed): Xavier uniform, float64."""
    g = torch.Generator().manual_seed(seed)
    a = math.sqrt(6 / (2 * width))
    return [
        (torch.rand((width, width), generator=g, dtype=torch.float64) * 2 - 1) * a
        for _ in range(depth)
    ]


def my_first_depth_below(threshold, seed=0):
    """The notebook's solution: measured with the hand-written backward pass."""
    x = torch.randn(
        128, 64, generator=torch.Generator().manual_seed(1000 + seed), dtype=torch.float64
    )
    for depth in range(2, 31):
        norms = my_layer_gradient_norms(init_sigmoid_weights(depth, seed), x, "sigmoid")
        if norms[0] / norms[-1] < threshold:
            return depth
    return None


def first_depth_by_autograd(threshold):
    """Another route: autograd, and log10 of the ratio against log10 of the threshold."""
    x = torch.randn(128, 64, generator=torch.Generator().manual_seed(1000), dtype=torch.float64)
    depth = 1
    while True:
        depth += 1
        ws = [w.requires_grad_() for w in init_sigmoid_weights(depth)]
        h = x
        for w in ws:
            h = torch.sigmoid(h @ w.T)
        (0.5 * (h**2).sum() / 128).backward()
        if math.log10(ws[0].grad.norm() / ws[-1].grad.norm()) < math.log10(threshold):
            return depth


def always_4(threshold):  # the 1% answer, whatever the threshold
    return 4


def always_5(threshold):  # the prediction, not measured
    return 5


def always_6(threshold):
    return 6


def last_depth_above(threshold):  # off by one: the last depth still above the threshold
    return my_first_depth_below(threshold) - 1


def one_too_deep(threshold):
    return my_first_depth_below(threshold) + 1


def as_a_float(threshold):
    return float(my_first_depth_below(threshold))


def test_the_first_depth_below_one_per_mille_is_5_in_six_seeds():
    assert [my_first_depth_below(1e-3, seed) for seed in range(6)] == [5] * 6
    assert my_first_depth_below(1e-2) == 4  # the old 1% question: 3 in four of the six seeds
    assert [my_first_depth_below(1e-2, seed) for seed in range(6)].count(3) == 4
    score = check_first_depth_below(my_first_depth_below, verbose=False)
    assert score.passed == score.total == 4, str(score)


@pytest.mark.parametrize(
    "fn", [always_4, always_5, always_6, last_depth_above, one_too_deep, as_a_float]
)
def test_wrong_first_depths_are_rejected(fn):
    score = check_first_depth_below(fn, verbose=False)
    assert score.passed < score.total, str(score)


def test_the_first_depth_messages_give_a_direction_not_the_answer():
    score = check_first_depth_below(always_4, verbose=False)
    assert any("too shallow" in m for m in score.messages), str(score)
    score = check_first_depth_below(always_6, verbose=False)
    assert any("too deep" in m for m in score.messages), str(score)


# --- for tests/test_course.py: the notebook's solutions, in the checker's argument order, and
# other right answers

REFERENCES = {
    "ex-depth-and-sequences-backward": (my_layer_gradient_norms,),
    "ex-depth-and-sequences-first-depth": (my_first_depth_below,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-depth-and-sequences-backward", (norms_from_pre_activations,)),
    ("ex-depth-and-sequences-first-depth", (first_depth_by_autograd,)),
]
