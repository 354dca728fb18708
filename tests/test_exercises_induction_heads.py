"""The checker of chapter 52 (companion.course.exercises.induction_heads): the notebook's
prefix-matching score gets full marks, so do two right answers written differently (a loop, and
one built on the earlier occurrences' positions); the usual mistakes are rejected. The shared
contract is tests/test_course.py."""

from __future__ import annotations

import pytest
import torch

from companion.course.core import hidden_cases
from companion.course.exercises.induction_heads import check_prefix_matching_score

# --- the notebook's solution ---------------------------------------------------------------------


def my_prefix_matching_score(pattern, tokens):
    seq = tokens.shape[0]
    same = tokens[:, None] == tokens[None, :]  # (t, j): x_t == x_j
    earlier = same & torch.ones(seq, seq, dtype=torch.bool).tril(-1)  # and j < t
    targets = torch.zeros_like(earlier)
    targets[:, 1:] = earlier[:, :-1]  # key s = j + 1
    counted = targets.any(-1)  # (t,): queries whose token occurred before
    attention = (pattern * targets).sum(-1)  # (n_heads, t)
    return attention[:, counted].mean(-1)


# --- right answers written differently -----------------------------------------------------------


def loop_prefix_matching_score(pattern, tokens):
    scores = []
    for head in pattern:
        total, count = 0.0, 0
        for t in range(len(tokens)):
            keys = [j + 1 for j in range(t) if tokens[j] == tokens[t]]
            if keys:
                total += float(sum(head[t, s] for s in keys))
                count += 1
        scores.append(total / count)
    return torch.tensor(scores, dtype=pattern.dtype)


def shifted_tokens_prefix_matching_score(pattern, tokens):
    # key s is a target of query t when the token before s equals x_t: x_{s-1} == x_t, s <= t
    seq = tokens.shape[0]
    before = torch.cat([tokens.new_full((1,), -1), tokens[:-1]])  # before[s] = x_{s-1}
    targets = (tokens[:, None] == before[None, :]) & torch.ones(seq, seq, dtype=torch.bool).tril()
    counted = targets.any(-1)
    return torch.einsum("hts,ts->ht", pattern, targets.to(pattern.dtype))[:, counted].mean(-1)


# --- wrong answers -------------------------------------------------------------------------------


def attends_to_the_token_itself(pattern, tokens):
    # the earlier occurrence j instead of the token after it, j + 1
    seq = tokens.shape[0]
    earlier = (tokens[:, None] == tokens[None, :]) & torch.ones(seq, seq, dtype=torch.bool).tril(-1)
    counted = earlier.any(-1)
    return (pattern * earlier).sum(-1)[:, counted].mean(-1)


def off_by_one(pattern, tokens):
    # j + 2: one key too far
    seq = tokens.shape[0]
    earlier = (tokens[:, None] == tokens[None, :]) & torch.ones(seq, seq, dtype=torch.bool).tril(-1)
    targets = torch.zeros_like(earlier)
    targets[:, 2:] = earlier[:, :-2]
    counted = earlier.any(-1)
    return (pattern * targets).sum(-1)[:, counted].mean(-1)


def averages_over_every_query(pattern, tokens):
    # the first occurrences, with nothing to match, are counted as 0
    seq = tokens.shape[0]
    earlier = (tokens[:, None] == tokens[None, :]) & torch.ones(seq, seq, dtype=torch.bool).tril(-1)
    targets = torch.zeros_like(earlier)
    targets[:, 1:] = earlier[:, :-1]
    return (pattern * targets).sum(-1).mean(-1)


def only_the_last_occurrence(pattern, tokens):
    # keeps only the most recent earlier occurrence of x_t
    scores = torch.zeros(pattern.shape[0], dtype=pattern.dtype)
    count = 0
    for t in range(len(tokens)):
        keys = [j + 1 for j in range(t) if tokens[j] == tokens[t]]
        if keys:
            scores += pattern[:, t, keys[-1]]
            count += 1
    return scores / count


def includes_the_query_itself(pattern, tokens):
    # j <= t: the query counts as its own earlier occurrence, so every query is counted
    seq = tokens.shape[0]
    earlier = (tokens[:, None] == tokens[None, :]) & torch.ones(seq, seq, dtype=torch.bool).tril()
    targets = torch.zeros_like(earlier)
    targets[:, 1:] = earlier[:, :-1]
    counted = earlier.any(-1)
    return (pattern * targets).sum(-1)[:, counted].mean(-1)


def returns_a_python_float(pattern, tokens):
    return my_prefix_matching_score(pattern, tokens).mean().item()


REFERENCES = {"ex-induction-heads-prefix-matching": (my_prefix_matching_score,)}
OTHER_RIGHT_ANSWERS = [
    ("ex-induction-heads-prefix-matching", (loop_prefix_matching_score,)),
    ("ex-induction-heads-prefix-matching", (shifted_tokens_prefix_matching_score,)),
]


def test_the_solution_passes():
    score = check_prefix_matching_score(my_prefix_matching_score, verbose=False)
    assert score.passed == score.total == 7


@pytest.mark.parametrize(
    "right", [loop_prefix_matching_score, shifted_tokens_prefix_matching_score]
)
def test_other_right_answers_pass(right):
    score = check_prefix_matching_score(right, verbose=False)
    assert score.passed == score.total, score.messages
    with hidden_cases(7):
        score = check_prefix_matching_score(right, verbose=False)
    assert score.passed == score.total == 9, score.messages


@pytest.mark.parametrize(
    "wrong",
    [
        attends_to_the_token_itself,
        off_by_one,
        averages_over_every_query,
        only_the_last_occurrence,
        includes_the_query_itself,
        returns_a_python_float,
    ],
)
def test_a_wrong_score_is_rejected(wrong):
    score = check_prefix_matching_score(wrong, verbose=False)
    assert score.passed < score.total, wrong.__name__
    with hidden_cases(3):
        hidden = check_prefix_matching_score(wrong, verbose=False)
    assert hidden.passed < hidden.total, wrong.__name__


def test_the_hand_built_cases_tell_the_two_offsets_apart():
    messages = check_prefix_matching_score(attends_to_the_token_itself, verbose=False).messages
    assert "passed" not in messages[0]  # the hand-built induction head scores 0 for it
    assert "passed" not in messages[1]  # and the copy head scores 1
