"""Checkers of the chapter notebooks/31_train_gpt."""

from __future__ import annotations

from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, compare, run_cases
from companion.course.registry import Chapter
from companion.generate import filter_logits
from companion.ngram import ngram_cross_entropy

CHAPTER = Chapter(31, "train_gpt")  # notebooks/31_train_gpt.ipynb


NGRAM_ATOL = 1e-6


@CHAPTER.exercise(
    "ex-train-gpt-ngram",
    title="How far can counting go?",
    difficulty="medium",
    names=("ngram_cross_entropy",),
    references=("companion.ngram.ngram_cross_entropy",),
)
def check_ngram_cross_entropy(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-train-gpt-ngram: ``ngram_cross_entropy(train, val, vocab_size, n, alpha)`` -> float, the
    add-alpha n-gram model's cross-entropy in nats per token on ``val`` (positions ``t >= n - 1``),
    against :func:`companion.ngram.ngram_cross_entropy`, for orders up to 5. (The cases are small
    enough for a dense table; Tiny Shakespeare's 65**5 5-grams are not, which the notebook shows.)"""

    def case(seed, vocab, n, alpha, n_train, n_val, skewed=False):
        def run():
            g = case_generator(seed)
            if skewed:  # a few frequent tokens, so some contexts are never seen in training
                weights = torch.arange(vocab, 0, -1, dtype=torch.float64) ** 3
                train = torch.multinomial(weights, n_train, replacement=True, generator=g)
            else:
                train = torch.randint(vocab, (n_train,), generator=g)
            val = torch.randint(vocab, (n_val,), generator=g)
            want = ngram_cross_entropy(train, val, vocab, n, alpha)  # before fn may change them
            got = fn(train, val, vocab, n, alpha)
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if not isinstance(got, float | int):
                return f"returned {type(got).__name__}, expected a float (nats per token)"
            return compare(
                torch.tensor(float(got)), torch.tensor(want), "cross-entropy", NGRAM_ATOL
            )

        return run

    cases: list[Case] = [
        ("unigram, vocab 5, alpha 1", case(1, 5, 1, 1.0, 200, 50)),
        ("bigram, vocab 4, alpha 1", case(2, 4, 2, 1.0, 300, 80)),
        ("bigram, vocab 10, alpha 0.1", case(3, 10, 2, 0.1, 500, 100)),
        ("bigram, unseen contexts, alpha 0.5", case(4, 12, 2, 0.5, 60, 100, skewed=True)),
        ("trigram, vocab 6, alpha 0.1", case(5, 6, 3, 0.1, 2000, 300)),
        ("trigram, unseen contexts, alpha 0.01", case(6, 8, 3, 0.01, 100, 200, skewed=True)),
        ("4-gram, vocab 3, alpha 1", case(7, 3, 4, 1.0, 400, 60)),
        ("bigram, a 2-token validation text", case(8, 5, 2, 1.0, 100, 2)),
        ("5-gram, vocab 4, alpha 0.03", case(9, 4, 5, 0.03, 3000, 200, skewed=True)),
        ("5-gram, vocab 12, mostly unseen contexts", case(10, 12, 5, 0.1, 500, 150)),
    ]
    return run_cases("ex-train-gpt-ngram", cases, verbose)


PROBS_ATOL = 1e-6


@CHAPTER.exercise(
    "ex-train-gpt-sampling",
    title="Temperature and top-k",
    difficulty="easy",
    names=("next_token_probs",),
    references=("companion.generate.filter_logits",),
)
def check_next_token_probs(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-train-gpt-sampling: ``next_token_probs(logits, temperature=1.0, top_k=None)`` -> the
    ``(batch, vocab)`` distribution that temperature and top-k sampling draw from, i.e.
    ``softmax(top_k(logits / temperature))``, against :func:`companion.generate.filter_logits`."""

    def case(seed, batch, vocab, temperature, top_k, scale=3.0):
        def run():
            g = case_generator(seed)
            logits = scale * torch.randn(batch, vocab, generator=g, dtype=torch.float64)
            kwargs = {"temperature": temperature}
            if top_k is not None:
                kwargs["top_k"] = top_k
            got = fn(logits.clone(), **kwargs)
            want = filter_logits(logits / temperature, top_k).softmax(-1)
            return compare(got, want, "probabilities", PROBS_ATOL)

        return run

    cases: list[Case] = [
        ("temperature 1, no top-k", case(1, 2, 10, 1.0, None)),
        ("temperature 0.5 (sharper)", case(2, 3, 20, 0.5, None)),
        ("temperature 2 (flatter)", case(3, 3, 20, 2.0, None)),
        ("top-k 5, temperature 1", case(4, 4, 65, 1.0, 5)),
        ("top-k 1 (greedy as a distribution)", case(5, 2, 30, 1.0, 1)),
        ("top-k 3 with temperature 0.7", case(6, 2, 12, 0.7, 3)),
        ("top-k larger than the vocabulary", case(7, 2, 6, 1.0, 50)),
        ("large logits, temperature 0.25", case(8, 2, 16, 0.25, None, scale=30.0)),
    ]
    return run_cases("ex-train-gpt-sampling", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-train-gpt-context", title="Double the context: predict, then measure", difficulty="medium"
)
CHAPTER.other_exercise("ex-train-gpt-overfit", title="Too little text", difficulty="medium")
