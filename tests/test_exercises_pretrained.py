"""Checkers of notebooks/34_pretrained_minilm: the reference solutions get full marks, plausible
wrong implementations are rejected with a message that says how, and no message gives away an
expected value."""

from __future__ import annotations

import re

import pytest

from companion.course.exercises.pretrained_minilm import check_mean_pooling, check_wordpiece_word

# --- mean pooling: the notebook's solution and plausible mistakes ---------------------------------


def mean_pooling(hidden, mask):
    m = mask[..., None].to(hidden.dtype)  # (batch, seq, 1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)


def mean_over_all_positions(hidden, mask):  # averages the padding too
    return hidden.mean(dim=1)


def mean_without_clamp(hidden, mask):  # 0 / 0 = NaN for a row of padding only
    m = mask[..., None].to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1)


def mean_over_features(hidden, mask):  # the wrong axis
    m = mask[..., None].to(hidden.dtype)
    return (hidden * m).mean(dim=-1)


def mean_in_float64(hidden, mask):  # right values, but float32 comes back as float64
    return mean_pooling(hidden.double(), mask)


def mean_divides_by_seq(hidden, mask):  # masks the sum but divides by the padded length
    m = mask[..., None].to(hidden.dtype)
    return (hidden * m).sum(dim=1) / hidden.shape[1]


# --- WordPiece for one word -------------------------------------------------------------------------


def wordpiece_word(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
        else:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def greedy(word, vocab, *, longest=True, prefix="##", partial=False, max_chars=100):
    """WordPiece with every choice a mistake can change as a keyword."""
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if longest else range(start + 1, len(word) + 1)
        for end in ends:
            piece = word[start:end] if start == 0 else prefix + word[start:end]
            if piece in vocab:
                break
        else:
            if partial:  # keep the pieces found so far
                return [*pieces, "[UNK]"]
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def shortest_first(word, vocab):
    return greedy(word, vocab, longest=False)


def no_prefix(word, vocab):
    return greedy(word, vocab, prefix="")


def partial_unk(word, vocab):
    return greedy(word, vocab, partial=True)


def no_length_limit(word, vocab):
    return greedy(word, vocab, max_chars=10**9)


def as_tuple(word, vocab):
    return tuple(wordpiece_word(word, vocab))


# --- full marks, rejections, messages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (mean_over_all_positions, r"output differs \(max error"),
        (mean_without_clamp, r"output contains NaN in 5 of 10 entries"),
        (mean_over_features, r"output has shape \(2, 5\), expected \(2, 8\)"),
        (mean_in_float64, r"output has dtype torch.float64, expected torch.float32"),
        (mean_divides_by_seq, r"output differs \(max error"),
    ],
)
def test_mean_pooling_mistakes_are_rejected(fn, message):
    score = check_mean_pooling(fn, verbose=False)
    assert score.passed < score.total
    assert any(re.search(message, m) for m in score.messages), str(score)


def test_mean_pooling_without_clamp_fails_only_the_empty_row():
    score = check_mean_pooling(mean_without_clamp, verbose=False)
    assert score.passed == score.total - 1
    failed = [m for m in score.messages if not m.endswith("passed")]
    assert failed[0].startswith("case 6 (a row of padding only")


@pytest.mark.parametrize(
    ("fn", "case"),
    [
        (shortest_first, "longest first, not shortest first"),
        (no_prefix, "a continuation piece needs '##'"),
        (partial_unk, "a letter the vocabulary lacks"),
        (no_length_limit, "101 characters"),
        (as_tuple, "a word in the vocabulary"),
    ],
)
def test_wordpiece_mistakes_are_rejected(fn, case):
    score = check_wordpiece_word(fn, verbose=False)
    failed = [m for m in score.messages if not m.endswith("passed")]
    assert any(case in m for m in failed), str(score)


def test_messages_never_show_expected_values():
    """What a failed case says (after its description) gives counts and error sizes only."""
    scores = [
        check_mean_pooling(mean_over_all_positions, verbose=False),
        check_wordpiece_word(shortest_first, verbose=False),
        check_wordpiece_word(partial_unk, verbose=False),
    ]
    problems = [
        m.split("): ", 1)[1] for s in scores for m in s.messages if not m.endswith("passed")
    ]
    assert len(problems) >= 5
    for problem in problems:
        assert "tensor(" not in problem and "#" not in problem and "'" not in problem, problem
        assert re.fullmatch(
            r"output differs \(max error \d\.\de[-+]\d\d > 1e-10\)|returned \d+ pieces, expected \d+"
            r"|returned the right number of pieces, but piece \d+ differs",
            problem,
        ), problem
    assert "returned a tuple, not a list of strings" in str(
        check_wordpiece_word(as_tuple, verbose=False)
    )


# --- for tests/test_course.py: the notebook's solutions, in the checker's argument order, and
# other right answers

REFERENCES = {
    "ex-pretrained-mean-pooling": (mean_pooling,),
    "ex-pretrained-wordpiece": (wordpiece_word,),
}
OTHER_RIGHT_ANSWERS: list = []
