"""Exercises of the chapter "Translation, summaries, and how to score them" (notebooks/42_translation_and_summaries)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, run_cases
from companion.course.registry import Chapter
from companion.metrics import brevity_penalty, modified_precision

CHAPTER = Chapter(42, "translation_and_summaries")  # notebooks/42_translation_and_summaries.ipynb

BP_TOLERANCE = 1e-9


def _counts_problem(got: object, want: tuple[int, int]) -> str | None:
    """None if ``got`` is the pair (numerator, denominator) ``want``; else what is wrong."""
    if not isinstance(got, tuple | list) or len(got) != 2:
        return f"returned a {type(got).__name__}, expected a pair (clipped matches, total n-grams)"
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in got):
        kinds = ", ".join(type(x).__name__ for x in got)
        return f"returned a pair of ({kinds}), expected two ints (counts, not a fraction)"
    wrong = [
        name
        for name, g, w in zip(("clipped matches", "total n-grams"), got, want, strict=True)
        if g != w
    ]
    return f"the {' and the '.join(wrong)} differ from BLEU's" if wrong else None


def _bp_problem(got: object, want: float) -> str | None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, int | float) or isinstance(got, bool):
        return f"returned a {type(got).__name__}, expected a float"
    if not math.isfinite(got) or abs(got - want) > BP_TOLERANCE:
        return f"the brevity penalty differs from BLEU's (by more than {BP_TOLERANCE:.0e})"
    return None


def _random_tokens(g: torch.Generator, vocab: int, low: int, high: int) -> list[str]:
    """A random sentence of ``low``..``high - 1`` tokens over a vocabulary of ``vocab`` words, so that
    n-grams repeat and clipping matters."""
    length = int(torch.randint(low, high, (1,), generator=g))
    return [f"w{int(i)}" for i in torch.randint(vocab, (length,), generator=g)]


@CHAPTER.exercise(
    "ex-translation-and-summaries-bleu-parts",
    title="BLEU's two parts",
    difficulty="medium",
    names=("my_modified_precision", "my_brevity_penalty"),
    references=("companion.metrics.modified_precision", "companion.metrics.brevity_penalty"),
)
def check_bleu_parts(
    precision_fn: Callable, penalty_fn: Callable, *, verbose: bool = True
) -> Score:
    """ex-translation-and-summaries-bleu-parts:
    ``modified_precision(hypothesis, reference, n) -> (clipped, total)``, two ints, for token lists
    ``hypothesis`` and ``reference`` (``list[str]``) and an n-gram order ``n >= 1``; and
    ``brevity_penalty(hyp_len, ref_len) -> float``, for token counts ``c = hyp_len`` and
    ``r = ref_len``: 1 if c >= r (including c = r = 0), exp(1 - r/c) if 0 < c < r, 0 if
    c = 0 < r."""

    def precision(hyp: list[str], ref: list[str], n: int):
        want = modified_precision(list(hyp), list(ref), n)  # before the learner sees the inputs
        return lambda: _counts_problem(precision_fn(list(hyp), list(ref), n), want)

    def penalty(c: int, r: int):
        want = brevity_penalty(c, r)
        return lambda: _bp_problem(penalty_fn(c, r), want)

    papineni = ("the the the the the the the".split(), "the cat is on the mat".split())
    pair = ("the cat is on the mat".split(), "there is a cat on the mat".split())
    cases: list[Case] = [
        ("precision, 'the' x 7 against 'the cat is on the mat', n 1", precision(*papineni, 1)),
        ("precision, the same, n 2", precision(*papineni, 2)),
        ("precision, a pair with some matches, n 1", precision(*pair, 1)),
        ("precision, the same pair, n 2", precision(*pair, 2)),
        ("precision, a hypothesis shorter than n", precision(["cat", "sat"], pair[1], 3)),
        ("precision, an empty hypothesis, n 1", precision([], pair[1], 1)),
        (
            "precision, repeated bigrams, n 2",
            precision("a b a b a b".split(), "a b c a b".split(), 2),
        ),
        ("brevity penalty, longer than the reference", penalty(9, 7)),
        ("brevity penalty, as long as the reference", penalty(7, 7)),
        ("brevity penalty, shorter than the reference", penalty(3, 7)),
        ("brevity penalty, an empty hypothesis", penalty(0, 5)),
        ("brevity penalty, an empty hypothesis and an empty reference", penalty(0, 0)),
    ]
    for i in range(3):  # random sentences over a small vocabulary; the grader's seed changes them
        g = case_generator(i)
        hyp, ref = _random_tokens(g, 4, 0, 15), _random_tokens(g, 4, 1, 15)
        n = int(torch.randint(1, 5, (1,), generator=g))
        cases.append((f"precision, random case {i + 1}, n {n}", precision(hyp, ref, n)))
        c, r = (int(x) for x in torch.randint(0, 60, (2,), generator=g))
        cases.append((f"brevity penalty, random case {i + 1}", penalty(c, r)))
    return run_cases("ex-translation-and-summaries-bleu-parts", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-translation-and-summaries-by-hand", title="BLEU by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-translation-and-summaries-predict", title="Which error costs more?", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-translation-and-summaries-change",
    title="A summarizer that avoids repeating itself",
    difficulty="hard",
)
