"""Checkers of the chapter notebooks/34_pretrained_minilm: mean pooling and WordPiece."""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from companion.course.core import (
    Case,
    Score,
    case_generator,
    case_seed,
    compare,
    randn,
    run_cases,
)
from companion.course.registry import Chapter
from companion.pretrained import mean_pool
from companion.tokenizers import wordpiece

CHAPTER = Chapter(34, "pretrained_minilm")  # notebooks/34_pretrained_minilm.ipynb


MEAN_POOL_ATOL = 1e-10


@CHAPTER.exercise(
    "ex-pretrained-mean-pooling",
    title="Mean pooling with a mask",
    difficulty="easy",
    names=("mean_pooling",),
    references=("companion.models.mean_pool",),
)
def check_mean_pooling(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-pretrained-mean-pooling: ``mean_pooling(hidden, mask)``, the mean of the hidden states
    ``(batch, seq, d)`` over the positions where ``mask (batch, seq)`` (bool) is True, against
    :func:`companion.pretrained.mean_pool` (float64). Padded positions hold large values, so that
    counting them shows."""

    def case(seed, lengths, seq, d, dtype=torch.float64):
        def run():
            g = case_generator(seed)
            hidden = randn(g, len(lengths), seq, d)
            mask = torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]  # (batch, seq)
            hidden = hidden.masked_fill(~mask[..., None], 1e3).to(dtype)  # padding: loud values
            want = mean_pool(hidden, mask)  # before fn may change its inputs
            return compare(fn(hidden, mask), want, "output", MEAN_POOL_ATOL, dtype=True)

        return run

    cases: list[Case] = [
        ("batch 2, no padding", case(1, [5, 5], 5, 8)),
        ("batch 3, padded to 7", case(2, [7, 3, 5], 7, 16)),
        ("one real token ([CLS] only)", case(3, [1, 4], 4, 6)),
        ("batch 1, seq 1", case(4, [1], 1, 3)),
        ("mostly padding, seq 40", case(5, [2, 40, 9, 3], 40, 12)),
        ("a row of padding only: its mean is 0", case(6, [3, 0], 3, 5)),
        ("float32 in, float32 out", case(7, [6, 2], 6, 10, torch.float32)),
    ]
    return run_cases("ex-pretrained-mean-pooling", cases, verbose)


# Small vocabularies where greedy longest-match-first differs from the alternatives.
TRAP_VOCAB = {"a", "ab", "abc", "##c", "##bc", "##d", "##cd", "b", "##b", "x", "##x", "[UNK]"}
DEAD_END_VOCAB = {"a", "ab", "##bc", "[UNK]"}  # "abc": "ab" leaves "c", which "##bc" cannot cover


def _random_vocab(rng: random.Random) -> set[str]:
    """Every letter of "abcd" as a start and as a ``##`` continuation (so any word over it can be
    spelled), and 30 random longer pieces, each a start or a continuation."""
    letters = set("abcd") | {"##" + c for c in "abcd"}
    longer = {"".join(rng.choices("abcd", k=rng.randint(2, 4))) for _ in range(30)}
    return letters | {p if rng.random() < 0.5 else "##" + p for p in longer} | {"[UNK]"}


@CHAPTER.exercise(
    "ex-pretrained-wordpiece",
    title="WordPiece for one word",
    difficulty="medium",
    names=("wordpiece_word",),
    references=("companion.tokenizers.wordpiece.wordpiece",),
)
def check_wordpiece_word(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-pretrained-wordpiece: ``wordpiece_word(word, vocab)``, greedy longest-match-first
    WordPiece of one word (``##`` continuations, ``["[UNK]"]`` for a word that cannot be
    spelled or is longer than 100 characters), against :func:`companion.tokenizers.wordpiece`."""

    def case(word, vocab):
        def run():
            got = fn(word, set(vocab))
            if not isinstance(got, list) or not all(isinstance(p, str) for p in got):
                return f"returned a {type(got).__name__}, not a list of strings"
            want = wordpiece(word, vocab)
            if got == want:
                return None
            if len(got) != len(want):
                return f"returned {len(got)} pieces, expected {len(want)}"
            return f"returned the right number of pieces, but piece {_first_difference(got, want)} differs"

        return run

    rng = random.Random(case_seed(0))
    randoms = []
    for i in range(4):
        vocab = _random_vocab(rng)
        word = "".join(rng.choices("abcd", k=rng.randint(3, 12)))
        randoms.append(
            (f"random vocabulary {i + 1}, a word of {len(word)} letters", case(word, vocab))
        )

    cases: list[Case] = [
        ("a word in the vocabulary", case("abc", TRAP_VOCAB)),
        ("longest first, not shortest first", case("abcd", TRAP_VOCAB)),
        ("a continuation piece needs '##'", case("abb", TRAP_VOCAB)),
        ("greedy: the longest prefix leads to a dead end", case("abc", DEAD_END_VOCAB)),
        ("a letter the vocabulary lacks: the whole word is [UNK]", case("xxe", TRAP_VOCAB)),
        ("100 characters: still spelled", case("x" * 100, TRAP_VOCAB)),
        ("101 characters: [UNK]", case("x" * 101, TRAP_VOCAB)),
        *randoms,
    ]
    return run_cases("ex-pretrained-wordpiece", cases, verbose)


def _first_difference(got: list[str], want: list[str]) -> int:
    return next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b) + 1


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-pretrained-word-order", title="Predict, then measure: word order", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-pretrained-truncation", title="Predict, then measure: truncation", difficulty="easy"
)
