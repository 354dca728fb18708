"""Checkers of notebooks/32_seq2seq_numbers: the references get full marks, typical mistakes are
rejected with a message that says what kind of case failed, and no expected value leaks."""

from __future__ import annotations

import re

import pytest
import torch

from companion.course.exercises.seq2seq_numbers import check_chinese_numeral, check_greedy_decode
from companion.data.number_words import chinese_numeral
from companion.generate import greedy_decode

DIGITS = "零一二三四五六七八九"


# --- references (the notebook's solutions, written independently of companion) -------------------


def my_chinese_numeral(n):
    """0..9,999, digit by digit from the thousands down (a different route from companion's)."""
    if n == 0:
        return "零"
    parts = []
    for power, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // power % 10
        if d:
            parts.append(DIGITS[d] + unit)
        elif parts and n % power:
            parts.append("零")  # a gap with something after it
    text = re.sub("零+", "零", "".join(parts))
    return text[1:] if text.startswith("一十") else text


def my_greedy_decode(model, src, bos_id, eos_id, max_len, src_mask=None):
    """Without a cache: decode the whole prefix again at every step."""
    memory = model.encode(src, src_mask)
    ys = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
    for _ in range(max_len):
        logits = model.decode(ys, memory, src_mask)[:, -1]
        ys = torch.cat([ys, logits.argmax(-1, keepdim=True)], dim=1)
        if (ys[:, 1:] == eos_id).any(dim=1).all():
            break
    rows = ys[:, 1:].tolist()
    return [r[: r.index(eos_id) + 1] if eos_id in r else r for r in rows]


# --- plausible wrong implementations ------------------------------------------------------------


def numeral_yi_shi_everywhere(n):  # writes 一十五 for 15
    text = my_chinese_numeral(n)
    return "一" + text if 10 <= n <= 19 else text


def numeral_drops_ling(n):  # 1005 -> 一千五
    return my_chinese_numeral(n).replace("零", "") if n else "零"


def numeral_ling_per_zero(n):  # 1005 -> 一千零零五
    text = my_chinese_numeral(n)
    digits = str(n)
    zeros = len(digits.rstrip("0")) - len(digits.rstrip("0").replace("0", ""))
    return text.replace("零", "零" * zeros) if n else text


def numeral_trailing_ling(n):  # 1000 -> 一千零
    text = my_chinese_numeral(n)
    return text + "零" if n % 10 == 0 and n >= 100 else text


def numeral_liang(n):  # 2000 -> 两千
    return re.sub("二(?=[千百])", "两", my_chinese_numeral(n))


def numeral_drops_inner_yi(n):  # 110 -> 一百十
    return my_chinese_numeral(n).replace("一十", "十")


def numeral_as_int(n):
    return n


def greedy_with_bos(model, src, bos_id, eos_id, max_len, src_mask=None):
    rows = my_greedy_decode(model, src, bos_id, eos_id, max_len, src_mask)
    return [[bos_id, *r] for r in rows]


def greedy_never_stops(model, src, bos_id, eos_id, max_len, src_mask=None):
    return my_greedy_decode(model, src, bos_id, -1, max_len, src_mask)


def greedy_drops_eos(model, src, bos_id, eos_id, max_len, src_mask=None):
    rows = my_greedy_decode(model, src, bos_id, eos_id, max_len, src_mask)
    return [r[:-1] if r and r[-1] == eos_id else r for r in rows]


def greedy_ignores_mask(model, src, bos_id, eos_id, max_len, src_mask=None):
    return my_greedy_decode(model, src, bos_id, eos_id, max_len)


def greedy_second_best(model, src, bos_id, eos_id, max_len, src_mask=None):
    memory = model.encode(src, src_mask)
    ys = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
    for _ in range(max_len):
        logits = model.decode(ys, memory, src_mask)[:, -1]
        ys = torch.cat([ys, logits.topk(2).indices[:, 1:]], dim=1)
    return ys[:, 1:].tolist()


def test_the_reference_numeral_is_right_below_10000():
    assert all(my_chinese_numeral(n) == chinese_numeral(n) for n in range(10_000))


@pytest.mark.parametrize(
    ("fn", "failing", "message"),
    [
        (numeral_yi_shi_everywhere, ["10..19"], "n=10 gave '一十'"),
        (numeral_drops_ling, ["gap inside", "random"], "gave '一百一'"),
        (numeral_ling_per_zero, ["gap inside"], "n=1001 gave '一千零零一'"),
        (numeral_trailing_ling, ["trailing zeros"], "n=100 gave '一百零'"),
        (numeral_liang, ["二, never 两"], "n=200 gave '两百'"),
        (numeral_drops_inner_yi, ["一十 inside"], "n=110 gave '一百十'"),
        (numeral_as_int, ["0 and the single digits"], "n=0 returned a int, not a str"),
    ],
)
def test_wrong_numerals_are_rejected_for_the_right_rule(fn, failing, message):
    score = check_chinese_numeral(fn, verbose=False)
    assert score.score < 1, str(score)
    for m in score.messages:
        if any(f in m for f in failing):
            assert "passed" not in m, str(score)
    assert any(message in m for m in score.messages), str(score)


def test_numeral_messages_never_show_the_expected_numeral():
    for fn in (numeral_drops_ling, numeral_ling_per_zero, numeral_trailing_ling, numeral_liang):
        for m in check_chinese_numeral(fn, verbose=False).messages:
            for n, got in re.findall(r"n=(\d+) gave '([^']*)'", m):
                assert chinese_numeral(int(n)) not in m.replace(got, ""), m


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (greedy_with_bos, "starts with bos_id: return only the generated ids"),
        (greedy_never_stops, "goes on after eos_id"),
        (greedy_drops_eos, "differs from position"),
        (greedy_ignores_mask, "differs from position"),
        (greedy_second_best, "row 0 differs from position 0 on"),
    ],
)
def test_wrong_greedy_decoders_are_rejected(fn, message):
    score = check_greedy_decode(fn, verbose=False)
    assert score.score < 1, str(score)
    assert any(message in m for m in score.messages), str(score)
    assert "[" not in str(score)  # no list of expected ids


def test_greedy_checker_blames_only_the_masked_cases():
    score = check_greedy_decode(greedy_ignores_mask, verbose=False)
    assert all(("passed" in m) == ("src_mask" not in m) for m in score.messages), str(score)
    score = check_greedy_decode(greedy_never_stops, verbose=False)
    assert all(("passed" in m) == ("no eos" in m or "max_len 1" in m) for m in score.messages)


# --- for tests/test_course.py: the notebook's solutions, in the checker's argument order, and
# other right answers

REFERENCES = {
    "ex-seq2seq-chinese-numeral": (my_chinese_numeral,),
    "ex-seq2seq-greedy": (my_greedy_decode,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-seq2seq-chinese-numeral", (chinese_numeral,)),
    ("ex-seq2seq-greedy", (greedy_decode,)),
]
