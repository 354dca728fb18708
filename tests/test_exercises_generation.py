"""The checker of chapter 40 (companion.course.exercises.generation): the notebook's top-p filter
gets full marks, so do two right answers written differently (Hugging Face's formulation and a
plain loop); the usual mistakes are rejected. The shared contract is tests/test_course.py."""

from __future__ import annotations

import pytest
import torch

from companion.course.exercises.generation import check_top_p_filter

# --- the notebook's solution ---------------------------------------------------------------------


def my_top_p_filter(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (..., vocab)
    probs = sorted_logits.softmax(dim=-1)
    cumulative = probs.cumsum(dim=-1)
    # the mass of the more likely tokens: the cumulative sum shifted right by one (0 first)
    mass_before = torch.cat([torch.zeros_like(cumulative[..., :1]), cumulative[..., :-1]], dim=-1)
    remove_sorted = mass_before >= p  # the most likely token has 0 before it: always kept
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


# --- right answers written differently -----------------------------------------------------------


def hf_top_p_filter(logits, p):
    """Hugging Face's TopPLogitsWarper: sort ascending, drop the tail whose mass is <= 1 - p."""
    sorted_logits, order = logits.sort(dim=-1, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1 - p)
    remove_sorted[..., -1] = False  # keep at least the most likely token
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def loop_top_p_filter(logits, p):
    out = logits.clone()
    flat = out.reshape(-1, out.shape[-1])
    for row in flat:
        probs = row.softmax(-1)
        mass = 0.0
        keep = set()
        for i in probs.argsort(descending=True).tolist():
            if mass >= p:
                break
            keep.add(i)
            mass += probs[i].item()
        for i in range(len(row)):
            if i not in keep:
                row[i] = float("-inf")
    return out


# --- wrong answers -------------------------------------------------------------------------------


def drops_the_crossing_token(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative > p  # the token that crosses p is dropped
    remove_sorted[..., 0] = False
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def forgets_to_unsort(logits, p):
    sorted_logits, _ = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    remove_sorted = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(remove_sorted, float("-inf"))  # sorted positions used as token ids


def returns_probabilities(logits, p):
    kept = my_top_p_filter(logits, p)
    return kept.softmax(dim=-1).masked_fill(torch.isinf(kept), float("-inf"))


def keeps_one_too_many(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    remove_sorted = probs.cumsum(dim=-1) - probs > p  # also keeps the token after the crossing
    remove_sorted = torch.cat([remove_sorted[..., :1], remove_sorted[..., :-1]], dim=-1)
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def softmax_over_the_whole_batch(logits, p):
    flat = logits.reshape(-1)
    sorted_logits, order = flat.sort(descending=True)
    probs = sorted_logits.softmax(dim=-1)
    remove_sorted = probs.cumsum(dim=-1) - probs >= p
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove.view_as(logits), float("-inf"))


def sets_removed_to_zero(logits, p):
    kept = my_top_p_filter(logits, p)
    return kept.masked_fill(torch.isinf(kept), 0.0)


REFERENCES = {"ex-generation-top-p": (my_top_p_filter,)}
OTHER_RIGHT_ANSWERS = [
    ("ex-generation-top-p", (hf_top_p_filter,)),
    ("ex-generation-top-p", (loop_top_p_filter,)),
]


def test_the_solution_passes():
    score = check_top_p_filter(my_top_p_filter, verbose=False)
    assert score.passed == score.total == 9


@pytest.mark.parametrize(
    "wrong",
    [
        drops_the_crossing_token,
        forgets_to_unsort,
        returns_probabilities,
        keeps_one_too_many,
        softmax_over_the_whole_batch,
        sets_removed_to_zero,
    ],
)
def test_a_wrong_filter_is_rejected(wrong):
    score = check_top_p_filter(wrong, verbose=False)
    assert score.passed < score.total, wrong.__name__


def test_the_messages_say_what_is_wrong():
    messages = " ".join(check_top_p_filter(drops_the_crossing_token, verbose=False).messages)
    assert "less probability mass than p" in messages
    messages = " ".join(check_top_p_filter(keeps_one_too_many, verbose=False).messages)
    assert "more tokens than the smallest set" in messages
    messages = " ".join(check_top_p_filter(forgets_to_unsort, verbose=False).messages)
    assert "vocabulary order" in messages
    messages = " ".join(check_top_p_filter(returns_probabilities, verbose=False).messages)
    assert "kept logits were changed" in messages
