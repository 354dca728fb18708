"""Checkers of the masks and positions chapter (notebooks/21_masks_and_positions)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from companion.course.core import Case, Score, compare, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.masks import causal_mask, padding_mask
from companion.positional import sinusoidal_encoding

CHAPTER = Chapter(21, "masks_and_positions")  # notebooks/21_masks_and_positions.ipynb


RANGES = [(2, 17), (1, 13), (1, 6)]  # n, max_len and batch of the hidden cases


@CHAPTER.exercise(
    "ex-masks-and-positions-masks",
    title="Build the two masks",
    difficulty="easy",
    names=("my_causal_mask", "my_padding_mask"),
    references=("companion.masks.causal_mask", "companion.masks.padding_mask"),
)
def check_masks(causal_fn: Callable, padding_fn: Callable, *, verbose: bool = True) -> Score:
    """ex-masks-and-positions-masks: ``causal_mask(n)`` -> bool ``(n, n)`` and
    ``padding_mask(lengths, max_len)`` -> bool ``(batch, 1, max_len)``, True = may attend."""

    def causal(n):
        return lambda: compare(causal_fn(n), causal_mask(n), "mask", 0.0)

    def padding(lengths, max_len, as_tensor):
        def run():
            lens = torch.tensor(lengths) if as_tensor else list(lengths)
            return compare(padding_fn(lens, max_len), padding_mask(lengths, max_len), "mask", 0.0)

        return run

    cases: list[Case] = [
        ("causal mask, n 1", causal(1)),
        ("causal mask, n 4", causal(4)),
        ("causal mask, n 9", causal(9)),
        ("padding mask, lengths list [3, 1, 4], max_len 4", padding([3, 1, 4], 4, False)),
        ("padding mask, lengths tensor, batch 2, max_len 7", padding([2, 5], 7, True)),
        ("padding mask, an empty sequence, max_len 6", padding([0, 6], 6, True)),
        ("padding mask, batch 1, max_len 1", padding([1], 1, True)),
        ("padding mask, batch 5, max_len 12", padding([12, 3, 7, 1, 9], 12, True)),
    ]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        n, max_len, batch = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in RANGES)
        lengths = torch.randint(0, max_len + 1, (batch,), generator=g).tolist()
        cases += [
            (f"causal mask, n {n}", causal(n)),
            (f"padding mask, batch {batch}, max_len {max_len}", padding(lengths, max_len, True)),
        ]
    return run_cases("ex-masks-and-positions-masks", cases, verbose)


SINUSOIDAL_ATOL = (
    1e-4  # float32 output; a float32 computation of the angles at pos ~200 is ~2e-5 off
)


@CHAPTER.exercise(
    "ex-masks-and-positions-sinusoidal",
    title="The sinusoidal encoding",
    difficulty="medium",
    names=("my_sinusoidal_encoding",),
    references=("companion.positional.sinusoidal_encoding",),
)
def check_sinusoidal_encoding(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-masks-and-positions-sinusoidal: ``sinusoidal_encoding(max_len, d_model)`` -> float32
    ``(max_len, d_model)``, sin in the even dimensions and cos in the odd ones."""

    def case(max_len, d_model):
        want = sinusoidal_encoding(max_len, d_model)
        return lambda: compare(fn(max_len, d_model), want, "encoding", SINUSOIDAL_ATOL, dtype=True)

    sizes = [(1, 2), (10, 4), (50, 16), (200, 64), (3, 128), (37, 10)]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        max_lens = torch.randint(1, 100, (2,), generator=g).tolist()
        d_models = (2 * torch.randint(1, 33, (2,), generator=g)).tolist()  # even
        sizes += list(zip(max_lens, d_models, strict=True))
    cases: list[Case] = [(f"max_len {n}, d_model {d}", case(n, d)) for n, d in sizes]
    return run_cases("ex-masks-and-positions-sinusoidal", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-masks-and-positions-causal-by-hand", title="A causal row by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-masks-and-positions-convert", title="Masks for nn.MultiheadAttention", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-masks-and-positions-causal-order",
    title="Does a causal mask give away the order?",
    difficulty="medium",
)
