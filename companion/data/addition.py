"""Multi-digit addition as a token sequence, with answers of fixed width (chapter 50).

``a + b`` with ``a, b`` in ``[0, 10^n)`` is written as ``n + 1 + n + 1 + (n + 1)`` tokens::

    a (n digits)  +  b (n digits)  =  c (n + 1 digits), every number least significant digit first

e.g. with ``n = 4``, ``527 + 9416 = 9943`` is ``7250+6149=34990``: the sum ``c = a + b < 2 * 10^n``
always has exactly ``n + 1`` digits once zero-padded, so the answer has ``L = n + 1`` positions
and per-digit accuracy is defined position by position. Numbers are written least significant
digit first, the order in which a carry is computed (reversed digits are the usual choice for
small Transformers, Lee et al. 2023): answer digit ``k`` depends only on digits ``0..k`` of ``a``
and ``b``, which sit at the same offsets before it for every ``k``.

Tokens: the digits ``0``-``9`` are ids 0-9, ``+`` is 10 and ``=`` 11 (:data:`VOCAB`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from companion import validators as check

__all__ = ["EQUALS", "PLUS", "VOCAB", "AdditionTask"]

VOCAB = "0123456789+="
PLUS, EQUALS = VOCAB.index("+"), VOCAB.index("=")


def _digits(x: Tensor, width: int) -> Tensor:
    """The ``width`` decimal digits of each ``x (n,)``, least significant first -> ``(n, width)``."""
    powers = 10 ** torch.arange(width, device=x.device)  # (width,)
    return (x[:, None] // powers) % 10  # (n, width)


@dataclass(frozen=True)
class AdditionTask:
    """``n_digits``-digit addition: sampling operands, encoding them, reading answers.

    Attributes:
        n_digits: digits of each operand (``n``); the answer has ``n + 1``.
    """

    n_digits: int = 4

    def __post_init__(self) -> None:
        check.positive_int("n_digits", self.n_digits, "e.g. 4")
        if self.n_digits > 17:
            check.fail("n_digits", self.n_digits, "<= 17", "the sum must fit in an int64")

    @property
    def answer_len(self) -> int:
        """``L = n + 1``: the digits of every answer."""
        return self.n_digits + 1

    @property
    def prompt_len(self) -> int:
        """``2n + 2``: ``a``, ``+``, ``b``, ``=``."""
        return 2 * self.n_digits + 2

    @property
    def seq_len(self) -> int:
        """The whole sequence, prompt and answer: ``3n + 3`` tokens."""
        return self.prompt_len + self.answer_len

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` pairs ``(a, b)``, each ``(n,)`` int64, uniform in ``[0, 10^n_digits)``."""
        check.positive_int("n", n)
        high = 10**self.n_digits
        ab = torch.randint(0, high, (2, n), generator=generator)  # (2, n)
        return ab[0], ab[1]

    def answer_digits(self, a: Tensor, b: Tensor) -> Tensor:
        """The digits of ``c = a + b``, least significant first: ``(n, L)`` int64."""
        return _digits(a + b, self.answer_len)

    def encode(self, a: Tensor, b: Tensor) -> Tensor:
        """The token ids of ``a + b = c`` for each pair: ``(n, seq_len)`` int64.

        ``a`` and ``b`` are ``(n,)`` integer tensors in ``[0, 10^n_digits)``.
        """
        for name, x in (("a", a), ("b", b)):
            if not isinstance(x, Tensor) or x.ndim != 1 or x.is_floating_point():
                check.fail(name, x, "a 1-D integer tensor", error=TypeError)
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= 10**self.n_digits):
                check.fail(
                    name,
                    f"a tensor with values in [{int(x.min())}, {int(x.max())}]",
                    f"integers in [0, {10**self.n_digits})",
                    f"n_digits={self.n_digits}",
                )
        if a.shape != b.shape:
            check.fail("b", tuple(b.shape), f"the shape of a, {tuple(a.shape)}")
        n = self.n_digits
        plus = torch.full_like(a[:, None], PLUS)  # (n, 1)
        equals = torch.full_like(a[:, None], EQUALS)  # (n, 1)
        parts = [_digits(a, n), plus, _digits(b, n), equals, self.answer_digits(a, b)]
        return torch.cat(parts, dim=1)  # (n, seq_len)

    def decode(self, tokens: Tensor) -> list[str]:
        """``tokens (n, seq_len)`` -> strings such as ``"7250+6149=34990"`` (``527 + 9416 = 9943``)."""
        return ["".join(VOCAB[t] for t in row) for row in tokens.tolist()]
