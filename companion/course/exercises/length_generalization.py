"""Exercises of the chapter "Length generalization" (notebooks/61_length_generalization)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, compare, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.positional import alibi_bias

CHAPTER = Chapter(61, "length_generalization")  # notebooks/61_length_generalization.ipynb


@CHAPTER.exercise(
    "ex-length-generalization-alibi",
    title="ALiBi's bias matrix",
    difficulty="medium",
    names=("my_alibi_bias",),
    references=("companion.positional.alibi_bias",),
)
def check_alibi_bias(fn: Callable[[int, int], torch.Tensor], *, verbose: bool = True) -> Score:
    """ex-length-generalization-alibi: ``alibi_bias(n_heads, seq_len)`` -> the float tensor
    ``(n_heads, seq_len, seq_len)`` of ``-m_h |i - j|``, with Press et al.'s slopes ``m_h`` (a
    geometric sequence for a power of two ``n_heads``, the paper's interleaving otherwise)."""

    def case(n_heads: int, seq_len: int):
        def run():
            got = fn(n_heads, seq_len)
            return compare(got, alibi_bias(n_heads, seq_len), "the bias", atol=1e-5)

        return run

    g = case_generator(1)
    random_shape = (
        2 ** int(torch.randint(0, 5, (1,), generator=g)),
        int(torch.randint(2, 30, (1,), generator=g)),
    )
    specs = [(1, 3), (2, 5), (8, 4), (4, 12), (16, 7), random_shape, (6, 5), (12, 9)]
    if (h := hidden_generator()) is not None:  # grading: shapes no notebook has printed
        specs.append(
            (
                int(torch.randint(3, 33, (1,), generator=h)),
                int(torch.randint(2, 40, (1,), generator=h)),
            )
        )
    cases: list[Case] = [
        (f"n_heads={n}, seq_len={t}" + (" (not a power of two)" if n & (n - 1) else ""), case(n, t))
        for n, t in specs
    ]
    return run_cases("ex-length-generalization-alibi", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise(
    "ex-length-generalization-by-hand", title="Positions by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-length-generalization-predict",
    title="Predict, then measure: one past the training lengths",
    difficulty="medium",
)
