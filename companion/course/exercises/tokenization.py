"""Exercises of the chapter "From characters to subwords: tokenization" (notebooks/10_tokenization)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.tokenizers.sennrich import get_stats, learn_bpe_from_vocab, merge_vocab

CHAPTER = Chapter(10, "tokenization")  # notebooks/10_tokenization.ipynb

Vocab = dict[str, int]

TOY = {"l o w </w>": 5, "l o w e r </w>": 2, "n e w e s t </w>": 6, "w i d e s t </w>": 3}


def _compare_stats(got: object, want: dict) -> str | None:
    if not isinstance(got, Mapping):
        return f"returned a {type(got).__name__}, not a dict from pair to count"
    if not all(isinstance(k, tuple) and len(k) == 2 for k in got):
        return "a key is not a (left, right) tuple of two symbols"
    got = {k: v for k, v in got.items() if v != 0}  # a Counter may keep zero counts
    missing = sum(k not in got for k in want)
    extra = sum(k not in want for k in got)
    wrong = sum(k in got and got[k] != n for k, n in want.items())
    if missing or extra or wrong:
        return (
            f"pair counts differ: {missing} pair(s) missing, {extra} extra, "
            f"{wrong} with a wrong count (of {len(want)} pairs)"
        )
    return None


def _compare_vocab(got: object, want: dict) -> str | None:
    if not isinstance(got, Mapping):
        return f"returned a {type(got).__name__}, not a dict from word to count"
    if dict(got) == want:
        return None
    wrong = sum(got.get(w) != n for w, n in want.items())
    extra = sum(w not in want for w in got)
    return (
        f"{wrong} of {len(want)} words are not split (or counted) as expected"
        + (f", {extra} unexpected word(s)" if extra else "")
        + "; a pair merges only where both halves are whole symbols, left to right"
    )


def _compare_merges(got: object, want: list) -> str | None:
    if not isinstance(got, Sequence) or isinstance(got, str):
        return f"returned a {type(got).__name__}, not a list of (left, right) pairs"
    try:
        got = [tuple(p) for p in got]
    except TypeError:
        return "an entry is not a (left, right) pair"
    if got == want:
        return None
    if len(got) != len(want):
        return f"returned {len(got)} merges, expected {len(want)}"
    first = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
    return f"merge {first + 1} of {len(want)} is not the expected one (ties: first in scan order)"


def _random_vocab(g: torch.Generator) -> Vocab:
    """3-8 random words over 'abcde' (1-7 letters, counts 1-9), already partly merged."""
    n_words = int(torch.randint(3, 9, (1,), generator=g))
    words: dict[str, int] = {}
    while len(words) < n_words:
        length = int(torch.randint(1, 8, (1,), generator=g))
        word = "".join("abcde"[int(i)] for i in torch.randint(0, 5, (length,), generator=g))
        words.setdefault(" ".join([*word, "</w>"]), int(torch.randint(1, 10, (1,), generator=g)))
    for pair in learn_bpe_from_vocab(words, int(torch.randint(0, 6, (1,), generator=g))):
        words = merge_vocab(pair, words)
    return words


@CHAPTER.exercise(
    "ex-tokenization-bpe",
    title="BPE, one merge at a time",
    difficulty="medium",
    names=("my_get_stats", "my_merge_vocab", "my_learn_bpe"),
    references=(
        "companion.tokenizers.sennrich.get_stats",
        "companion.tokenizers.sennrich.merge_vocab",
        "companion.tokenizers.learn_bpe",
        "companion.tokenizers.sennrich.learn_bpe_from_vocab",
    ),
)
def check_bpe(
    stats_fn: Callable, merge_fn: Callable, learn_fn: Callable, *, verbose: bool = True
) -> Score:
    """ex-tokenization-bpe: on a vocabulary ``{"l o w </w>": 5, ...}`` (symbols separated by
    spaces, word -> count), ``my_get_stats(vocab)`` -> ``{(left, right): count}`` over every
    adjacent pair weighted by the word's count; ``my_merge_vocab(pair, vocab)`` -> a new vocabulary
    with each occurrence of ``pair`` as two whole symbols joined, left to right;
    ``my_learn_bpe(vocab, num_merges)`` -> the list of merged pairs, most frequent first, ties to
    the pair met first scanning the words in order and each word left to right."""

    def stats(vocab: Vocab) -> Callable[[], str | None]:
        want = get_stats(vocab)
        return lambda: _compare_stats(stats_fn(dict(vocab)), want)

    def merge(pair: tuple[str, str], vocab: Vocab) -> Callable[[], str | None]:
        want = merge_vocab(pair, vocab)
        return lambda: _compare_vocab(merge_fn(pair, dict(vocab)), want)

    def learn(vocab: Vocab, num_merges: int) -> Callable[[], str | None]:
        want = learn_bpe_from_vocab(vocab, num_merges)
        return lambda: _compare_merges(learn_fn(dict(vocab), num_merges), want)

    traps = {"n e s t </w>": 1, "ne s t </w>": 2, "es t </w>": 3, "a a a a a </w>": 4}
    cases: list[Case] = [
        ("pair counts, the paper's vocabulary", stats(TOY)),
        ("pair counts, 'a a a' counts ('a', 'a') twice", stats({"a a a </w>": 2, "b a </w>": 1})),
        ("pair counts, multi-letter symbols", stats({"ne s t </w>": 3, "n es t</w>": 5})),
        ("pair counts, single-symbol words", stats({"low</w>": 5, "a b": 1})),
        ("merge ('e', 's'), whole symbols only", merge(("e", "s"), traps)),
        ("merge ('a', 'a'), left to right", merge(("a", "a"), traps)),
        ("merge ('s', 't'), inside merged words", merge(("s", "t"), traps)),
        (
            "merge ('.', '</w>'), regex characters",
            merge((".", "</w>"), {"a . </w>": 1, "a b </w>": 2}),
        ),
        ("10 merges, the paper's vocabulary", learn(TOY, 10)),
        # four pairs tie at 1: scan order takes ('a', 'b'), the largest pair ('b', 'a'), the smallest
        # ('a', '</w>')
        ("1 merge, a tie", learn({"a b </w>": 1, "b a </w>": 1}, 1)),
        ("5 merges, stops after 2", learn({"a b </w>": 2}, 5)),
    ]
    generators = [(f"random vocabulary {i}", case_generator(i)) for i in (1, 2)]
    if (hidden := hidden_generator()) is not None:  # grading with the instructor's seed
        generators.append(("hidden random vocabulary", hidden))
    for what, g in generators:
        vocab = _random_vocab(g)
        pairs = list(get_stats(vocab)) or [("a", "</w>")]
        pair = pairs[int(torch.randint(0, len(pairs), (1,), generator=g))]
        num_merges = int(torch.randint(1, 15, (1,), generator=g))
        cases += [
            (f"pair counts, {what}", stats(vocab)),
            (f"merge, {what}", merge(pair, vocab)),
            (f"{num_merges} merges, {what}", learn(vocab, num_merges)),
        ]
    return run_cases("ex-tokenization-bpe", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-tokenization-by-hand", title="Segment new words by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-tokenization-oov-curve",
    title="Does a bigger word vocabulary cure OOV?",
    difficulty="medium",
)
CHAPTER.other_exercise(
    "ex-tokenization-chinese", title="Chinese under three tokenizers", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-tokenization-no-marker", title="BPE without the end-of-word marker", difficulty="hard"
)
