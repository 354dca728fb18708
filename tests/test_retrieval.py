"""companion.retrieval: BM25 against a worked example by hand and a second, dense implementation;
dense search against a loop of cosines; reciprocal rank fusion, recall@k, sentence splitting and
exact match on small cases; the shipped corpus and questions."""

from __future__ import annotations

import math
import random
import re

import pytest
import torch
import torch.nn.functional as F

from companion.retrieval import (
    BM25,
    bm25_idf,
    bm25_scores,
    dense_scores,
    exact_match,
    hits_at_k,
    load_search_corpus,
    load_search_queries,
    longest_shared_word_run,
    normalize_answer,
    rank,
    recall_at_k,
    reciprocal_rank_fusion,
    split_sentences,
    tokenize,
)

DOCS = ["the cat sat on the mat", "the dog sat", "cat and dog and cat"]


def test_worked_example_by_hand():
    docs = [tokenize(d) for d in DOCS]
    assert docs == [["cat", "sat", "mat"], ["dog", "sat"], ["cat", "dog", "cat"]]
    # N = 3, avgdl = 8/3; "cat" is in 2 documents: idf = ln(1 + 1.5/2.5) = ln 1.6
    idf = math.log(1.6)
    norm3 = 1.2 * (0.25 + 0.75 * 3 / (8 / 3))  # = 1.3125 for a 3-token document
    norm2 = 1.2 * (0.25 + 0.75 * 2 / (8 / 3))  # = 0.975 for a 2-token document
    assert norm3 == pytest.approx(1.3125) and norm2 == pytest.approx(0.975)
    cat = [idf * 2.2 / (1 + norm3), 0.0, idf * 2 * 2.2 / (2 + norm3)]
    assert cat == pytest.approx([0.447139, 0.0, 0.624307], abs=1e-6)
    torch.testing.assert_close(
        bm25_scores(["cat"], docs), torch.tensor(cat, dtype=torch.float64), rtol=0, atol=1e-12
    )
    sat = [idf * 2.2 / (1 + norm3), idf * 2.2 / (1 + norm2), 0.0]  # "sat" is in 2 documents too
    both = torch.tensor([c + s for c, s in zip(cat, sat, strict=True)], dtype=torch.float64)
    torch.testing.assert_close(bm25_scores(["cat", "sat"], docs), both, rtol=0, atol=1e-12)
    assert both.tolist() == pytest.approx([0.894278, 0.523548, 0.624307], abs=1e-6)


def bm25_dense(query, docs, k1=1.2, b=0.75):
    """A second implementation, from a term-document count matrix instead of an inverted index."""
    vocab = sorted({t for d in docs for t in d} | set(query))
    tf = torch.tensor([[d.count(t) for t in vocab] for d in docs], dtype=torch.float64)  # (n, V)
    n = (tf > 0).sum(0).double()  # (V,)
    idf = torch.log(1 + (len(docs) - n + 0.5) / (n + 0.5))
    lengths = tf.sum(1, keepdim=True)  # (n, 1)
    avgdl = lengths.mean().clamp_min(1e-12)
    w = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths / avgdl))  # (n, V)
    w = torch.where(tf > 0, w, 0.0)  # 0/0 where k1 = 0 and the term is absent
    q = torch.tensor([query.count(t) for t in vocab], dtype=torch.float64)  # (V,)
    return w @ q


@pytest.mark.parametrize("seed", range(20))
def test_bm25_equals_a_dense_implementation_on_random_collections(seed):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(rng.randint(2, 12))]
    docs = [rng.choices(words, k=rng.randint(0, 9)) for _ in range(rng.randint(1, 8))]
    query = rng.choices(words + ["unseen"], k=rng.randint(1, 5))
    k1, b = rng.choice([0.0, 0.9, 1.2, 2.0]), rng.choice([0.0, 0.4, 0.75, 1.0])
    torch.testing.assert_close(
        BM25(docs, k1=k1, b=b).scores(query), bm25_dense(query, docs, k1, b), rtol=0, atol=1e-10
    )


def test_bm25_properties():
    docs = [["a", "b"], ["a", "a", "a", "b"], ["c"], ["a", "c", "d", "e", "f", "g"]]
    model = BM25(docs)
    assert model.index["a"] == [(0, 1), (1, 3), (3, 1)]  # term -> (document, count) postings
    s = model.scores(["a"])
    assert s[2] == 0 and (s >= 0).all()  # no match, no score; idf is never negative
    assert s[1] > s[0] > s[3]  # more occurrences, then a shorter document, score higher
    assert s[1] < 2 * s[0]  # tf saturates: 3 occurrences give less than twice one
    assert model.idf("a") < model.idf("c") < model.idf("zzz")  # rarer terms weigh more
    assert bm25_idf(4, 4).item() > 0  # a term in every document still counts (Lucene's idf)
    torch.testing.assert_close(model.scores(["a", "a"]), 2 * s)  # repeated query words add up
    assert torch.equal(model.scores([]), torch.zeros(4, dtype=torch.float64))
    flat = BM25(docs, k1=0.0).scores(["a"])  # k1 = 0: a match counts once, as idf alone
    assert torch.allclose(flat[[0, 1, 3]], torch.full((3,), model.idf("a"), dtype=torch.float64))
    no_len = BM25(docs, b=0.0).scores(["a"])  # b = 0: the document's length is ignored
    assert no_len[0] == no_len[3]
    assert model.score_matrix([["a"], ["c"]]).shape == (2, 4)


def test_tokenize():
    assert tokenize("The Transformer's 6 layers, e.g. BERT!") == [
        "transformer",
        "s",
        "6",
        "layers",
        "e",
        "g",
        "bert",
    ]
    assert tokenize("the a of", stopwords=set()) == ["the", "a", "of"]


def test_dense_scores_are_cosines_in_one_product():
    g = torch.Generator().manual_seed(0)
    docs = F.normalize(torch.randn(7, 5, generator=g), dim=-1)
    queries = F.normalize(torch.randn(3, 5, generator=g), dim=-1)
    loop = torch.tensor([[F.cosine_similarity(q, d, dim=0).item() for d in docs] for q in queries])
    torch.testing.assert_close(dense_scores(queries, docs), loop, rtol=0, atol=1e-6)
    torch.testing.assert_close(dense_scores(queries[0], docs), loop[0], rtol=0, atol=1e-6)


def test_rank_breaks_ties_by_lower_index_and_fusion_uses_ranks_only():
    s = torch.tensor([[0.5, 0.9, 0.5, 0.1]])
    assert rank(s).tolist() == [[1, 0, 2, 3]] and rank(s, 2).tolist() == [[1, 0]]
    assert rank(s, 10).shape == (1, 4)
    fused = reciprocal_rank_fusion(s, k=60)
    torch.testing.assert_close(
        fused, torch.tensor([[1 / 62, 1 / 61, 1 / 63, 1 / 64]], dtype=torch.float64)
    )
    torch.testing.assert_close(reciprocal_rank_fusion(s * 100 + 3), fused)  # scale-free
    other = torch.tensor([[0.0, 0.0, 1.0, 0.5]])  # ranks 3, 4, 1, 2
    both = reciprocal_rank_fusion(s, other)
    want = [1 / 62 + 1 / 63, 1 / 61 + 1 / 64, 1 / 63 + 1 / 61, 1 / 64 + 1 / 62]
    torch.testing.assert_close(both, torch.tensor([want], dtype=torch.float64))


def test_recall_at_k():
    ranked = torch.tensor([[2, 0, 1], [1, 2, 0], [0, 1, 2], [2, 1, 0]])
    relevant = [2, 2, 1, 0]
    assert recall_at_k(ranked, relevant, 1) == 0.25
    assert recall_at_k(ranked, relevant, 2) == 0.75
    assert recall_at_k(ranked, relevant, 3) == 1.0
    several = [{2}, {0, 2}, {1}, {1, 2}]  # a hit when any relevant document is in the top k
    assert hits_at_k(ranked, several, 1).tolist() == [True, False, False, True]
    assert recall_at_k(ranked, several, 1) == 0.5 and recall_at_k(ranked, several, 2) == 1.0
    assert recall_at_k(ranked, [[2], [2], [1], [0]], 2) == recall_at_k(ranked, relevant, 2)
    with pytest.raises(ValueError, match="non-empty collection"):
        recall_at_k(ranked, [{2}, set(), {1}, {0}], 1)


def test_longest_shared_word_run():
    doc = "Training on the target instead of the one-hot label; the 2017 Transformer used 0.1."
    assert longest_shared_word_run("a softened version of the one-hot label?", doc) == 5
    assert longest_shared_word_run("The TARGET, instead", doc) == 3  # case and punctuation ignored
    assert longest_shared_word_run("nothing shared here", doc) == 0
    assert longest_shared_word_run("", doc) == 0


def test_split_sentences_and_exact_match():
    text = "A mask, e.g. causal; it hides keys. Vaswani et al. used it! Is it? yes"
    assert split_sentences(text) == [
        "A mask, e.g. causal;",
        "it hides keys.",
        "Vaswani et al. used it!",
        "Is it?",
        "yes",
    ]
    assert normalize_answer("  The Cat,  sat! ") == "cat sat"
    assert exact_match("the cat sat.", "Cat sat") and not exact_match("cat", "cat sat")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: BM25([]), ValueError, "a non-empty list of token lists"),
        (lambda: BM25(["a b"]), ValueError, "a list of token lists"),
        (lambda: BM25([["a"]], k1=-1.0), ValueError, "k1=-1.0 must be a number >= 0"),
        (lambda: BM25([["a"]], b=1.5), ValueError, "b=1.5 must be a number in [0, 1]"),
        (lambda: BM25([["a"]]).scores("a"), TypeError, "pass tokenize(query)"),
        (lambda: tokenize(["a"]), TypeError, "text=['a'] must be a str"),
        (lambda: dense_scores(torch.ones(2, 3), torch.ones(4, 3)), ValueError, "normalize"),
        (lambda: dense_scores(torch.ones(2, 3), torch.ones(4, 2)), ValueError, "same d"),
        (lambda: rank(torch.ones(3), 0), ValueError, "k=0 must be a positive int"),
        (lambda: recall_at_k(torch.zeros(2, 1, dtype=torch.long), [0, 0], 2), ValueError, "m >= k"),
        (lambda: reciprocal_rank_fusion(torch.ones(2), torch.ones(3)), ValueError, "equal"),
    ],
)
def test_errors_say_what_to_fix(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_the_shipped_corpus_and_questions():
    docs = load_search_corpus()
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)) >= 150
    by_id = {d["id"]: d for d in docs}
    queries = load_search_queries()
    assert len(queries) >= 50 and len({q["query"] for q in queries}) == len(queries)
    for q in queries:
        assert set(q) <= {"query", "doc", "also", "answer"}, q
        assert q["answer"] in split_sentences(by_id[q["doc"]]["text"]), q
        also = q.get("also", [])
        assert all(a in by_id for a in also) and q["doc"] not in also, q  # other answering docs
        # Paraphrased: no run of more than 5 consecutive words copied from the searched text.
        d = by_id[q["doc"]]
        searched = " ".join([d["title"], *d["aliases"], d["text"]])
        assert longest_shared_word_run(q["query"], searched) <= 5, q
    # The glossary's pointers to chapters are kept apart, not searched.
    pointer = re.compile(r"(Introduced|Mentioned|First used) in ")
    assert not [d["id"] for d in docs if pointer.search(d["text"])]
