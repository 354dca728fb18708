"""companion.lora: LoRALinear starts equal to its base, trains only A and B, merges exactly."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from companion.lora import LoRALinear, apply_lora, merge_lora
from companion.models import Encoder, TransformerConfig, num_parameters


def small_encoder() -> Encoder:
    torch.manual_seed(0)
    return Encoder(TransformerConfig(vocab_size=20, d_model=16, n_heads=2, d_ff=32, n_layers=2))


def test_a_new_lora_layer_computes_exactly_what_its_base_computes():
    torch.manual_seed(0)
    base = nn.Linear(7, 5)
    layer = LoRALinear(base, r=3, alpha=6.0)
    x = torch.randn(2, 4, 7)
    assert torch.equal(layer(x), base(x))  # B = 0: exact, not approximate
    assert torch.equal(layer.lora_B, torch.zeros(5, 3))
    assert layer.lora_A.abs().sum() > 0 and layer.lora_A.shape == (3, 7)
    bound = 1 / 7**0.5  # kaiming_uniform_(a=sqrt(5)) draws from U(-1/sqrt(d_in), 1/sqrt(d_in))
    assert layer.lora_A.abs().max() <= bound


def test_forward_is_the_equation():
    torch.manual_seed(1)
    layer = LoRALinear(nn.Linear(6, 4), r=2, alpha=8.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(3, 6)
    W, b, A, B = layer.base.weight, layer.base.bias, layer.lora_A, layer.lora_B
    torch.testing.assert_close(layer(x), x @ W.T + b + 4.0 * (x @ A.T @ B.T))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_merge_gives_a_plain_linear_with_the_same_outputs(dtype):
    torch.manual_seed(2)
    layer = LoRALinear(nn.Linear(12, 9, dtype=dtype), r=4, alpha=16.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(5, 12, dtype=dtype)
    merged = layer.merge()
    assert type(merged) is nn.Linear and merged.weight.dtype == dtype
    tol = {torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(merged(x), layer(x), atol=tol, rtol=0)
    assert not torch.allclose(merged(x), layer.base(x), atol=1e-2)  # the update is really in W


def test_merge_without_bias():
    layer = LoRALinear(nn.Linear(5, 5, bias=False), r=1, alpha=1.0)
    with torch.no_grad():
        layer.lora_B.fill_(0.3)
    x = torch.randn(2, 5)
    assert layer.merge().bias is None
    torch.testing.assert_close(layer.merge()(x), layer(x))


def test_gradients_reach_only_A_B_and_the_head():
    encoder = small_encoder()
    head = nn.Linear(16, 2)
    names = apply_lora(encoder, ("q_proj", "v_proj"), r=2, alpha=4.0)
    assert names == [f"layers.{i}.self_attn.{p}" for i in range(2) for p in ("q_proj", "v_proj")]
    with torch.no_grad():  # so that A gets a gradient too (dL/dA = 0 while B = 0)
        for n, p in encoder.named_parameters():
            if n.endswith("lora_B"):
                p.normal_()
    loss = head(encoder(torch.randint(20, (3, 5))).mean(1)).sum()
    loss.backward()
    for n, p in encoder.named_parameters():
        is_lora = n.endswith(("lora_A", "lora_B"))
        assert p.requires_grad == is_lora, n
        assert (p.grad is not None and p.grad.abs().sum() > 0) == is_lora, n
    assert all(p.grad is not None for p in head.parameters())
    assert num_parameters(encoder, trainable_only=True) == 4 * (2 * 16 + 16 * 2)


def test_apply_then_merge_restores_plain_linears_with_the_trained_update():
    encoder = small_encoder()
    ids = torch.randint(20, (2, 6))
    encoder.eval()
    before = encoder(ids)
    apply_lora(encoder, ("q_proj", "k_proj", "v_proj", "out_proj", "linear1", "linear2"), r=2)
    torch.testing.assert_close(encoder(ids), before, atol=0, rtol=0)
    with torch.no_grad():
        for n, p in encoder.named_parameters():
            if n.endswith("lora_B"):
                p.normal_(std=0.1)
    adapted = encoder(ids)
    assert merge_lora(encoder) == 12
    assert not any(isinstance(m, LoRALinear) for m in encoder.modules())
    torch.testing.assert_close(encoder(ids), adapted, atol=1e-5, rtol=0)


def test_lora_state_round_trips_through_safetensors(tmp_path):
    encoder = small_encoder()
    apply_lora(encoder, ("q_proj",), r=2)
    with torch.no_grad():
        for n, p in encoder.named_parameters():
            if n.endswith("lora_B"):
                p.normal_()
    lora_state = {n: p.detach() for n, p in encoder.named_parameters() if p.requires_grad}
    save_file(lora_state, tmp_path / "adapter.safetensors")
    other = small_encoder()  # the same base weights (same seed)
    apply_lora(other, ("q_proj",), r=2)
    other.load_state_dict(load_file(tmp_path / "adapter.safetensors"), strict=False)
    ids = torch.randint(20, (2, 4))
    encoder.eval(), other.eval()
    torch.testing.assert_close(other(ids), encoder(ids), atol=0, rtol=0)


def test_dropout_applies_to_the_lora_path_only():
    torch.manual_seed(3)
    layer = LoRALinear(nn.Linear(4, 4), r=2, alpha=2.0, dropout=0.5)
    x = torch.randn(8, 4)
    assert torch.equal(layer(x), layer.base(x))  # B = 0: dropout changes nothing yet
    with torch.no_grad():
        layer.lora_B.normal_()
    layer.eval()
    torch.testing.assert_close(layer(x), layer.merge()(x))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: LoRALinear(nn.Conv1d(2, 2, 1), 1, 1.0), TypeError, "must be an nn.Linear"),
        (lambda: LoRALinear(nn.Linear(4, 3), 0, 1.0), ValueError, "r=0 must be a positive int"),
        (
            lambda: LoRALinear(nn.Linear(4, 3), 4, 1.0),
            ValueError,
            "r=4 must be <= min(d_in, d_out) = 3",
        ),
        (lambda: LoRALinear(nn.Linear(4, 3), 1, 0.0), ValueError, "alpha=0.0 must be a number > 0"),
        (lambda: LoRALinear(nn.Linear(4, 3), 1, 1.0, dropout=1.0), ValueError, "dropout=1.0"),
        (
            lambda: apply_lora(small_encoder(), ("q_proj", "query")),
            ValueError,
            "['query'] matched none",
        ),
        (lambda: apply_lora(small_encoder(), ()), ValueError, "targets=() must be a non-empty"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=__import__("re").escape(message)):
        make()
