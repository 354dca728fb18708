"""companion.ngram: the count-based baselines, against hand computations and dictionary-based
implementations written independently of the vectorised, sparse ones."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.ngram import AddAlphaNgram, InterpolatedNgram, ngram_cross_entropy

# --- references: Python dictionaries, one position at a time ----------------------------------------


def slow_ngram_cross_entropy(train, val, vocab_size, n, alpha):
    """The add-alpha model with Python dictionaries."""
    pairs = Counter(tuple(train[i : i + n]) for i in range(len(train) - n + 1))
    contexts = Counter(tuple(train[i : i + n - 1]) for i in range(len(train) - n + 1))
    losses = []
    for i in range(n - 1, len(val)):
        context, token = tuple(val[i - n + 1 : i]), val[i]
        p = (pairs[(*context, token)] + alpha) / (contexts[context] + alpha * vocab_size)
        losses.append(-math.log(p))
    return sum(losses) / len(losses)


def slow_interpolated(train, vocab_size, n, discounts, kneser_ney):
    """``P(v | context)`` of interpolated absolute discounting / Kneser-Ney, by recursion over
    dictionaries of counts (Chen & Goodman 1999's definition, written from the formula)."""
    counts = []  # counts[k - 1][gram]: occurrences, or for KN below n: distinct predecessors
    for k in range(1, n + 1):
        if kneser_ney and k < n:
            longer = {tuple(train[i : i + k + 1]) for i in range(len(train) - k)}
            counts.append(Counter(g[1:] for g in longer))
        else:
            counts.append(Counter(tuple(train[i : i + k]) for i in range(len(train) - k + 1)))

    def p(v, context):  # context: a tuple of k - 1 tokens, the model of order k = len + 1
        k = len(context) + 1
        lower = 1 / vocab_size if k == 1 else p(v, context[1:])
        followers = {g[-1]: c for g, c in counts[k - 1].items() if g[:-1] == context}
        total = sum(followers.values())
        if total == 0:
            return lower
        d = discounts[k - 1]
        return (max(followers.get(v, 0) - d, 0) + d * len(followers) * lower) / total

    return lambda v, context: p(v, tuple(context[len(context) - n + 1 :]) if n > 1 else ())


texts = st.integers(2, 5).flatmap(
    lambda vocab: st.tuples(
        st.just(vocab),
        st.lists(st.integers(0, vocab - 1), min_size=6, max_size=40),
        st.lists(st.integers(0, vocab - 1), min_size=6, max_size=20),
    )
)

# --- add-alpha ---------------------------------------------------------------------------------


def test_bigram_by_hand():
    # train "abab" over {a, b, c}: pairs ab twice, ba once; val "ab" scores P(b | a).
    a, b = 0, 1
    p_b_given_a = (2 + 1) / (2 + 3)  # (count(ab) + alpha) / (count(a.) + alpha V)
    got = ngram_cross_entropy([a, b, a, b], [a, b], vocab_size=3, n=2, alpha=1.0)
    assert got == pytest.approx(-math.log(p_b_given_a), abs=1e-12)


def test_unigram_is_the_cross_entropy_of_the_frequencies():
    train = torch.tensor([0, 0, 0, 1])  # P(0) = (3 + a) / (4 + 2a), P(1) = (1 + a) / (4 + 2a)
    val = torch.tensor([1, 0])
    alpha = 0.5
    want = -(math.log(1.5 / 5) + math.log(3.5 / 5)) / 2
    assert ngram_cross_entropy(train, val, 2, n=1, alpha=alpha) == pytest.approx(want, abs=1e-12)


@given(n=st.integers(1, 5), alpha=st.sampled_from([0.01, 0.5, 1.0]), text=texts)
def test_matches_the_dictionary_implementation(n, alpha, text):
    vocab, train, val = text
    want = slow_ngram_cross_entropy(train, val, vocab, n, alpha)
    assert ngram_cross_entropy(train, val, vocab, n, alpha) == pytest.approx(want, abs=1e-9)


def test_a_5gram_over_65_tokens_is_counted_sparsely():
    """65**5 = 1.16e9 possible 5-grams: a dense table would take 9 GB; the sparse one stores
    only the distinct windows of the text, and still agrees with the dictionaries."""
    g = torch.Generator().manual_seed(0)
    weights = torch.arange(65, 0, -1, dtype=torch.float64) ** 2  # some contexts recur
    train = torch.multinomial(weights, 5000, replacement=True, generator=g)
    val = torch.cat([train[100:400], torch.randint(65, (200,), generator=g)])
    model = AddAlphaNgram(train, 65, n=5, alpha=0.1)
    assert len(model.pairs.keys) <= len(train) - 4
    want = slow_ngram_cross_entropy(train.tolist(), val.tolist(), 65, 5, 0.1)
    assert model.cross_entropy(val) == pytest.approx(want, abs=1e-9)


def test_large_alpha_tends_to_the_uniform_model():
    got = ngram_cross_entropy([0, 1, 1, 1, 2], [2, 0, 1], vocab_size=7, n=2, alpha=1e9)
    assert got == pytest.approx(math.log(7), abs=1e-6)


def test_changing_alpha_equals_refitting():
    train, val = [0, 1, 2, 1, 0, 1, 1, 2, 2, 0], [1, 2, 0, 0, 1]
    model = AddAlphaNgram(train, 3, n=3, alpha=1.0)
    model.alpha = 0.2
    assert model.cross_entropy(val) == ngram_cross_entropy(train, val, 3, n=3, alpha=0.2)
    with pytest.raises(ValueError, match=r"alpha=0 must be > 0"):
        model.alpha = 0


def test_seen_is_the_share_of_contexts_met_in_training():
    model = AddAlphaNgram([0, 1, 0, 1, 2], 4, n=2)
    # val contexts (the first token of each pair): 0, 3, 1 -> 0 and 1 were seen, 3 was not
    assert model.seen([0, 3, 1, 2]) == pytest.approx(2 / 3)
    assert InterpolatedNgram([0, 1, 0, 1, 2], 4, n=2).seen([0, 3, 1, 2]) == pytest.approx(2 / 3)
    # count(c): windows of two tokens starting with 0 (twice), 3 (never), 1 (twice)
    assert model.context_count([[0, 3], [3, 1], [1, 2]]).tolist() == [2, 0, 2]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(n=0), "n=0 must be a positive int"),
        (dict(alpha=0.0), "alpha=0.0 must be > 0"),
        (dict(vocab_size=2), "ids outside"),
        (dict(n=6), "at least n=6"),
        (dict(vocab_size=1000, n=7), "more than an int64 holds; use a smaller n"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(train=[0, 1, 2, 1, 0], val=[1, 2, 0], vocab_size=3, n=2, alpha=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        ngram_cross_entropy(**args)


def test_float_ids_are_refused():
    with pytest.raises(ValueError, match="1-D tensor of token ids"):
        ngram_cross_entropy(torch.rand(5), [0, 1], vocab_size=3)


# --- interpolated absolute discounting and Kneser-Ney --------------------------------------------


def test_interpolated_bigram_by_hand():
    """train "abab" over {a, b, c}, D = 1/2 at both orders.

    Absolute discounting: unigram counts a 2, b 2 (N = 4, two distinct tokens), so
    P1(b) = (2 - 1/2 + 1/2 * 2 * 1/3) / 4 = 11/24 and P1(c) = (1/2 * 2 * 1/3) / 4 = 1/12;
    bigrams after a: ab twice (one distinct follower), so
    P2(b | a) = (2 - 1/2 + 1/2 * 1 * 11/24) / 2 = 83/96 and P2(c | a) = (1/2 * 1/12) / 2 = 1/48.
    Kneser-Ney: the distinct bigrams ab and ba give the unigram continuation counts b 1, a 1,
    so P1(b) = (1 - 1/2 + 1/2 * 2 * 1/3) / 2 = 5/12, P1(c) = 1/6, P2(b | a) = (3/2 + 5/24) / 2 = 41/48.
    An unseen context (c) falls back to the unigram distribution."""
    train = [0, 1, 0, 1]
    absolute = InterpolatedNgram(train, 3, n=2, discount=0.5)
    kn = InterpolatedNgram(train, 3, n=2, discount=0.5, kneser_ney=True)
    p = absolute.probs([0]).tolist()
    assert p[1] == pytest.approx(83 / 96, abs=1e-15) and p[2] == pytest.approx(1 / 48, abs=1e-15)
    assert absolute.probs([2]).tolist() == pytest.approx([11 / 24, 11 / 24, 1 / 12], abs=1e-15)
    assert kn.probs([0])[1].item() == pytest.approx(41 / 48, abs=1e-15)
    assert kn.probs([2]).tolist() == pytest.approx([5 / 12, 5 / 12, 1 / 6], abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 4),
    discount=st.sampled_from([None, 0.0, 0.3, 1.0]),
    kneser_ney=st.booleans(),
    text=texts,
    data=st.data(),
)
def test_distributions_sum_to_one_and_match_the_dictionaries(n, discount, kneser_ney, text, data):
    vocab, train, val = text
    model = InterpolatedNgram(train, vocab, n, discount=discount, kneser_ney=kneser_ney)
    reference = slow_interpolated(train, vocab, n, model.discounts, kneser_ney)
    seen_context = train[: n - 1]  # a context that occurs in training ...
    other = data.draw(st.lists(st.integers(0, vocab - 1), min_size=n - 1, max_size=n - 1))
    unseen = [vocab - 1] * (n - 1)  # ... and ones that may not
    for context in (seen_context, other, unseen):
        p = model.probs(context)
        assert p.sum().item() == pytest.approx(1.0, abs=1e-12)
        if discount is None or discount > 0:
            assert (p > 0).all()
        assert p.tolist() == pytest.approx([reference(v, context) for v in range(vocab)], abs=1e-12)


def test_discount_zero_is_the_unsmoothed_estimate_that_add_alpha_tends_to():
    """With D = 0 and every validation window seen in training, interpolation adds nothing:
    P(v | c) = count(c, v) / count(c), the limit of add-alpha as alpha -> 0."""
    g = torch.Generator().manual_seed(1)
    train = torch.randint(4, (3000,), generator=g)
    val = train[500:900]  # every window occurs in training
    for n in (1, 2, 3, 4):
        interpolated = InterpolatedNgram(train, 4, n, discount=0.0).cross_entropy(val)
        add_alpha = ngram_cross_entropy(train, val, 4, n, alpha=1e-10)
        assert interpolated == pytest.approx(add_alpha, abs=1e-6)


def test_discounts_are_estimated_from_the_count_of_counts():
    # bigrams of 0 1 0 1 0 2 0 3: 01 twice, 10 twice, 02 20 03 once -> n1 = 3, n2 = 2
    model = InterpolatedNgram([0, 1, 0, 1, 0, 2, 0, 3], 4, n=2)
    assert model.discounts[1] == pytest.approx(3 / (3 + 2 * 2))
    # unigrams: 0 four times, 1 twice, 2 and 3 once -> n1 = 2, n2 = 1
    assert model.discounts[0] == pytest.approx(2 / (2 + 2 * 1))
    # no k-gram seen twice: the estimate is undefined and 0.5 is used
    assert InterpolatedNgram([0, 1, 2, 3], 4, n=2).discounts == [0.5, 0.5]


def test_kneser_ney_lowers_a_token_seen_often_after_one_context_only():
    """The classic case: "q" is frequent but always follows the same token, so after an unseen
    context Kneser-Ney gives it less than absolute discounting does."""
    train = [0, 1] * 20 + [2, 3, 2, 0, 3, 0, 2, 3, 0, 2]  # 1 only ever follows 0
    unseen = [3, 3]
    absolute = InterpolatedNgram(train, 4, n=3, discount=0.5).probs(unseen)
    kn = InterpolatedNgram(train, 4, n=3, discount=0.5, kneser_ney=True).probs(unseen)
    assert kn[1] < absolute[1]


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: InterpolatedNgram([0, 1, 2], 3, n=2, discount=1.5), r"discount=1.5 must lie in"),
        (lambda: InterpolatedNgram([0, 1], 3, n=3), r"at least n=3 tokens, got 2"),
        (lambda: InterpolatedNgram([0, 1, 2], 3, n=2).probs([]), r"needs n - 1 = 1"),
        (
            lambda: InterpolatedNgram([0, 1, 2], 3, n=2).prob(torch.zeros(4, 3, dtype=torch.long)),
            r"shape \(m, n=2\), got torch.int64 \(4, 3\)",
        ),
        (
            lambda: InterpolatedNgram([0, 1, 2], 3, n=2).prob([[0, 5]]),
            r"windows hold ids outside \[0, vocab_size=3\)",
        ),
        (lambda: InterpolatedNgram([0, 1, 2], 3, n=2).cross_entropy([1]), r"at least n=2"),
    ],
)
def test_interpolated_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
