"""Model compression after training: int8 weight quantization and magnitude pruning.

These make a trained model smaller (quantization) or sparser (pruning). They are not
parameter-efficient fine-tuning (:mod:`companion.lora`), which changes how a model is *trained*.

Quantization here is post-training, weight-only, symmetric and per output channel. Jacob et al.
(2018) quantize each tensor with a scale and a zero point (``r = S (q - Z)``); the symmetric,
per-output-channel variant used here is standard for weights (Krishnamoorthi, 2018; PyTorch's
``per_channel_symmetric``): for row ``j`` of ``W (d_out, d_in)``

.. math:: s_j = \\frac{\\max_i |W_{ji}|}{127}, \\quad q_{ji} = \\mathrm{clamp}(\\mathrm{round}(W_{ji}/s_j),
          -127, 127) \\in \\mathrm{int8}, \\quad \\hat W_{ji} = s_j q_{ji},

so ``|W_ji - Ŵ_ji| <= s_j / 2``. Magnitude pruning (Han et al., 2015) sets the weights of
smallest ``|w|`` to zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion import validators as check

__all__ = [
    "QuantizedLinear",
    "dequantize",
    "magnitude_prune",
    "model_bytes",
    "quantize_int8",
    "quantize_model",
]


def quantize_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-output-channel int8 quantization of ``weight (d_out, d_in)``.

    Returns ``q (d_out, d_in)`` int8 in ``[-127, 127]`` and ``scale (d_out,)`` in ``weight``'s
    dtype, ``scale_j = max_i |W_ji| / 127`` (1 for an all-zero row, whose ``q`` is 0).
    """
    if not isinstance(weight, Tensor) or weight.ndim != 2 or not weight.is_floating_point():
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        check.fail("weight", shape, "a 2-D floating-point tensor (d_out, d_in)", error=TypeError)
    w = weight.detach()
    scale = w.abs().amax(dim=1) / 127  # (d_out,)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)  # (d_out, d_in)
    return q, scale


def dequantize(q: Tensor, scale: Tensor) -> Tensor:
    """``Ŵ = scale[:, None] * q``: ``q (d_out, d_in)`` int8, ``scale (d_out,)`` -> ``scale``'s dtype."""
    if q.dtype != torch.int8 or q.ndim != 2 or scale.shape != q.shape[:1]:
        check.fail(
            "q, scale",
            (q.dtype, tuple(q.shape), tuple(scale.shape)),
            "an int8 (d_out, d_in) tensor and a (d_out,) scale",
            error=TypeError,
        )
    return scale[:, None] * q.to(scale.dtype)


class QuantizedLinear(nn.Module):
    """A linear layer storing an int8 weight ``(d_out, d_in)`` and a float ``scale (d_out,)``
    (buffers, not parameters); the bias stays float. ``forward(x (..., d_in)) -> (..., d_out)``
    computes ``x Ŵ^T + b`` with ``Ŵ`` dequantized on the fly (a teaching version: real int8
    kernels also quantize the activations and multiply in integers)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            check.fail("linear", type(linear).__name__, "an nn.Linear", error=TypeError)
        q, scale = quantize_int8(linear.weight)
        self.register_buffer("q", q)
        self.register_buffer("scale", scale)
        bias = linear.bias.detach().clone() if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: Tensor) -> Tensor:
        """``x (..., d_in)`` -> ``x Ŵ^T + b``, ``(..., d_out)``."""
        return F.linear(x, dequantize(self.q, self.scale).to(x.dtype), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_model(model: nn.Module) -> int:
    """Replace, in place, every ``nn.Linear`` of ``model`` by a :class:`QuantizedLinear`.
    Returns how many were replaced (embeddings and norms stay float)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n]
    for name in names:
        model.set_submodule(name, QuantizedLinear(model.get_submodule(name)))
    return len(names)


def model_bytes(model: nn.Module) -> int:
    """The bytes of every parameter and buffer of ``model`` (``numel * element_size``, each
    tensor once): what storing its state dict takes, without the file format's overhead."""
    seen, total = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


@torch.no_grad()
def magnitude_prune(model: nn.Module, sparsity: float, *, scope: str = "global") -> float:
    """Zero, in place, the fraction ``sparsity`` of the weights of the ``nn.Linear`` layers of
    ``model`` with the smallest ``|w|`` (biases, embeddings and norms are kept).

    ``scope="global"`` ranks all those weights together (one threshold for the model);
    ``"layer"`` prunes each layer's weight to ``sparsity`` on its own. Returns the fraction of
    those weights that are zero afterwards. Ties at the threshold are broken by position, so
    exactly ``round(sparsity * n)`` weights are zeroed.
    """
    check.number("sparsity", sparsity, 0, 1, high_open=True)
    check.one_of("scope", scope, ("global", "layer"))
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    if not weights:
        check.fail("model", type(model).__name__, "a model with nn.Linear layers")
    groups = [weights] if scope == "global" else [[w] for w in weights]
    for group in groups:
        flat = torch.cat([w.detach().abs().flatten() for w in group])  # (n,)
        k = round(sparsity * flat.numel())
        if k == 0:
            continue
        threshold = flat.kthvalue(k).values  # the k-th smallest |w|
        drop = flat < threshold  # (n,)
        ties = (flat == threshold).nonzero().flatten()[: k - int(drop.sum())]
        drop[ties] = True  # exactly k, the first of the ties by position
        start = 0
        for w in group:
            n = w.numel()
            w.masked_fill_(drop[start : start + n].view_as(w), 0.0)
            start += n
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)
