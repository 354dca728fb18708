"""The checker of chapter 41 (companion.course.exercises.search_and_qa) accepts BM25 written from
the formula and rejects its usual mistakes."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from companion.course.exercises.search_and_qa import check_bm25
from companion.retrieval import BM25


def my_bm25_scores(query, docs, k1=1.2, b=0.75):
    """The notebook's solution: the formula, one document at a time."""
    n_docs = len(docs)
    avgdl = sum(len(d) for d in docs) / n_docs
    df = Counter(t for d in docs for t in set(d))  # document frequency of each term
    scores = torch.zeros(n_docs, dtype=torch.float64)
    for i, doc in enumerate(docs):
        tf = Counter(doc)
        norm = k1 * (1 - b + b * len(doc) / avgdl) if avgdl > 0 else k1 * (1 - b)
        for term in query:
            if tf[term] == 0:
                continue
            idf = math.log(1 + (n_docs - df[term] + 0.5) / (df[term] + 0.5))
            scores[i] += idf * tf[term] * (k1 + 1) / (tf[term] + norm)
    return scores


def bm25_float32_via_class(query, docs, k1=1.2, b=0.75):
    return BM25(docs, k1=k1, b=b).scores(query).float()


def bm25_robertson_idf(query, docs, k1=1.2, b=0.75):
    """Robertson's idf ln((N - n + 0.5) / (n + 0.5)): negative for a term in most documents."""
    n_docs, avgdl = len(docs), sum(len(d) for d in docs) / len(docs)
    df = Counter(t for d in docs for t in set(d))
    out = torch.zeros(n_docs, dtype=torch.float64)
    for i, doc in enumerate(docs):
        tf = Counter(doc)
        for term in query:
            if tf[term]:
                idf = math.log((n_docs - df[term] + 0.5) / (df[term] + 0.5))
                out[i] += (
                    idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * len(doc) / avgdl))
                )
    return out


def bm25_no_length_norm(query, docs, k1=1.2, b=0.75):
    """Ignores b: every document treated as of average length."""
    return my_bm25_scores(query, docs, k1=k1, b=0.0)


def bm25_set_query(query, docs, k1=1.2, b=0.75):
    """Counts each query word once, however often the query repeats it."""
    return my_bm25_scores(list(dict.fromkeys(query)), docs, k1=k1, b=b)


def bm25_without_k1_plus_1(query, docs, k1=1.2, b=0.75):
    """Drops the (k1 + 1) factor: the ranking is the same, the scores are not."""
    return my_bm25_scores(query, docs, k1=k1, b=b) / (k1 + 1)


def bm25_raw_tf(query, docs, k1=1.2, b=0.75):
    """tf-idf: no saturation at all."""
    n_docs = len(docs)
    df = Counter(t for d in docs for t in set(d))
    return torch.tensor(
        [
            sum(Counter(d)[t] * math.log(1 + (n_docs - df[t] + 0.5) / (df[t] + 0.5)) for t in query)
            for d in docs
        ],
        dtype=torch.float64,
    )


def bm25_df_with_multiplicity(query, docs, k1=1.2, b=0.75):
    """Document frequency counted with repeats: a term twice in one document counts as two."""
    n_docs, avgdl = len(docs), sum(len(d) for d in docs) / len(docs)
    df = Counter(t for d in docs for t in d)  # total occurrences, not documents
    out = torch.zeros(n_docs, dtype=torch.float64)
    for i, doc in enumerate(docs):
        tf = Counter(doc)
        for term in query:
            if tf[term]:
                idf = math.log(1 + max(n_docs - df[term] + 0.5, 0.0) / (df[term] + 0.5))
                out[i] += (
                    idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * len(doc) / avgdl))
                )
    return out


def bm25_list(query, docs, k1=1.2, b=0.75):
    return my_bm25_scores(query, docs, k1=k1, b=b).tolist()


WRONG = [
    bm25_robertson_idf,
    bm25_no_length_norm,
    bm25_set_query,
    bm25_without_k1_plus_1,
    bm25_raw_tf,
    bm25_df_with_multiplicity,
    bm25_list,
]


def test_the_solution_gets_full_marks():
    assert check_bm25(my_bm25_scores, verbose=False).score == 1.0


@pytest.mark.parametrize("wrong", WRONG, ids=lambda f: f.__name__)
def test_mistakes_are_rejected(wrong):
    score = check_bm25(wrong, verbose=False)
    assert score.passed < score.total, wrong.__name__


def test_a_list_is_reported_as_such():
    score = check_bm25(bm25_list, verbose=False)
    assert score.passed == 0 and "not a torch.Tensor" in score.messages[0]


REFERENCES = {"ex-search-and-qa-bm25": (my_bm25_scores,)}
OTHER_RIGHT_ANSWERS = [("ex-search-and-qa-bm25", (bm25_float32_via_class,))]
