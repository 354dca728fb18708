"""Where a training run's memory goes, by formula and by measurement (chapter 35).

Training with AdamW keeps four things per parameter, and activations per token:

==================  ===================  ==============================================
what                full precision       mixed precision (Micikevicius et al. 2018)
==================  ===================  ==============================================
parameters          4 bytes              2 (bf16/fp16 copy used in the passes)
gradients           4                    2
AdamW's m and v     8                    8, plus a 4-byte fp32 master copy: K = 12
==================  ===================  ==============================================

so ``16 N`` bytes either way for ``N`` parameters (Rajbhandari et al. 2020 write the mixed
case ``2N + 2N + KN`` with ``K = 12``). ZeRO shards these over ``N_d`` data-parallel GPUs:
stage 1 the optimizer state, stage 2 also the gradients, stage 3 (FSDP) also the parameters.

Activations are what autograd saves in the forward pass for the backward pass; for
companion's pre-LN GPT layer in float32 without dropout, per token and layer (``d = d_model``,
``h = n_heads``, ``s`` the context):

    16 d + h + 4 floats   with F.scaled_dot_product_attention (it saves no s x s matrix)
    16 d + 2 h s + 4      with companion's explicit path, which keeps two copies of the
                          attention weights (the softmax's output and the copy with fully
                          masked rows zeroed), plus its boolean masks

:func:`activation_bytes` counts the first exactly; :func:`saved_activation_bytes` measures
either with ``torch.autograd.graph.saved_tensors_hooks``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from companion import validators as check

__all__ = [
    "PEAK_TFLOPS",
    "StateBytes",
    "activation_bytes",
    "matmul_flops_per_second",
    "mfu",
    "peak_flops",
    "saved_activation_bytes",
    "state_bytes",
    "training_state_bytes",
    "zero_bytes_per_gpu",
]

# Dense bf16 (T4: fp16) tensor-core peaks from NVIDIA's datasheets, TFLOP/s; the "with sparsity"
# figures the datasheets also print are twice these. Matched against the device's name in this
# order, the first pattern that matches wins (an L40S is not an L4; an H100 PCIe is not an SXM).
PEAK_TFLOPS = {
    r"\bH200 NVL\b": 835.0,
    r"\bH200\b": 989.0,
    r"\bH100 PCIe\b": 756.0,
    r"\bH100 NVL\b": 835.0,
    r"\bH100\b": 989.0,  # SXM
    r"\bA100\b": 312.0,
    r"\bL40S\b": 362.0,
    r"\bL4\b": 121.0,
    r"\bT4\b": 65.0,
}

ZERO_STAGES = (0, 1, 2, 3)


@dataclass(frozen=True)
class StateBytes:
    """Bytes of a training run's parameters, gradients and optimizer state (activations apart)."""

    params: int
    grads: int
    optimizer: int

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer


def training_state_bytes(n_params: int, precision: str = "fp32") -> StateBytes:
    """The formula: AdamW's state for ``n_params`` parameters.

    ``"fp32"``: ``4N`` parameters, ``4N`` gradients, ``8N`` for the moments ``m`` and ``v``.
    ``"mixed"``: ``2N`` 16-bit parameters, ``2N`` 16-bit gradients, and ``K N = 12 N`` of fp32
    optimizer state (a master copy of the parameters, ``m`` and ``v``).
    """
    check.positive_int("n_params", n_params)
    check.one_of("precision", precision, ("fp32", "mixed"))
    if precision == "fp32":
        return StateBytes(4 * n_params, 4 * n_params, 8 * n_params)
    return StateBytes(2 * n_params, 2 * n_params, 12 * n_params)


def zero_bytes_per_gpu(n_params: float, n_gpus: int, stage: int, k: int = 12) -> float:
    """Bytes of model state per GPU under ZeRO stage ``stage`` (Rajbhandari et al. 2020, Fig. 1).

    With ``Psi = n_params``, ``N_d = n_gpus`` and mixed-precision AdamW (``K = 12``):

        stage 0 (plain data parallelism):  (2 + 2 + K) Psi
        stage 1 (optimizer state sharded): 2 Psi + 2 Psi + K Psi / N_d
        stage 2 (and the gradients):       2 Psi + (2 + K) Psi / N_d
        stage 3 (and the parameters):      (2 + 2 + K) Psi / N_d
    """
    check.number("n_params", n_params, 0, low_open=True)
    check.positive_int("n_gpus", n_gpus)
    check.one_of("stage", stage, ZERO_STAGES)
    p, g, o = 2 * n_params, 2 * n_params, k * n_params
    sharded = {0: 0.0, 1: o, 2: o + g, 3: o + g + p}[stage]
    return p + g + o - sharded + sharded / n_gpus


def state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> StateBytes:
    """The measurement: bytes of ``model``'s parameters (a tied weight once), their gradients
    (those that exist) and every tensor in ``optimizer``'s state except its step counters."""
    params = list(model.parameters())  # parameters() yields a tied weight once
    grads = [p.grad for p in params if p.grad is not None]
    moments = [
        t
        for s in optimizer.state.values()
        for name, t in s.items()
        if torch.is_tensor(t) and name != "step"
    ]
    return StateBytes(
        *(sum(t.numel() * t.element_size() for t in ts) for ts in (params, grads, moments))
    )


def activation_bytes(
    n_layers: int, d_model: int, n_heads: int, vocab_size: int, batch: int, context: int
) -> int:
    """The formula: bytes autograd saves for companion's GPT (pre-LN, float32, no dropout,
    ``F.scaled_dot_product_attention``) on ``(batch, context)`` token ids, with :func:`lm_loss`.

    With ``B = batch``, ``s = context``, ``d = d_model``, ``h = n_heads``, ``V = vocab_size``:

        per layer and token, 4 * (16 d + h + 4) bytes:
            LayerNorm 1: input d, mean and 1/std 2, output d;  q, k, v: 3d;
            attention output d and its log-sum-exp h;  LayerNorm 2: input d, 2, output d;
            MLP: pre-activation 4d, GELU output 4d
        per token outside the layers, 4 * (2 d + 2 + V) + 8 bytes:
            final LayerNorm d + 2 + d, the log-softmax of the logits V, the target id (int64)
        once: the positions 0..s-1 (int64) and the loss (4 bytes)
    """
    for name, value in (
        ("n_layers", n_layers),
        ("d_model", d_model),
        ("n_heads", n_heads),
        ("vocab_size", vocab_size),
        ("batch", batch),
        ("context", context),
    ):
        check.positive_int(name, value)
    tokens = batch * context
    per_layer = 4 * (16 * d_model + n_heads + 4)
    head = 4 * (2 * d_model + 2 + vocab_size) + 8
    return tokens * (n_layers * per_layer + head) + 8 * context + 4


def saved_activation_bytes(
    model: nn.Module, loss_fn: Callable[[nn.Module, Any], Tensor], batch: Any
) -> int:
    """The measurement: bytes of the tensors autograd saves while computing ``loss_fn(model,
    batch)`` for the backward pass, each storage counted once, parameters left out.

    Runs one forward pass (no backward) under ``torch.autograd.graph.saved_tensors_hooks``.
    """
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(model, batch)
    return sum(saved.values())


def peak_flops(device: torch.device) -> float | None:
    """The datasheet's dense bf16 (T4: fp16) peak of a CUDA ``device`` in FLOP/s, or ``None``
    for a device not in :data:`PEAK_TFLOPS` (and for the CPU)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for pattern, tflops in PEAK_TFLOPS.items():
        if re.search(pattern, name):
            return tflops * 1e12
    return None


def matmul_flops_per_second(
    device: torch.device, n: int = 1024, repeats: int = 20, dtype: torch.dtype = torch.float32
) -> float:
    """FLOP/s of ``(n, n) @ (n, n)`` matrix products on ``device`` (``2 n^3`` FLOPs each): what
    the hardware sustains on the operation training spends its time in, a measured stand-in
    for the peak where no datasheet figure applies."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def mfu(tokens_per_second: float, flops_per_token: float, peak: float) -> float:
    """Model FLOPs utilization (Chowdhery et al. 2022, App. B): the share of the ``peak`` FLOP/s
    that the model's own arithmetic, ``flops_per_token`` (e.g. ``6N + 12 L d T``) per token,
    uses at the measured throughput; recomputation is not counted."""
    check.number("peak", peak, 0, low_open=True)
    return tokens_per_second * flops_per_token / peak
