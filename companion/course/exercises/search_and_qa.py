"""Exercises of the chapter "Semantic search and question answering" (notebooks/41_search_and_qa)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, compare, run_cases
from companion.course.registry import Chapter
from companion.retrieval import bm25_scores

CHAPTER = Chapter(41, "search_and_qa")  # notebooks/41_search_and_qa.ipynb

BM25_ATOL = 1e-5  # scores are at most ~10; a float32 answer is within ~1e-6 of the float64 one
WORKED = [["cat", "sat", "mat"], ["dog", "sat"], ["cat", "dog", "cat"]]  # the chapter's example


def _random_collection(case: int) -> tuple[list[str], list[list[str]], float, float]:
    """A query, documents, k1 and b drawn from case_generator(case): 2 to 9 documents of 0 to 11
    tokens over a vocabulary of 3 to 15 words, and a query of 1 to 5 tokens (with repeats, and
    a word no document holds)."""
    g = case_generator(case)

    def draw(lo: int, hi: int) -> int:
        return int(torch.randint(lo, hi + 1, (1,), generator=g))

    words = [f"w{i}" for i in range(draw(3, 15))]
    docs = [[words[draw(0, len(words) - 1)] for _ in range(draw(0, 11))] for _ in range(draw(2, 9))]
    pool = [*words, "unseen"]
    query = [pool[draw(0, len(pool) - 1)] for _ in range(draw(1, 5))]
    k1 = [0.5, 1.2, 2.0][draw(0, 2)]
    b = [0.0, 0.5, 0.75, 1.0][draw(0, 3)]
    return query, docs, k1, b


@CHAPTER.exercise(
    "ex-search-and-qa-bm25",
    title="Implement BM25",
    difficulty="medium",
    names=("my_bm25_scores",),
    references=("companion.retrieval.bm25_scores", "companion.retrieval.BM25"),
)
def check_bm25(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-search-and-qa-bm25: ``bm25_scores(query, docs, k1=1.2, b=0.75)`` -> a float tensor
    ``(len(docs),)``: the BM25 score of each document, with Lucene's idf
    ``ln(1 + (N - n + 0.5) / (n + 0.5))``. ``query`` is a list of tokens (a repeated token counts
    each time), ``docs`` a list of token lists."""

    def case(query, docs, k1, b):
        want = bm25_scores(query, docs, k1=k1, b=b)  # before the learner sees the inputs
        args = copy.deepcopy((query, docs))
        return lambda: compare(fn(*args, k1=k1, b=b), want, "scores", BM25_ATOL)

    cases: list[Case] = [
        ('the worked example, query ["cat"]', case(["cat"], WORKED, 1.2, 0.75)),
        ('the worked example, query ["cat", "sat"]', case(["cat", "sat"], WORKED, 1.2, 0.75)),
        ("a query word in no document", case(["bird", "dog"], WORKED, 1.2, 0.75)),
        ("a query word repeated", case(["dog", "dog", "mat"], WORKED, 1.2, 0.75)),
        (
            "a word in every document (idf stays positive)",
            case(["a"], [["a"], ["a", "b"]], 1.2, 0.75),
        ),
        ("b = 0 (no length normalization)", case(["cat"], WORKED, 1.2, 0.0)),
        ("k1 = 0 (term frequency ignored)", case(["cat", "dog"], WORKED, 0.0, 0.75)),
        ("an empty document", case(["x"], [["x", "y", "x"], [], ["y"]], 1.5, 1.0)),
    ]
    for i in range(1, 4):  # random collections; the grader's seed changes them
        query, docs, k1, b = _random_collection(i)
        cases.append(
            (
                f"random collection {i}: {len(docs)} documents, k1 {k1}, b {b}",
                case(query, docs, k1, b),
            )
        )
    return run_cases("ex-search-and-qa-bm25", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-search-and-qa-by-hand", title="BM25 by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-search-and-qa-predict", title="Switch off saturation and length", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-search-and-qa-change", title="Fuse scores instead of ranks", difficulty="hard"
)
