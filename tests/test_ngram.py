"""companion.ngram: the count-based baselines, against a hand computation and a dictionary-based
implementation written independently of the vectorised one."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from companion.ngram import ngram_cross_entropy


def slow_ngram_cross_entropy(train, val, vocab_size, n, alpha):
    """The same model with Python dictionaries, one position at a time."""
    pairs = Counter(tuple(train[i : i + n]) for i in range(len(train) - n + 1))
    contexts = Counter(tuple(train[i : i + n - 1]) for i in range(len(train) - n + 1))
    losses = []
    for i in range(n - 1, len(val)):
        context, token = tuple(val[i - n + 1 : i]), val[i]
        p = (pairs[(*context, token)] + alpha) / (contexts[context] + alpha * vocab_size)
        losses.append(-math.log(p))
    return sum(losses) / len(losses)


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


@given(
    vocab=st.integers(2, 5),
    n=st.integers(1, 3),
    alpha=st.sampled_from([0.01, 0.5, 1.0]),
    data=st.data(),
)
def test_matches_the_dictionary_implementation(vocab, n, alpha, data):
    ids = st.lists(st.integers(0, vocab - 1), min_size=n, max_size=40)
    train, val = data.draw(ids), data.draw(ids)
    want = slow_ngram_cross_entropy(train, val, vocab, n, alpha)
    assert ngram_cross_entropy(train, val, vocab, n, alpha) == pytest.approx(want, abs=1e-9)


def test_large_alpha_tends_to_the_uniform_model():
    got = ngram_cross_entropy([0, 1, 1, 1, 2], [2, 0, 1], vocab_size=7, n=2, alpha=1e9)
    assert got == pytest.approx(math.log(7), abs=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(n=0), "n=0 must be a positive int"),
        (dict(alpha=0.0), "alpha=0.0 must be > 0"),
        (dict(vocab_size=2), "ids outside"),
        (dict(n=6), "too short|at least n=6"),
        (dict(vocab_size=1000, n=3), "cells; use a smaller n"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(train=[0, 1, 2, 1, 0], val=[1, 2, 0], vocab_size=3, n=2, alpha=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        ngram_cross_entropy(**args)


def test_float_ids_are_refused():
    with pytest.raises(ValueError, match="1-D tensor of token ids"):
        ngram_cross_entropy(torch.rand(5), [0, 1], vocab_size=3)
