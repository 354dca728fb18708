"""Retrieval: BM25 over an inverted index, dense search by one matrix product, and their fusion.

Chapter 41 (``notebooks/41_search_and_qa``) searches the book's own glossary and chapter
summaries with three retrievers and scores them with :func:`recall_at_k`:

- **sparse** retrieval: :class:`BM25`, from the Okapi system at TREC-3 (Robertson et al. 1994), in
  the form reviewed by Robertson & Zaragoza (2009), on the words of :func:`tokenize`, with
  ``k1 = 1.2``, ``b = 0.75`` and Lucene's non-negative idf ``log(1 + (N - n + 0.5) / (n + 0.5))``;
- **dense** retrieval: :func:`dense_scores`, the cosine similarities of unit sentence embeddings
  (``companion.pretrained.load_minilm().embed``) as one matrix product;
- **hybrid** retrieval: :func:`reciprocal_rank_fusion` (Cormack, Clarke & Büttcher 2009), which
  adds ``1 / (k + rank)`` over the retrievers: it uses ranks only, so BM25's unbounded scores and
  cosines in [-1, 1] need no calibration and no weight to tune.

A question may have several relevant documents: :func:`hits_at_k` and :func:`recall_at_k` count a
hit when any of them is among the first ``k`` results.

Every ranking is deterministic: ties are broken by the lower document index (:func:`rank`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Collection, Sequence
from importlib import resources

import torch
from torch import Tensor

from companion import validators as check

__all__ = [
    "BM25",
    "STOPWORDS",
    "bm25_idf",
    "bm25_scores",
    "dense_scores",
    "exact_match",
    "hits_at_k",
    "load_search_corpus",
    "load_search_queries",
    "longest_shared_word_run",
    "normalize_answer",
    "rank",
    "recall_at_k",
    "reciprocal_rank_fusion",
    "split_sentences",
    "tokenize",
]

# Lucene's English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET), 33 words.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str, stopwords: frozenset[str] | set[str] = STOPWORDS) -> list[str]:
    """BM25's words: lower-case runs of ASCII letters and digits, minus ``stopwords``.

    ``tokenize("The Transformer's 6 layers")`` is ``['transformer', 's', '6', 'layers']``: no
    stemming, so "layer" and "layers" are different words (a failure the chapter shows).
    """
    if not isinstance(text, str):
        check.fail("text", text, "a str", "pass one document or query at a time", TypeError)
    return [w for w in _WORD.findall(text.lower()) if w not in stopwords]


def bm25_idf(n: int | Tensor, n_docs: int) -> Tensor:
    """Lucene's BM25 idf of a term that occurs in ``n`` of ``n_docs`` documents (float64):

    .. math:: \\mathrm{idf}(n) = \\ln\\left(1 + \\frac{N - n + 0.5}{n + 0.5}\\right)

    Unlike Robertson's ``ln((N - n + 0.5) / (n + 0.5))`` it is positive even for a term in more
    than half of the documents, so a match never lowers a score.
    """
    n = torch.as_tensor(n, dtype=torch.float64)
    return torch.log1p((n_docs - n + 0.5) / (n + 0.5))


class BM25:
    """Okapi BM25 over tokenized documents, stored as an inverted index (term -> postings).

    .. math:: \\mathrm{score}(D, Q) = \\sum_{q \\in Q} \\mathrm{idf}(q)\\,
        \\frac{f(q, D)\\,(k_1 + 1)}{f(q, D) + k_1\\,(1 - b + b\\,|D| / \\mathrm{avgdl})}

    with ``f(q, D)`` the count of ``q`` in ``D``, ``|D|`` its length in tokens, ``avgdl`` the mean
    length and idf from :func:`bm25_idf`. The sum runs over the query's tokens as given, so a
    repeated query token counts each time (as in Lucene and ``rank-bm25``).

    Args:
        docs: the documents as lists of tokens (e.g. from :func:`tokenize`); at least one.
        k1: term-frequency saturation, >= 0 (0: a match counts once, however often it occurs).
        b: length normalization in [0, 1] (0: none; 1: full).
    """

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        if isinstance(docs, str) or not isinstance(docs, Sequence) or len(docs) == 0:
            check.fail("docs", docs, "a non-empty list of token lists", "tokenize each document")
        if not all(isinstance(d, Sequence) and not isinstance(d, str) for d in docs):
            check.fail("docs", docs, "a list of token lists", "e.g. [tokenize(t) for t in texts]")
        self.k1 = check.number("k1", k1, 0)
        self.b = check.number("b", b, 0, 1)
        self.n_docs = len(docs)
        self.lengths = torch.tensor([len(d) for d in docs], dtype=torch.float64)  # (n_docs,)
        self.avgdl = max(self.lengths.mean().item(), 1e-12)  # all-empty documents score 0
        self.index: dict[str, list[tuple[int, int]]] = {}  # term -> [(doc, count), ...]
        for i, doc in enumerate(docs):
            for term, count in Counter(doc).items():
                self.index.setdefault(term, []).append((i, count))

    def idf(self, term: str) -> float:
        """:func:`bm25_idf` of ``term`` in this collection (a term in no document: ``ln(1 + 2N + 1)``)."""
        return bm25_idf(len(self.index.get(term, ())), self.n_docs).item()

    def scores(self, query: Sequence[str]) -> Tensor:
        """The BM25 score of every document for one tokenized ``query``: float64 ``(n_docs,)``.

        Only the postings of the query's terms are read (the point of an inverted index).
        """
        if isinstance(query, str):
            check.fail("query", query, "a list of tokens", "pass tokenize(query)", TypeError)
        out = torch.zeros(self.n_docs, dtype=torch.float64)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / self.avgdl)  # (n_docs,)
        for term in query:
            postings = self.index.get(term)
            if not postings:
                continue
            docs = torch.tensor([d for d, _ in postings])  # (n_term_docs,)
            tf = torch.tensor([c for _, c in postings], dtype=torch.float64)
            out[docs] += self.idf(term) * tf * (self.k1 + 1) / (tf + norm[docs])
        return out

    def score_matrix(self, queries: Sequence[Sequence[str]]) -> Tensor:
        """:meth:`scores` for each tokenized query: float64 ``(n_queries, n_docs)``."""
        if not queries:
            return torch.zeros(0, self.n_docs, dtype=torch.float64)
        return torch.stack([self.scores(q) for q in queries])


def bm25_scores(
    query: Sequence[str], docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75
) -> Tensor:
    """BM25 scores of every document in ``docs`` for ``query`` (both tokenized): float64 ``(len(docs),)``.

    One call builds the index and scores one query; see :class:`BM25` for the formula.
    """
    return BM25(docs, k1=k1, b=b).scores(query)


def dense_scores(queries: Tensor, docs: Tensor) -> Tensor:
    """Cosine similarities of unit embeddings, one matrix product: ``(q, d) @ (d, n) -> (q, n)``.

    Args:
        queries: ``(q, d)`` or ``(d,)`` embeddings, each of length 1 (e.g. ``model.embed(texts)``).
        docs: ``(n, d)`` embeddings of length 1.

    Raises:
        ValueError: if the widths differ or a row is not of length 1 (normalize it first:
            ``torch.nn.functional.normalize(x, dim=-1)``).
    """
    one = queries.dim() == 1
    queries = queries[None] if one else queries  # (q, d)
    if queries.dim() != 2 or docs.dim() != 2 or queries.shape[1] != docs.shape[1]:
        raise ValueError(
            f"queries {tuple(queries.shape)} and docs {tuple(docs.shape)} must be (q, d) and "
            "(n, d) with the same d, the embedding width"
        )
    for name, x in (("queries", queries), ("docs", docs)):
        norms = x.double().norm(dim=-1)
        if norms.numel() and not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
            raise ValueError(
                f"{name} has rows of length {norms.min().item():.3g} to {norms.max().item():.3g}, "
                "not 1: a dot product is a cosine only for unit vectors; normalize with "
                "torch.nn.functional.normalize(x, dim=-1)"
            )
    out = queries @ docs.T  # (q, n)
    return out[0] if one else out


def rank(scores: Tensor, k: int | None = None) -> Tensor:
    """Indices of the ``k`` best documents per query, best first: ``(..., n) -> (..., k)`` (long).

    Ties are broken by the lower index (a stable sort), so rankings are deterministic.
    ``k=None`` ranks every document.
    """
    n = scores.shape[-1]
    k = n if k is None else min(check.positive_int("k", k), n)
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices[..., :k]


def reciprocal_rank_fusion(*scores: Tensor, k: float = 60.0) -> Tensor:
    """Reciprocal rank fusion of several retrievers' scores (Cormack et al. 2009): ``(q, n)``.

    .. math:: \\mathrm{RRF}(d) = \\sum_{m} \\frac{1}{k + \\mathrm{rank}_m(d)}

    with ``rank_m(d)`` = 1 for retriever ``m``'s best document (ties by lower index), and
    ``k = 60`` as in the paper. Each input is ``(q, n)`` (or ``(n,)``) with larger = better.
    """
    if not scores:
        raise ValueError("reciprocal_rank_fusion needs at least one score matrix")
    check.number("k", k, 0)
    shape = scores[0].shape
    fused = torch.zeros(shape, dtype=torch.float64)
    for s in scores:
        if s.shape != shape:
            raise ValueError(f"score shapes {tuple(shape)} and {tuple(s.shape)} must be equal")
        order = rank(s)  # (..., n): document ids, best first
        ranks = torch.empty_like(order)
        ranks.scatter_(-1, order, torch.arange(1, shape[-1] + 1).expand_as(order))  # 1 = best
        fused += 1.0 / (k + ranks.double())
    return fused


def hits_at_k(
    ranked: Tensor, relevant: Sequence[int] | Tensor | Sequence[Collection[int]], k: int
) -> Tensor:
    """Whether each query has a relevant document among its first ``k`` results: bool ``(q,)``.

    Args:
        ranked: ``(q, m)`` document indices, best first (e.g. :func:`rank`), ``m >= k``.
        relevant: each query's relevant documents: ``(q,)`` indices, one per query, or ``q``
            collections of indices (a hit when any of them is in the first ``k``).
        k: how many results count.
    """
    check.positive_int("k", k)
    n_queries = ranked.shape[0] if ranked.dim() == 2 else -1
    if isinstance(relevant, Tensor) or all(isinstance(r, int) for r in relevant):
        relevant = torch.as_tensor(relevant)
        ok = relevant.shape == (n_queries,)
        sets = None
    else:
        sets = [{int(d) for d in r} for r in relevant]
        ok = len(sets) == n_queries and all(sets)
    if ranked.dim() != 2 or not ok or ranked.shape[1] < k:
        raise ValueError(
            f"ranked {tuple(ranked.shape)} must be (q, m) with m >= k={k}, and relevant must hold "
            f"one index or one non-empty collection of indices per query ({len(relevant)} given)"
        )
    top = ranked[:, :k]  # (q, k)
    if sets is None:
        return (top == relevant[:, None]).any(dim=1)  # (q,)
    return torch.tensor([bool(s & set(t)) for s, t in zip(sets, top.tolist(), strict=True)])


def recall_at_k(
    ranked: Tensor, relevant: Sequence[int] | Tensor | Sequence[Collection[int]], k: int
) -> float:
    """The share of queries with a relevant document among their first ``k`` results.

    With one relevant document per query this is DPR's "top-k retrieval accuracy". The arguments
    are those of :func:`hits_at_k`: ``ranked`` is ``(q, m)``, ``relevant`` ``(q,)`` indices or
    ``q`` collections of indices. Returns a float (a scalar); no queries give 0.0.
    """
    hits = hits_at_k(ranked, relevant, k)  # (q,)
    return hits.double().mean().item() if hits.numel() else 0.0


def longest_shared_word_run(a: str, b: str) -> int:
    """The length in words of the longest run of consecutive words that ``a`` and ``b`` share.

    Words are lower-case runs of ASCII letters and digits, stop words kept: how much of a question
    is copied from its document ("of the one-hot label" is a run of 4).
    """
    x, y = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    best, prev = 0, [0] * (len(y) + 1)
    for word in x:  # dynamic programming over common suffixes
        cur = [0] * (len(y) + 1)
        for j, other in enumerate(y):
            if word == other:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "cf.", "Fig.")


def split_sentences(text: str) -> list[str]:
    """Cut ``text`` after ``.``, ``?``, ``!`` or ``;`` followed by a space (not after e.g., i.e.,
    et al., vs.): the candidate answers of a retrieved document, stripped, none empty."""
    protected = text
    for i, abbreviation in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbreviation + " ", f"\x00{i}\x00 ")
    parts = re.split(r"(?<=[.?!;])\s+", protected)
    out = []
    for part in parts:
        for i, abbreviation in enumerate(_ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbreviation)
        if part.strip():
            out.append(part.strip())
    return out


def normalize_answer(text: str) -> str:
    """SQuAD's normalization for exact match: lower case, no punctuation, no articles (a, an,
    the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def exact_match(prediction: str, reference: str) -> bool:
    """True if ``prediction`` and ``reference`` are equal after :func:`normalize_answer`."""
    return normalize_answer(prediction) == normalize_answer(reference)


def _read_json(name: str) -> dict:
    text = resources.files("companion.data").joinpath("texts", name).read_text(encoding="utf-8")
    return json.loads(text)


def load_search_corpus() -> list[dict]:
    """Chapter 41's documents (``companion/data/texts/search_corpus.json``, a frozen snapshot of
    the book's glossary and chapter summaries): dicts with ``id``, ``kind`` ("glossary" or
    "chapter"), ``title``, ``aliases``, ``chinese``, ``text`` and ``source``."""
    return _read_json("search_corpus.json")["documents"]


def load_search_queries() -> list[dict]:
    """Chapter 41's questions (``search_queries.json``): dicts with ``query``, ``doc`` (the id of
    the document it was written for), ``answer`` (a sentence of that document, as
    :func:`split_sentences` cuts it) and, where other documents answer it too, ``also`` (their
    ids)."""
    return _read_json("search_queries.json")["queries"]
