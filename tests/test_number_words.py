"""companion.data.number_words: hand-checked words and numerals for every rule, independent parsers that
agree on all of 0..99,999, the split by number, the vocabularies, the batches and the errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from companion.data.number_words import (
    BOS,
    EOS,
    MAX_NUMBER,
    PAD,
    SOURCE_CHARS,
    SPLIT_STRATA,
    TARGET_CHARS,
    NumberBatches,
    Seq2SeqBatch,
    chinese_numeral,
    digit_groups,
    encode_pairs,
    english_words,
    number_tokenizers,
    split_numbers,
)

ALL = range(MAX_NUMBER + 1)

# (n, British English, Chinese numeral), each checked by hand against the rules in the module
# docstring; the ones marked R&M are examples of Ross and Ma, Modern Mandarin Chinese Grammar §6.2
# (with 二 for their 两).
CASES = [
    (0, "zero", "零"),
    (1, "one", "一"),
    (2, "two", "二"),  # 二, never 两
    (7, "seven", "七"),
    (10, "ten", "十"),  # 十, not 一十, at the start
    (11, "eleven", "十一"),
    (12, "twelve", "十二"),
    (15, "fifteen", "十五"),
    (19, "nineteen", "十九"),
    (20, "twenty", "二十"),
    (21, "twenty-one", "二十一"),
    (40, "forty", "四十"),
    (99, "ninety-nine", "九十九"),
    (100, "one hundred", "一百"),
    (101, "one hundred and one", "一百零一"),
    (105, "one hundred and five", "一百零五"),
    (110, "one hundred and ten", "一百一十"),  # 一十 inside the number
    (115, "one hundred and fifteen", "一百一十五"),
    (120, "one hundred and twenty", "一百二十"),
    (200, "two hundred", "二百"),
    (222, "two hundred and twenty-two", "二百二十二"),
    (999, "nine hundred and ninety-nine", "九百九十九"),
    (1000, "one thousand", "一千"),
    (1001, "one thousand and one", "一千零一"),  # two missing units, one 零
    (1005, "one thousand and five", "一千零五"),
    (1010, "one thousand and ten", "一千零一十"),
    (1015, "one thousand and fifteen", "一千零一十五"),
    (1050, "one thousand and fifty", "一千零五十"),
    (1100, "one thousand one hundred", "一千一百"),  # no "and": nothing below a hundred
    (1105, "one thousand one hundred and five", "一千一百零五"),
    (1110, "one thousand one hundred and ten", "一千一百一十"),
    (2002, "two thousand and two", "二千零二"),
    (2020, "two thousand and twenty", "二千零二十"),
    (2200, "two thousand two hundred", "二千二百"),
    (3040, "three thousand and forty", "三千零四十"),
    (5076, "five thousand and seventy-six", "五千零七十六"),
    (6006, "six thousand and six", "六千零六"),  # R&M
    (7066, "seven thousand and sixty-six", "七千零六十六"),  # R&M
    (9102, "nine thousand one hundred and two", "九千一百零二"),  # R&M
    (10000, "ten thousand", "一万"),
    (10001, "ten thousand and one", "一万零一"),  # three missing units, one 零
    (10005, "ten thousand and five", "一万零五"),
    (10010, "ten thousand and ten", "一万零一十"),
    (10050, "ten thousand and fifty", "一万零五十"),
    (10100, "ten thousand one hundred", "一万零一百"),
    (10101, "ten thousand one hundred and one", "一万零一百零一"),  # two gaps, two 零
    (10500, "ten thousand five hundred", "一万零五百"),
    (11000, "eleven thousand", "一万一千"),
    (11111, "eleven thousand one hundred and eleven", "一万一千一百一十一"),
    (12000, "twelve thousand", "一万二千"),
    (12345, "twelve thousand three hundred and forty-five", "一万二千三百四十五"),
    (15000, "fifteen thousand", "一万五千"),
    (19019, "nineteen thousand and nineteen", "一万九千零一十九"),
    (20000, "twenty thousand", "二万"),  # no trailing 零
    (20010, "twenty thousand and ten", "二万零一十"),
    (25250, "twenty-five thousand two hundred and fifty", "二万五千二百五十"),  # R&M
    (30303, "thirty thousand three hundred and three", "三万零三百零三"),
    (40801, "forty thousand eight hundred and one", "四万零八百零一"),
    (50005, "fifty thousand and five", "五万零五"),
    (60060, "sixty thousand and sixty", "六万零六十"),
    (70700, "seventy thousand seven hundred", "七万零七百"),
    (80008, "eighty thousand and eight", "八万零八"),
    (90909, "ninety thousand nine hundred and nine", "九万零九百零九"),
    (99999, "ninety-nine thousand nine hundred and ninety-nine", "九万九千九百九十九"),
]


def test_the_table_is_large_and_distinct():
    assert len(CASES) >= 40
    assert len({n for n, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("n", "english", "chinese"), CASES)
def test_hand_checked_cases(n, english, chinese):
    assert english_words(n) == english
    assert chinese_numeral(n) == chinese


# --- independent parsers, written differently from the generators --------------------------------

CHINESE_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")}
CHINESE_UNIT = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
ENGLISH_VALUE = {
    **{w: i for i, w in enumerate("zero one two three four five six seven eight nine".split())},
    **{
        w: 10 + i
        for i, w in enumerate(
            "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
        )
    },
    **{
        w: 10 * i
        for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)
    },
}


def parse_chinese(text: str) -> int:
    """Left to right: a digit waits for its unit; a unit with no digit before it counts one."""
    total, digit = 0, None
    for ch in text:
        if ch in CHINESE_DIGIT:
            digit = CHINESE_DIGIT[ch]
        else:
            total += (1 if digit is None else digit) * CHINESE_UNIT[ch]
            digit = None
    return total + (digit or 0)


def parse_english(text: str) -> int:
    """Words left to right: "hundred" multiplies what came before it, "thousand" closes a group."""
    total, group = 0, 0
    for word in re.split(r"[ -]", text):
        if word == "and":
            continue
        if word == "hundred":
            group *= 100
        elif word == "thousand":
            total, group = total + group * 1000, 0
        else:
            group += ENGLISH_VALUE[word]
    return total + group


def test_parsers_agree_with_the_generators_on_every_number():
    for n in ALL:
        assert parse_chinese(chinese_numeral(n)) == n, n
        assert parse_english(english_words(n)) == n, n


def test_every_numeral_has_the_canonical_form():
    """The parser above is lenient (it reads 一十五 and 一千零零五 too); these are the rules."""
    units = "十百千万"
    for n in ALL:
        text = chinese_numeral(n)
        digits = str(n)
        assert "两" not in text and "零零" not in text, n
        assert not text.endswith("零") or n == 0, n  # no trailing 零
        assert text.startswith("十") == (10 <= n <= 19), n  # 十 only at the start of 10..19
        assert not text.startswith("一十"), n
        gaps = len(re.findall(r"0+(?=[1-9])", digits))  # runs of zeros inside the number
        assert text.count("零") == (gaps if n else 1), n
        present = [units.index(c) for c in text if c in units]
        assert present == sorted(set(present), reverse=True), n  # each unit once, descending
        assert len(present) == sum(d != "0" for d in digits[:-1]), n  # a unit per non-zero digit


def test_every_english_number_has_the_british_and():
    for n in ALL:
        words = english_words(n)
        assert words.count(" and ") == (n >= 100 and n % 100 != 0), n
        assert words == words.lower() and "  " not in words and words.strip() == words, n
        if n % 100 > 20 and n % 10:
            assert re.search(r"[a-z]+y-[a-z]+$", words), n  # hyphenated tens: forty-five


def test_numpy_integers_are_accepted():
    assert english_words(np.int64(105)) == "one hundred and five"
    assert chinese_numeral(np.int32(110)) == "一百一十"


@pytest.mark.parametrize("fn", [english_words, chinese_numeral])
@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (-1, ValueError, r"n=-1 is outside 0\.\.99,999"),
        (100_000, ValueError, r"n=100,000 is outside 0\.\.99,999.*十万"),
        (3.0, TypeError, r"n must be an int in 0\.\.99,999, got float 3\.0"),
        ("12", TypeError, r"got str '12'"),
        (True, TypeError, r"got bool True"),
        (None, TypeError, r"got NoneType None"),
    ],
)
def test_bad_numbers_are_refused(fn, bad, error, message):
    with pytest.raises(error, match=message):
        fn(bad)


# --- the split -----------------------------------------------------------------------------------


def test_split_is_a_disjoint_cover_stratified_by_length():
    s = split_numbers(val_fraction=0.05, test_fraction=0.1, seed=0)
    train, val, test = set(s.train), set(s.val), set(s.test)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(ALL)
    assert list(s.train) == sorted(s.train)
    for group in SPLIT_STRATA:
        n_test = sum(n in group for n in test)
        n_val = sum(n in group for n in val)
        assert n_test == -(-len(group) // 10) and n_val == -(-len(group) // 20), group
    assert len(s.test) == 1 + 1 + 8 + 90 + 900 + 9000
    assert any(10 <= n <= 19 for n in s.test) and any(n < 10 for n in s.test)


def test_strata_and_groups_cover_every_number_once():
    for parts in (SPLIT_STRATA, digit_groups()):
        assert sorted(n for part in parts for n in part) == list(ALL)
    assert [len(g) for g in digit_groups()] == [10, 90, 900, 9000, 90000]


def test_split_is_deterministic_and_depends_on_the_seed():
    assert split_numbers(seed=3) == split_numbers(seed=3)
    assert split_numbers(seed=3).test != split_numbers(seed=4).test


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 0.0}, r"val_fraction=0\.0 must lie strictly between 0 and 1"),
        ({"test_fraction": 1.5}, r"test_fraction=1\.5 must lie"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, r"leave no training number among the 10"),
    ],
)
def test_split_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_numbers(**kwargs)


# --- vocabularies and batches --------------------------------------------------------------------


def test_alphabets_are_exactly_the_characters_used():
    assert set(SOURCE_CHARS) == {c for n in ALL for c in english_words(n)}
    assert set(TARGET_CHARS) == {c for n in ALL for c in chinese_numeral(n)}
    assert len(SOURCE_CHARS) == len(set(SOURCE_CHARS)) and len(TARGET_CHARS) == 14


def test_tokenizers_have_the_specials_and_round_trip():
    src_tok, tgt_tok = number_tokenizers()
    for tok in (src_tok, tgt_tok):
        ids = [tok.token_to_id(s) for s in (PAD, BOS, EOS)]
        assert len(set(ids)) == 3 and all(len(tok.chars) <= i < tok.vocab_size for i in ids)
    assert src_tok.vocab_size == len(SOURCE_CHARS) + 3 and tgt_tok.vocab_size == 17
    for n in (0, 10, 10010, 99999):
        assert src_tok.decode(src_tok.encode(english_words(n))) == english_words(n)
        assert tgt_tok.decode(tgt_tok.encode(chinese_numeral(n))) == chinese_numeral(n)


def test_encode_pairs_pads_masks_and_shifts():
    src_tok, tgt_tok = number_tokenizers()
    nums = [7, 10010, 99999]
    b = encode_pairs(nums, src_tok, tgt_tok)
    assert isinstance(b, Seq2SeqBatch)
    longest = len(english_words(99999))
    assert b.src.shape == (3, longest) and b.src.dtype == torch.long
    assert b.src_mask.shape == (3, 1, longest) and b.src_mask.dtype == torch.bool
    assert b.tgt_in.shape == b.tgt_out.shape == (3, 10)  # 9 characters + BOS (in) or EOS (out)
    pad, bos, eos = (tgt_tok.token_to_id(t) for t in (PAD, BOS, EOS))
    for row, n in enumerate(nums):
        words, numeral = english_words(n), chinese_numeral(n)
        assert b.src_mask[row, 0].sum() == len(words)
        assert src_tok.decode(b.src[row, : len(words)].tolist()) == words
        assert (b.src[row, len(words) :] == src_tok.token_to_id(PAD)).all()
        m = len(numeral)
        assert (
            b.tgt_in[row, 0] == bos and tgt_tok.decode(b.tgt_in[row, 1 : m + 1].tolist()) == numeral
        )
        assert tgt_tok.decode(b.tgt_out[row, :m].tolist()) == numeral and b.tgt_out[row, m] == eos
        assert torch.equal(b.tgt_in[row, 1 : m + 1], b.tgt_out[row, :m])  # shifted by one
        assert (b.tgt_out[row, m + 1 :] == pad).all()  # padding: ignored by the loss
        tail = b.tgt_in[row, m + 1 :].tolist()  # EOS as an input only predicts padding
        assert tail == ([eos] + [pad] * (len(tail) - 1) if tail else [])


def test_encode_pairs_errors():
    src_tok, tgt_tok = number_tokenizers()
    with pytest.raises(ValueError, match="nums is empty"):
        encode_pairs([], src_tok, tgt_tok)
    with pytest.raises(ValueError, match="outside"):
        encode_pairs([5, 123_456], src_tok, tgt_tok)


def test_batches_are_reproducible_and_balanced_by_length():
    src_tok, tgt_tok = number_tokenizers()
    train = split_numbers().train
    batches = NumberBatches(train, 2000, src_tok, tgt_tok)
    a = batches(torch.Generator().manual_seed(1))
    b = batches(torch.Generator().manual_seed(1))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    pad, eos = tgt_tok.token_to_id(PAD), tgt_tok.token_to_id(EOS)
    assert (a.tgt_out == eos).sum() == 2000
    n_chars = (a.tgt_out != pad).sum(-1) - 1  # Chinese characters per pair
    one_char = int((n_chars == 1).sum())  # 0..9, and 十
    assert 300 < one_char < 500  # about 1/5 of the batch: a length is drawn uniformly from 1..5
    uniform = NumberBatches(train, 2000, src_tok, tgt_tok, balanced=False)
    n_chars = (uniform(torch.Generator().manual_seed(1)).tgt_out != pad).sum(-1) - 1
    assert int((n_chars == 1).sum()) < 5  # every number equally likely: 11 in 100,000


def test_batches_draw_only_the_given_numbers():
    src_tok, tgt_tok = number_tokenizers()
    nums = [3, 42, 4242]
    batch = NumberBatches(nums, 64, src_tok, tgt_tok)(torch.Generator().manual_seed(0))
    seen = {tgt_tok.decode([i for i in row if i < 14]) for row in batch.tgt_out.tolist()}
    assert seen == {chinese_numeral(n) for n in nums}
    assert "3 numbers in groups [1, 1, 1]" in repr(NumberBatches(nums, 8, src_tok, tgt_tok))


def test_batches_errors():
    src_tok, tgt_tok = number_tokenizers()
    with pytest.raises(ValueError, match="batch_size=0 must be a positive int"):
        NumberBatches([1, 2], 0, src_tok, tgt_tok)
    with pytest.raises(ValueError, match="nums is empty"):
        NumberBatches([], 4, src_tok, tgt_tok)
    with pytest.raises(TypeError, match="got float"):
        NumberBatches([1.5], 4, src_tok, tgt_tok)
