"""companion.compression: int8 round trip within s/2 per channel, quantized models close to the
float ones and smaller, magnitude pruning zeroes exactly the smallest weights."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from companion.compression import (
    QuantizedLinear,
    dequantize,
    magnitude_prune,
    model_bytes,
    quantize_int8,
    quantize_model,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_int8_round_trip_error_is_at_most_half_a_step_per_channel(dtype):
    torch.manual_seed(0)
    w = torch.randn(16, 40, dtype=dtype) * torch.logspace(-3, 1, 16, dtype=dtype)[:, None]
    q, scale = quantize_int8(w)
    assert q.dtype == torch.int8 and q.shape == w.shape and scale.shape == (16,)
    assert scale.dtype == dtype and q.abs().max() <= 127
    torch.testing.assert_close(scale, w.abs().amax(1) / 127)
    err = (dequantize(q, scale) - w).abs().amax(1)  # (16,)
    assert (err <= scale / 2 * (1 + 1e-6)).all()
    assert (q.abs().amax(1) == 127).all()  # each row's largest weight uses the whole range


def test_zero_rows_and_exact_values():
    w = torch.tensor([[0.0, 0.0, 0.0], [1.27, -0.635, 0.01]])
    q, scale = quantize_int8(w)
    assert q[0].tolist() == [0, 0, 0] and scale[0] == 1
    assert q[1].tolist() == [127, -64, 1]  # -63.5 rounds half to even: -64
    assert torch.equal(dequantize(q, scale)[0], torch.zeros(3))


def test_quantized_linear_is_close_to_the_float_one_and_stores_int8():
    torch.manual_seed(1)
    lin = nn.Linear(64, 32)
    ql = QuantizedLinear(lin)
    x = torch.randn(5, 64)
    assert ql.q.dtype == torch.int8 and not list(ql.parameters())
    err = (ql(x) - lin(x)).abs().max()
    bound = (x.abs().sum(1, keepdim=True) * ql.scale / 2).max()  # |x| . (s/2) per output
    assert 0 < err <= bound
    torch.testing.assert_close(ql(x), lin(x), atol=2e-2, rtol=0)


def test_quantize_model_replaces_every_linear_and_shrinks_it():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10), nn.LayerNorm(10))
    x = torch.randn(4, 100)
    before, size = model(x), model_bytes(model)
    assert size == 4 * (100 * 50 + 50 + 50 * 10 + 10 + 20)
    assert quantize_model(model) == 2
    assert all(not isinstance(m, nn.Linear) for m in model.modules())
    assert model_bytes(model) == (100 * 50 + 50 * 10) + 4 * (50 + 10) + 4 * (50 + 10 + 20)
    torch.testing.assert_close(model(x), before, atol=5e-2, rtol=0)


def test_model_bytes_counts_shared_tensors_once():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, lin)
    assert model_bytes(model) == 4 * 12


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9])
def test_magnitude_prune_zeroes_the_smallest_weights(scope, sparsity):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(20, 30), nn.Linear(30, 5))
    with torch.no_grad():
        model[1].weight.mul_(10)  # a layer of larger weights: global and per-layer differ
    weights = [m.weight.detach().clone() for m in model]
    biases = [m.bias.detach().clone() for m in model]
    got = magnitude_prune(model, sparsity, scope=scope)
    n = sum(w.numel() for w in weights)
    zeros = [int((m.weight == 0).sum()) for m in model]
    assert got == pytest.approx(sum(zeros) / n)
    if scope == "layer":
        assert zeros == [round(sparsity * w.numel()) for w in weights]
    else:
        assert sum(zeros) == round(sparsity * n)
        kept = torch.cat([m.weight[m.weight != 0].abs() for m in model])
        dropped = torch.cat([w[m.weight == 0].abs() for w, m in zip(weights, model, strict=True)])
        if len(dropped) and len(kept):
            assert dropped.max() <= kept.min()
    for w, m in zip(weights, model, strict=True):  # the kept weights are unchanged
        assert torch.equal(m.weight[m.weight != 0], w[m.weight != 0])
    for b, m in zip(biases, model, strict=True):
        assert torch.equal(m.bias, b)
    if sparsity == 0.9 and scope == "global":
        assert zeros[1] < zeros[0] * 5 / 20  # the large layer keeps more than its share


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: quantize_int8(torch.ones(3)), TypeError, "must be a 2-D floating-point"),
        (lambda: quantize_int8(torch.ones(2, 2, dtype=torch.long)), TypeError, "2-D floating"),
        (lambda: dequantize(torch.ones(2, 2), torch.ones(2)), TypeError, "an int8 (d_out, d_in)"),
        (lambda: QuantizedLinear(nn.Conv1d(1, 1, 1)), TypeError, "must be an nn.Linear"),
        (lambda: magnitude_prune(nn.Linear(2, 2), 1.0), ValueError, "sparsity=1.0 must be"),
        (lambda: magnitude_prune(nn.Linear(2, 2), 0.5, scope="row"), ValueError, "scope='row'"),
        (lambda: magnitude_prune(nn.ReLU(), 0.5), ValueError, "a model with nn.Linear layers"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_ties_at_the_threshold_are_broken_by_position():
    model = nn.Linear(4, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [2.0, 1.0, 3.0, 1.0]]))
    assert magnitude_prune(model, 0.5) == 0.5
    assert model.weight.tolist() == [[0.0, 0.0, 0.0, 0.0], [2.0, 1.0, 3.0, 1.0]]
