"""Copy, reversal and addition at any length: tasks for length generalization (chapter 61).

Each task turns a random input of ``n`` symbols into one token sequence for a causal decoder::

    ^ x_1 .. x_n = y_1 .. y_m $

``^`` begins the sequence, ``=`` ends the prompt and ``$`` the answer. The answer is what a model
must write:

- ``copy``: ``y = x``, ``m = n`` digits;
- ``reverse``: ``y`` is ``x`` backwards, ``m = n``;
- ``add``: ``x`` is two ``n``-digit numbers written as ``n`` columns, as on paper: one token per
  column holds the digit of ``a`` above the digit of ``b`` (100 column tokens, shown ``[ab]``).
  ``y`` is the sum in ``m = n + 1`` digits. Columns and digits run least significant first (as
  in chapter 50, the order a carry is computed in), so answer digit ``k`` needs column ``k``,
  which sits at the same distance before it as in copy, and the carry out of column ``k - 1``.

Batches that mix lengths are :class:`companion.length.LengthBatches`.

Tokens: digits ``0``-``9`` are ids 0-9, then ``= ^ $ .`` (:data:`VOCAB`), then the 100 columns:
``[ab]`` is id ``COLUMNS + 10 a + b`` (:data:`VOCAB_SIZE` = 114).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from companion import validators as check

__all__ = [
    "BOS",
    "EOS",
    "EQUALS",
    "PAD",
    "COLUMNS",
    "TASKS",
    "VOCAB",
    "VOCAB_SIZE",
    "LengthTask",
    "add_digits",
]

VOCAB = "0123456789=^$."
EQUALS, BOS, EOS, PAD = (VOCAB.index(c) for c in "=^$.")
COLUMNS = len(VOCAB)  # the id of column [00]; [ab] is COLUMNS + 10 a + b
VOCAB_SIZE = COLUMNS + 100
TASKS = ("copy", "reverse", "add")


def add_digits(a: Tensor, b: Tensor) -> Tensor:
    """Digit-wise sum with carries: ``a, b (rows, n)`` least significant first -> ``(rows, n + 1)``.

    Works at any ``n`` (an int64 holds only 18 decimal digits, so the numbers are never formed).
    """
    total = a + b  # (rows, n), each 0..18 before carries
    out = torch.empty(a.shape[0], a.shape[1] + 1, dtype=torch.long)
    carry = torch.zeros(a.shape[0], dtype=torch.long)
    for k in range(a.shape[1]):
        s = total[:, k] + carry  # (rows,)
        out[:, k], carry = s % 10, s // 10
    out[:, -1] = carry
    return out


@dataclass(frozen=True)
class LengthTask:
    """One of :data:`TASKS`, encoded for a causal decoder.

    Attributes:
        name: ``"copy"``, ``"reverse"`` or ``"add"``.
    """

    name: str

    def __post_init__(self) -> None:
        check.one_of("name", self.name, TASKS)

    def prompt_len(self, n: int) -> int:
        """Tokens before the answer, ``^ x_1 .. x_n =``: ``n + 2``."""
        return n + 2

    def answer_len(self, n: int) -> int:
        """Answer tokens without ``$``: ``n`` (copy, reverse) or ``n + 1`` (add)."""
        return n + 1 if self.name == "add" else n

    def seq_len(self, n: int) -> int:
        """The whole sequence at input length ``n``: prompt, answer and ``$``."""
        return self.prompt_len(n) + self.answer_len(n) + 1

    def encode(self, n: int, rows: int, generator: torch.Generator) -> Tensor:
        """``rows`` random problems of input length ``n``: ``(rows, seq_len(n))`` int64 token ids."""
        check.positive_int("n", n)
        check.positive_int("rows", rows)
        operands = 2 if self.name == "add" else 1
        x = torch.randint(0, 10, (rows, operands, n), generator=generator)  # (rows, ops, n)
        if self.name == "add":
            y = add_digits(x[:, 0], x[:, 1])  # (rows, n + 1)
            prompt = COLUMNS + 10 * x[:, 0] + x[:, 1]  # (rows, n): column k holds a_k over b_k
        else:
            prompt = x[:, 0]  # (rows, n)
            y = prompt if self.name == "copy" else prompt.flip(1)  # (rows, n)
        bos, eq, eos = (torch.full((rows, 1), t) for t in (BOS, EQUALS, EOS))
        return torch.cat([bos, prompt, eq, y, eos], dim=1)  # (rows, seq_len(n))

    def text(self, tokens: Tensor) -> str:
        """One encoded sequence ``(seq,)`` as a string, padding dropped: ``"^123=123$"``, or with
        columns ``"^[72][61]=970$"`` (67 + 12 = 79, least significant digit first)."""
        return "".join(
            VOCAB[t] if t < COLUMNS else f"[{(t - COLUMNS) // 10}{(t - COLUMNS) % 10}]"
            for t in tokens.tolist()
            if t != PAD
        )
