"""Exercises of the chapter "Induction heads: in-context learning has a circuit" (notebooks/52_induction_heads)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, compare, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.induction import prefix_matching_score, repeated_tokens
from companion.masks import causal_mask

CHAPTER = Chapter(52, "induction_heads")  # notebooks/52_induction_heads.ipynb

ATOL = 1e-5


def _causal_softmax(scores: Tensor) -> Tensor:
    """Attention weights ``(n_heads, seq, seq)`` from raw scores, causal."""
    allowed = causal_mask(scores.shape[-1])  # (seq, seq), True = may attend
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1)


def _induction_head(tokens: Tensor) -> Tensor:
    """A hand-built induction head ``(1, seq, seq)``: each token attends to the token after its
    last earlier occurrence, or to itself when it has none."""
    seq = tokens.shape[0]
    pattern = torch.zeros(1, seq, seq, dtype=torch.float64)
    for t in range(seq):
        earlier = [j for j in range(t) if tokens[j] == tokens[t]]
        pattern[0, t, earlier[-1] + 1 if earlier else t] = 1.0
    return pattern


def _copy_head(tokens: Tensor) -> Tensor:
    """A head ``(1, seq, seq)`` that attends to the last earlier occurrence *itself*."""
    seq = tokens.shape[0]
    pattern = torch.zeros(1, seq, seq, dtype=torch.float64)
    for t in range(seq):
        earlier = [j for j in range(t) if tokens[j] == tokens[t]]
        pattern[0, t, earlier[-1] if earlier else t] = 1.0
    return pattern


@CHAPTER.exercise(
    "ex-induction-heads-prefix-matching",
    title="Implement the prefix-matching score",
    difficulty="medium",
    names=("my_prefix_matching_score",),
    references=("companion.induction.prefix_matching_score",),
)
def check_prefix_matching_score(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-induction-heads-prefix-matching: ``prefix_matching_score(pattern, tokens)`` with
    ``pattern (n_heads, seq, seq)`` (causal attention weights) and ``tokens (seq,)`` -> a tensor
    ``(n_heads,)``: for each head, the attention each query ``t`` pays to the keys ``j + 1`` such
    that ``j < t`` and ``tokens[j] == tokens[t]`` (summed over those keys), averaged over the
    queries that have at least one such ``j``."""

    def case(pattern: Tensor, tokens: Tensor):
        want = prefix_matching_score(pattern[None], tokens[None])  # (n_heads,)

        def run():
            got = fn(pattern.clone(), tokens.clone())
            return compare(got, want, "the scores", ATOL)

        return run

    def periodic(i: int, seq: int, vocab: int, periods: tuple[int, int], g=None) -> Tensor:
        g = case_generator(i) if g is None else g
        return repeated_tokens(1, seq, vocab, periods, g)[0][0]

    def random_heads(i: int, n_heads: int, seq: int, scale: float, g=None) -> Tensor:
        g = case_generator(i) if g is None else g
        scores = scale * torch.randn(n_heads, seq, seq, generator=g, dtype=torch.float64)
        return _causal_softmax(scores)

    distinct = periodic(1, 24, 1000, (7, 8))  # a period of 7, every token distinct within it
    dupes = periodic(2, 30, 4, (5, 10))  # 4 token ids: tokens repeat within a period too
    walk = torch.tensor([3, 3, 1, 3, 1, 1, 2, 3])  # repeats back to back
    free = torch.randint(0, 6, (40,), generator=case_generator(3))  # no period at all
    specs = [
        ("a hand-built induction head, period 7", _induction_head(distinct), distinct),
        ("a head attending to the earlier occurrence itself", _copy_head(distinct), distinct),
        ("uniform causal attention, period 7", _causal_softmax(torch.zeros(1, 24, 24)), distinct),
        ("3 random heads, 4 token ids", random_heads(4, 3, 30, 2.0), dupes),
        ("2 random heads, tokens repeating back to back", random_heads(5, 2, 8, 1.0), walk),
        ("4 random heads, 40 random tokens", random_heads(6, 4, 40, 3.0), free),
        ("a hand-built induction head, 4 token ids", _induction_head(dupes), dupes),
    ]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        for k in range(2):
            seq = int(torch.randint(20, 60, (1,), generator=g))
            vocab = int(torch.randint(3, 50, (1,), generator=g))
            tokens = periodic(0, seq, vocab, (3, (seq - 1) // 2 + 1), g=g)
            specs.append(
                (f"hidden case {k + 1}, seq {seq}", random_heads(0, 3, seq, 2.0, g=g), tokens)
            )
    cases: list[Case] = [(what, case(pattern, tokens)) for what, pattern, tokens in specs]
    return run_cases("ex-induction-heads-prefix-matching", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise(
    "ex-induction-heads-by-hand", title="A prefix-matching score by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-induction-heads-predict",
    title="Predict, then measure: a period never seen in training",
    difficulty="medium",
)
