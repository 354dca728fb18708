"""The checker of chapter 61 (companion.course.exercises.length_generalization): the notebook's
solution and a right answer written differently get full marks; plausible mistakes are rejected.
The shared contract is tests/test_course.py."""

from __future__ import annotations

import math

import pytest
import torch

from companion.course.core import hidden_cases
from companion.course.exercises.length_generalization import check_alibi_bias


def slopes(n_heads, start=1, interleave=True, base=8):
    def geometric(n):
        return [2 ** (-base * h / n) for h in range(start, n + start)]

    if not interleave or n_heads & (n_heads - 1) == 0:
        return torch.tensor(geometric(n_heads))
    n0 = 2 ** int(math.log2(n_heads))
    return torch.tensor(geometric(n0) + geometric(2 * n0)[0::2][: n_heads - n0])


def my_alibi_bias(n_heads, seq_len, signed=False, sign=-1.0, **slope_mistake):
    i = torch.arange(seq_len)[:, None]  # (seq, 1)
    j = torch.arange(seq_len)[None, :]  # (1, seq)
    distance = (i - j).float() if signed else (i - j).abs().float()  # (seq, seq)
    return sign * slopes(n_heads, **slope_mistake)[:, None, None] * distance  # (heads, seq, seq)


def by_loops(n_heads, seq_len):
    """Right, written another way: plain loops, slopes as 2^(-8/n)^h."""
    if n_heads & (n_heads - 1):
        n0 = 1 << (n_heads.bit_length() - 1)
        ms = [(2 ** (-8 / n0)) ** h for h in range(1, n0 + 1)]
        ms += [(2 ** (-8 / (2 * n0))) ** h for h in range(1, 2 * n0 + 1, 2)][: n_heads - n0]
    else:
        ms = [(2 ** (-8 / n_heads)) ** h for h in range(1, n_heads + 1)]
    out = torch.zeros(n_heads, seq_len, seq_len)
    for h, m in enumerate(ms):
        for i in range(seq_len):
            for j in range(seq_len):
                out[h, i, j] = -m * abs(i - j)
    return out


WRONG = {
    "a bonus, not a penalty": lambda n, t: my_alibi_bias(n, t, sign=1.0),
    "signed distance i - j": lambda n, t: my_alibi_bias(n, t, signed=True),
    "slopes from h = 0 (the first head gets m = 1)": lambda n, t: my_alibi_bias(n, t, start=0),
    "slopes 2^(-h), whatever n_heads": lambda n, t: my_alibi_bias(n, t, base=n),
    "geometric slopes for any n_heads": lambda n, t: my_alibi_bias(n, t, interleave=False),
    "heads last": lambda n, t: my_alibi_bias(n, t).permute(1, 2, 0),
}


@pytest.mark.parametrize("fn", [my_alibi_bias, by_loops])
@pytest.mark.parametrize("seed", [None, 5])
def test_right_answers_pass(fn, seed):
    with hidden_cases(seed):
        score = check_alibi_bias(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize("name", WRONG)
def test_wrong_answers_fail(name):
    score = check_alibi_bias(WRONG[name], verbose=False)
    assert score.passed < score.total, name


def test_messages_do_not_reveal_the_answer():
    score = check_alibi_bias(WRONG["a bonus, not a penalty"], verbose=False)
    assert all("0.5" not in m and "0.25" not in m for m in score.messages)


REFERENCES = {"ex-length-generalization-alibi": (my_alibi_bias,)}
OTHER_RIGHT_ANSWERS = [("ex-length-generalization-alibi", (by_loops,))]
