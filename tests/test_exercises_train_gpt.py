"""The checkers of notebooks/31_train_gpt: the references pass, plausible mistakes are rejected,
and a report never shows an expected value."""

from __future__ import annotations

import math

import pytest
import torch

from companion.course.exercises.train_gpt import check_next_token_probs, check_ngram_cross_entropy
from companion.generate import filter_logits
from companion.ngram import ngram_cross_entropy

# --- ngram_cross_entropy ---------------------------------------------------------------------------


def _counts(train, vocab_size, n):
    """The n-gram counts table ``(V,) * n``, filled by a loop over the training windows."""
    counts = torch.zeros((vocab_size,) * n, dtype=torch.float64)
    for i in range(len(train) - n + 1):
        counts[tuple(train[i : i + n].tolist())] += 1
    return counts


def _mean_nll(probs, val, n):
    nll = [-math.log(probs[tuple(val[i - n + 1 : i + 1].tolist())]) for i in range(n - 1, len(val))]
    return sum(nll) / len(nll)


def ngram_dense(train, val, vocab_size, n, alpha):
    """A learner's loop over the counts table: correct, and written differently from companion's."""
    counts = _counts(train, vocab_size, n)
    probs = (counts + alpha) / (counts.sum(-1, keepdim=True) + alpha * vocab_size)
    return _mean_nll(probs, val, n)


def ngram_unsmoothed_denominator(train, val, vocab_size, n, alpha):
    """Adds alpha to the counts but forgets alpha * V in the denominator: not a distribution."""
    counts = _counts(train, vocab_size, n)
    probs = (counts + alpha) / (counts.sum(-1, keepdim=True) + alpha)
    return _mean_nll(probs, val, n)


def ngram_context_after(train, val, vocab_size, n, alpha):
    """Normalises over the context instead of the next token (the wrong axis)."""
    counts = _counts(train, vocab_size, n)
    probs = (counts + alpha) / (counts.sum(0, keepdim=True) + alpha * vocab_size)
    return _mean_nll(probs, val, n)


# --- next_token_probs -------------------------------------------------------------------------------


def next_token_probs(logits, temperature=1.0, top_k=None):
    return filter_logits(logits / temperature, top_k).softmax(-1)


def probs_temperature_after_softmax(logits, temperature=1.0, top_k=None):
    return filter_logits(logits.softmax(-1) / temperature, top_k).softmax(-1)


def probs_top_k_plus_one(logits, temperature=1.0, top_k=None):
    k = None if top_k is None else top_k + 1
    return filter_logits(logits / temperature, k).softmax(-1)


def probs_unnormalised_top_k(logits, temperature=1.0, top_k=None):
    """Zeroes the tokens outside the top k after the softmax, without renormalising."""
    probs = (logits / temperature).softmax(-1)
    if top_k is not None and top_k < logits.shape[-1]:
        keep = filter_logits(logits, top_k).isfinite()
        probs = probs * keep
    return probs


@pytest.mark.parametrize(
    ("checker", "fn", "message"),
    [
        (check_ngram_cross_entropy, ngram_unsmoothed_denominator, "cross-entropy differs"),
        (check_ngram_cross_entropy, ngram_context_after, "cross-entropy differs"),
        (
            check_ngram_cross_entropy,
            lambda *a: torch.tensor([ngram_cross_entropy(*a)] * 2),
            "returned Tensor, expected a float",
        ),
        (check_next_token_probs, probs_temperature_after_softmax, "probabilities differs"),
        (check_next_token_probs, probs_top_k_plus_one, "probabilities differs"),
        (check_next_token_probs, probs_unnormalised_top_k, "probabilities differs"),
        (
            check_next_token_probs,
            lambda logits, **kw: logits.softmax(-1),
            "probabilities differs",
        ),
    ],
)
def test_wrong_implementation_is_rejected(checker, fn, message):
    score = checker(fn, verbose=False)
    assert score.score < 1, str(score)
    assert any(message in m for m in score.messages), str(score)


def test_temperature_mistakes_are_blamed_on_the_temperature_cases():
    score = check_next_token_probs(probs_temperature_after_softmax, verbose=False)
    for message in score.messages:
        assert message.endswith("passed") == ("top-k 1 " in message or "(greedy" in message)


def test_messages_never_show_expected_values():
    score = check_ngram_cross_entropy(ngram_unsmoothed_denominator, verbose=False)
    text = str(score)
    for case in score.messages:
        assert "tensor(" not in case and "[" not in case
    assert "max error" in text and "> 1e-06" in text


# --- for tests/test_course.py: the notebook's solutions, in the checker's argument order, and
# other right answers

REFERENCES = {
    "ex-train-gpt-ngram": (ngram_dense,),
    "ex-train-gpt-sampling": (next_token_probs,),
}
OTHER_RIGHT_ANSWERS = [("ex-train-gpt-ngram", (ngram_cross_entropy,))]
