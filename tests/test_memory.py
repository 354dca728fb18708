"""companion.memory: the formulas equal the bytes of the real tensors, and ZeRO's equal the paper's."""

from __future__ import annotations

import pytest
import torch

from companion.attention import MultiHeadAttention
from companion.memory import (
    StateBytes,
    activation_bytes,
    matmul_flops_per_second,
    mfu,
    peak_flops,
    saved_activation_bytes,
    state_bytes,
    training_state_bytes,
    zero_bytes_per_gpu,
)
from companion.models import GPT, GPTConfig
from companion.train import TrainConfig, configure_optimizer, lm_loss


def gpt(n_layers=2, d_model=32, n_heads=4, max_len=16, vocab_size=29, dropout=0.0):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads,
                       n_layers=n_layers, max_len=max_len, dropout=dropout)  # fmt: skip
    return GPT(config)


@pytest.mark.parametrize(
    ("n_layers", "d_model", "n_heads", "vocab_size", "batch", "context"),
    [(1, 32, 4, 29, 3, 16), (2, 48, 6, 11, 2, 9), (3, 16, 2, 65, 5, 32)],
)
def test_activation_formula_equals_what_autograd_saves(
    n_layers, d_model, n_heads, vocab_size, batch, context
):
    model = gpt(n_layers, d_model, n_heads, context, vocab_size)
    x = torch.randint(0, vocab_size, (batch, context))
    measured = saved_activation_bytes(model, lm_loss, (x, x))
    assert measured == activation_bytes(n_layers, d_model, n_heads, vocab_size, batch, context)


def test_dropout_and_the_explicit_path_save_more():
    x = torch.randint(0, 29, (2, 16))
    base = saved_activation_bytes(gpt(), lm_loss, (x, x))
    assert saved_activation_bytes(gpt(dropout=0.1), lm_loss, (x, x)) > base  # the masks
    explicit = gpt()
    for m in explicit.modules():
        if isinstance(m, MultiHeadAttention):
            m.use_sdpa = False
    extra = saved_activation_bytes(explicit, lm_loss, (x, x)) - base
    L, B, s, h = 2, 2, 16, 4
    # per layer: two copies of the weights (2hs floats per token) but no log-sum-exp (h floats),
    # and two masks shared by the batch: the (s, s) causal one and the (s, 1) "no key" flag
    assert extra == L * (B * s * 4 * (2 * h * s - h) + s * s + s)


def test_saved_activation_bytes_leaves_out_parameters_and_counts_a_storage_once():
    w = torch.nn.Parameter(torch.randn(4, 4))

    def loss_fn(model, x):
        y = x @ w  # saves x and w: only x counts
        return (y * y).sum() + (y * 2).sum()  # saves y (once, though used twice)

    x = torch.randn(3, 4, requires_grad=True)
    module = torch.nn.Module()
    module.w = w
    assert saved_activation_bytes(module, loss_fn, x) == x.nbytes + 3 * 4 * 4


def test_state_formula_equals_the_tensors_after_a_step():
    model = gpt()
    optimizer = configure_optimizer(model, TrainConfig())
    x = torch.randint(0, 29, (2, 16))
    assert state_bytes(model, optimizer) == StateBytes(model.num_parameters() * 4, 0, 0)
    lm_loss(model, (x, x)).backward()
    optimizer.step()
    measured = state_bytes(model, optimizer)
    assert measured == training_state_bytes(model.num_parameters())
    assert measured.total == 16 * model.num_parameters()


def test_mixed_precision_state_is_also_16_bytes_per_parameter():
    mixed = training_state_bytes(1000, "mixed")
    assert (mixed.params, mixed.grads, mixed.optimizer, mixed.total) == (2000, 2000, 12000, 16000)
    with pytest.raises(ValueError, match="precision='bf16' must be one of"):
        training_state_bytes(1000, "bf16")


def test_zero_reproduces_the_papers_figure_1():
    """Rajbhandari et al. (2020), Figure 1: 7.5B parameters, K = 12, 64 GPUs."""
    gb = [round(zero_bytes_per_gpu(7.5e9, 64, stage) / 1e9, 1) for stage in range(4)]
    assert gb == [120.0, 31.4, 16.6, 1.9]


def test_zero_on_one_gpu_shards_nothing_and_stages_only_decrease():
    for stage in range(4):
        assert zero_bytes_per_gpu(1e9, 1, stage) == 16e9
    values = [zero_bytes_per_gpu(1e9, 8, stage) for stage in range(4)]
    assert values == sorted(values, reverse=True) and values[3] == 2e9
    with pytest.raises(ValueError, match="stage=4 must be one of"):
        zero_bytes_per_gpu(1e9, 8, 4)
    with pytest.raises(ValueError, match="n_gpus=0"):
        zero_bytes_per_gpu(1e9, 0, 1)


@pytest.mark.parametrize(
    ("name", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA H200", 989.0),
        ("NVIDIA H200 NVL", 835.0),
        ("NVIDIA L4", 121.0),
        ("NVIDIA L40S", 362.0),
        ("NVIDIA L40", None),
        ("Tesla T4", 65.0),
        ("NVIDIA A100-SXM4-40GB", 312.0),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_peak_flops_matches_whole_model_names(monkeypatch, name, tflops):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    peak = peak_flops(torch.device("cuda", 0))
    assert peak == (None if tflops is None else tflops * 1e12)


def test_mfu_and_peaks():
    assert mfu(1000.0, 6e6, 1.2e10) == pytest.approx(0.5)
    assert peak_flops(torch.device("cpu")) is None
    rate = matmul_flops_per_second(torch.device("cpu"), n=64, repeats=2)
    assert 1e6 < rate < 1e14
    with pytest.raises(ValueError, match="peak=0"):
        mfu(1.0, 1.0, 0)
