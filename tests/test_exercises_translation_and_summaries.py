"""Checkers of notebooks/42_translation_and_summaries: the notebook's solution gets full marks,
typical mistakes in BLEU's modified precision and brevity penalty are rejected, and no expected
value leaks."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from companion.course.exercises.translation_and_summaries import check_bleu_parts

# --- references (the notebook's solution, written without companion.metrics) ----------------------


def my_modified_precision(hypothesis, reference, n):
    """(clipped matches, total n-grams) of one tokenized hypothesis."""
    hyp = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
    ref = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
    return sum(min(c, ref[g]) for g, c in hyp.items()), sum(hyp.values())


def my_brevity_penalty(hyp_len, ref_len):
    if hyp_len >= ref_len:
        return 1.0
    return math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0


def precision_with_and(hypothesis, reference, n):
    """Written with Counter's & (the multiset intersection takes the minimum of the counts)."""

    def grams(tokens):
        return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))

    hyp = grams(hypothesis)
    return sum((hyp & grams(reference)).values()), sum(hyp.values())


def penalty_min(hyp_len, ref_len):
    return math.exp(min(0.0, 1 - ref_len / hyp_len)) if hyp_len else float(ref_len == 0)


# --- plausible wrong implementations --------------------------------------------------------------


def precision_unclipped(hypothesis, reference, n):  # counts every hypothesis n-gram found
    hyp = [tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1)]
    ref = {tuple(reference[i : i + n]) for i in range(len(reference) - n + 1)}
    return sum(g in ref for g in hyp), len(hyp)


def precision_as_fraction(hypothesis, reference, n):  # returns p_n instead of the two counts
    m, t = my_modified_precision(hypothesis, reference, n)
    return m / t if t else 0.0


def precision_over_reference(hypothesis, reference, n):  # divides by the reference's n-grams
    m, _ = my_modified_precision(hypothesis, reference, n)
    return m, max(len(reference) - n + 1, 0)


def precision_words_as_characters(hypothesis, reference, n):  # n-grams of characters
    return my_modified_precision(" ".join(hypothesis), " ".join(reference), n)


def penalty_inverted(hyp_len, ref_len):  # exp(1 - c/r)
    return 1.0 if hyp_len >= ref_len else math.exp(1 - hyp_len / ref_len)


def penalty_always(hyp_len, ref_len):  # penalises long outputs as well
    return math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0


def penalty_ratio(hyp_len, ref_len):  # c / r instead of the exponential
    return min(1.0, hyp_len / ref_len) if ref_len else 1.0


def penalty_zero_first(hyp_len, ref_len):  # tests c = 0 before c >= r: 0 for c = r = 0
    if hyp_len == 0:
        return 0.0
    return 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)


REFERENCES = {
    "ex-translation-and-summaries-bleu-parts": (my_modified_precision, my_brevity_penalty)
}
OTHER_RIGHT_ANSWERS = [
    ("ex-translation-and-summaries-bleu-parts", (precision_with_and, penalty_min)),
]


def test_the_reference_gets_full_marks():
    score = check_bleu_parts(my_modified_precision, my_brevity_penalty, verbose=False)
    assert score.passed == score.total >= 18


@pytest.mark.parametrize(
    "wrong",
    [precision_unclipped, precision_as_fraction, precision_over_reference,
     precision_words_as_characters],
)  # fmt: skip
def test_a_wrong_precision_is_rejected(wrong):
    score = check_bleu_parts(wrong, my_brevity_penalty, verbose=False)
    assert score.passed < score.total


@pytest.mark.parametrize(
    "wrong", [penalty_inverted, penalty_always, penalty_ratio, penalty_zero_first]
)
def test_a_wrong_penalty_is_rejected(wrong):
    score = check_bleu_parts(my_modified_precision, wrong, verbose=False)
    assert score.passed < score.total


def test_the_messages_say_what_kind_of_mistake():
    score = check_bleu_parts(precision_as_fraction, penalty_inverted, verbose=False)
    text = "\n".join(score.messages)
    assert "expected a pair (clipped matches, total n-grams)" in text
    assert "the brevity penalty differs from BLEU's" in text
    score = check_bleu_parts(precision_unclipped, my_brevity_penalty, verbose=False)
    assert "the clipped matches differ from BLEU's" in "\n".join(score.messages)
