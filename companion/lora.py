"""LoRA: low-rank adapters on frozen linear layers (Hu et al., 2022, arXiv:2106.09685).

A frozen weight ``W (d_out, d_in)`` gets a trainable low-rank update:

.. math:: h = W x + b + \\frac{\\alpha}{r} B A x, \\qquad A \\in \\mathbb{R}^{r \\times d_{in}},
          \\; B \\in \\mathbb{R}^{d_{out} \\times r}

``A`` starts as in the paper's reference implementation (loralib: ``kaiming_uniform_(A, a=sqrt(5))``,
the default init of an ``nn.Linear`` weight), ``B`` starts at zero, so a wrapped model computes
exactly what the original did until training moves ``B``. After training, :meth:`LoRALinear.merge`
folds ``(alpha / r) B A`` into ``W``: a plain ``nn.Linear`` with no extra cost at inference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from companion import validators as check

__all__ = ["LoRALinear", "apply_lora", "merge_lora"]


class LoRALinear(nn.Module):
    """``base`` (frozen) plus a trainable rank-``r`` update scaled by ``alpha / r``.

    Args:
        base: the ``nn.Linear(d_in, d_out)`` to adapt; its weight and bias are frozen.
        r: the rank, ``1 <= r <= min(d_in, d_out)``.
        alpha: the scale numerator (> 0); the update is multiplied by ``alpha / r``.
        dropout: dropout probability on the LoRA path's input, in ``[0, 1)``.

    ``forward(x)``: ``x (..., d_in)`` -> ``(..., d_out)``.
    Parameters: ``lora_A (r, d_in)``, ``lora_B (d_out, r)``; ``base`` is kept as a submodule.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            check.fail(
                "base",
                type(base).__name__,
                "an nn.Linear",
                "LoRALinear wraps one linear layer",
                TypeError,
            )
        d_out, d_in = base.weight.shape
        check.positive_int("r", r, "the rank of the update, e.g. r=8")
        if r > min(d_in, d_out):
            check.fail(
                "r", r, f"<= min(d_in, d_out) = {min(d_in, d_out)}", "a larger rank is not low"
            )
        check.number("alpha", alpha, 0, low_open=True, hint="e.g. alpha=2 * r or alpha=16")
        check.number("dropout", dropout, 0, 1, high_open=True)
        self.base, self.r, self.alpha = base, r, float(alpha)
        self.scaling = self.alpha / r
        for p in self.base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, d_in, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(d_out, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as loralib does
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> Tensor:
        """The update ``(alpha / r) B A``, ``(d_out, d_in)``."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: Tensor) -> Tensor:
        """``x (..., d_in)`` -> ``W x + b + (alpha / r) B A x``, ``(..., d_out)``."""
        low = self.dropout(x) @ self.lora_A.T  # (..., r)
        return self.base(x) + self.scaling * (low @ self.lora_B.T)  # (..., d_out)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A new plain ``nn.Linear`` with weight ``W + (alpha / r) B A`` and the same bias, which
        computes what this module computes (up to float rounding; dropout off)."""
        w = self.base.weight
        merged = nn.Linear(
            self.in_features,
            self.out_features,
            bias=self.base.bias is not None,
            device=w.device,
            dtype=w.dtype,
        )
        merged.weight.copy_(w + self.delta_weight())
        if self.base.bias is not None:
            merged.bias.copy_(self.base.bias)
        return merged

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}"


def apply_lora(
    model: nn.Module,
    targets: Sequence[str] = ("q_proj", "v_proj"),
    *,
    r: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
) -> list[str]:
    """Freeze every parameter of ``model`` and wrap, in place, each ``nn.Linear`` whose name's
    last part is in ``targets`` (e.g. ``layers.0.self_attn.q_proj``) in a :class:`LoRALinear`.

    Afterwards only the ``lora_A``/``lora_B`` parameters of ``model`` are trainable (a head
    outside ``model`` is untouched). Returns the dotted names of the wrapped layers, in order.

    Raises:
        ValueError: if a target matches no ``nn.Linear`` of ``model`` (a typo would otherwise
            train nothing), or ``targets`` is empty.
    """
    if isinstance(targets, str):
        targets = (targets,)
    if not targets:
        check.fail("targets", targets, "a non-empty sequence of layer names", "e.g. ('q_proj',)")
    linear = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.rpartition(".")[2] in targets
    ]
    found = {name.rpartition(".")[2] for name, _ in linear}
    missing = [t for t in targets if t not in found]
    if missing:
        names = sorted(
            {n.rpartition(".")[2] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        )
        check.fail(
            "targets",
            tuple(targets),
            f"names of nn.Linear layers of the model; {missing} matched none",
            f"the model's linear layers are named {names}",
        )
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in linear:
        model.set_submodule(name, LoRALinear(module, r, alpha, dropout))
    return [name for name, _ in linear]


def merge_lora(model: nn.Module) -> int:
    """Replace, in place, every :class:`LoRALinear` of ``model`` by its merged ``nn.Linear``.
    Returns how many were merged."""
    wrapped = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name in wrapped:
        model.set_submodule(name, model.get_submodule(name).merge())
    return len(wrapped)
