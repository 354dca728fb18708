"""The checker of chapter 50 (companion.course.exercises.emergence): the notebook's answer gets full
marks, so do two right answers written differently; the usual mistakes are rejected. The shared
contract is tests/test_course.py."""

from __future__ import annotations

import math

import pytest
import torch

from companion.course.exercises.emergence import check_exact_and_predicted

# --- the notebook's solution ---------------------------------------------------------------------


def exact_and_predicted(correct):
    exact_match = correct.all(dim=1).double().mean()  # a row counts only if every digit is right
    per_position = correct.double().mean(dim=0)  # (L,): p_k, the accuracy of each digit
    return float(exact_match), float(per_position.prod())


# --- right answers written differently -----------------------------------------------------------


def with_logs(correct):
    n, L = correct.shape
    exact = sum(all(row) for row in correct.tolist()) / n
    p = correct.sum(0).double() / n
    return exact, math.exp(sum(math.log(x) if x > 0 else -math.inf for x in p.tolist()))


def with_numpy(correct):
    c = correct.numpy()
    return float(c.min(axis=1).mean()), float(c.mean(axis=0).prod())


# --- wrong answers -------------------------------------------------------------------------------


def per_digit_as_exact(correct):
    return float(correct.double().mean()), float(correct.double().mean(0).prod())


def mean_before_the_power(correct):
    p = correct.double().mean()
    return float(correct.all(1).double().mean()), float(p ** correct.shape[1])


def off_by_one_power(correct):
    p = correct.double().mean(0)
    return float(correct.all(1).double().mean()), float(p.mean() ** (correct.shape[1] - 1))


def wrong_axis(correct):
    return float(correct.all(0).double().mean()), float(correct.double().mean(1).prod())


def any_digit_right(correct):
    return float(correct.any(1).double().mean()), float(correct.double().mean(0).prod())


def weakest_position(correct):
    return float(correct.all(1).double().mean()), float(correct.double().mean(0).min())


REFERENCES = {"ex-emergence-exact-match": (exact_and_predicted,)}
OTHER_RIGHT_ANSWERS = [
    ("ex-emergence-exact-match", (with_logs,)),
    ("ex-emergence-exact-match", (with_numpy,)),
]


def test_the_solution_passes():
    score = check_exact_and_predicted(exact_and_predicted, verbose=False)
    assert score.passed == score.total == 8


@pytest.mark.parametrize(
    "wrong",
    [
        per_digit_as_exact,
        mean_before_the_power,
        off_by_one_power,
        wrong_axis,
        any_digit_right,
        weakest_position,
    ],
)
def test_a_wrong_answer_is_rejected(wrong):
    score = check_exact_and_predicted(wrong, verbose=False)
    assert score.passed < score.total, wrong.__name__


def test_the_messages_say_what_is_wrong():
    messages = " ".join(check_exact_and_predicted(per_digit_as_exact, verbose=False).messages)
    assert "share of right digits" in messages
    messages = " ".join(check_exact_and_predicted(mean_before_the_power, verbose=False).messages)
    assert "(mean accuracy)^L" in messages


def test_chained_errors_break_the_independent_prediction():
    from companion.course.exercises.emergence import _carry_chain

    correct = _carry_chain(torch.Generator().manual_seed(0), 4000, 5, 0.1)
    exact, predicted = exact_and_predicted(correct)
    assert exact > predicted + 0.05  # errors come together, so more answers are wholly right
