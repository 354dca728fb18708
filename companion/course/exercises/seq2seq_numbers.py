"""Checkers of the sequence-to-sequence chapter (notebooks/32_seq2seq_numbers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from companion.course.core import Case, Score, case_generator, case_seed, run_cases
from companion.course.registry import Chapter
from companion.data.number_words import chinese_numeral
from companion.generate import greedy_decode
from companion.masks import padding_mask
from companion.models import EncoderDecoder, EncoderDecoderConfig

CHAPTER = Chapter(32, "seq2seq_numbers")  # notebooks/32_seq2seq_numbers.ipynb


def _numeral_case(fn: Callable, nums: Sequence[int]) -> Callable[[], str | None]:
    def run() -> str | None:
        wrong = []
        for n in nums:
            got = fn(n)
            if not isinstance(got, str):
                return f"n={n} returned a {type(got).__name__}, not a str"
            if got != chinese_numeral(n):
                wrong.append((n, got))
        if not wrong:
            return None
        n, got = wrong[0]
        return f"{len(wrong)} of {len(nums)} numbers wrong, e.g. n={n} gave {got!r}"

    return run


@CHAPTER.exercise(
    "ex-seq2seq-chinese-numeral",
    title="Write the numerals yourself",
    difficulty="medium",
    names=("my_chinese_numeral",),
    references=("companion.data.number_words.chinese_numeral",),
)
def check_chinese_numeral(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-seq2seq-chinese-numeral: ``my_chinese_numeral(n)`` for 0..9,999 against
    :func:`companion.data.number_words.chinese_numeral`, by rule; a failure names the input and what
    the function returned, never the expected numeral."""
    g = case_generator(1)
    random_tens = torch.randint(20, 100, (12,), generator=g).tolist()
    random_all = torch.randint(0, 10_000, (40,), generator=g).tolist()
    cases: list[Case] = [
        ("0 and the single digits", _numeral_case(fn, range(10))),
        ("10..19: 十 at the start, without 一", _numeral_case(fn, range(10, 20))),
        ("20..99", _numeral_case(fn, random_tens)),
        (
            "一十 inside the number",
            _numeral_case(fn, [110, 111, 115, 119, 210, 512, 910, 1010, 1110, 5019, 9118]),
        ),
        (
            "a gap inside the number: one 零",
            _numeral_case(fn, [101, 105, 109, 1001, 1005, 1009, 1050, 1090, 3040, 7066, 9102]),
        ),
        (
            "trailing zeros: no 零 at the end",
            _numeral_case(fn, [100, 200, 900, 1000, 1100, 2000, 2200, 9000, 9900, 9990]),
        ),
        ("2 is 二, never 两", _numeral_case(fn, [2, 20, 22, 200, 222, 2000, 2002, 2222])),
        ("40 random numbers below 10,000", _numeral_case(fn, random_all)),
    ]
    return run_cases("ex-seq2seq-chinese-numeral", cases, verbose)


def _random_seq2seq(seed: int) -> EncoderDecoder:
    """A small float64 EncoderDecoder whose weights are drawn N(0, 1 / fan_in): confident random
    predictions, so that no argmax is decided by a rounding difference."""
    torch.manual_seed(case_seed(seed))  # the initialisation (inside run_cases' fork_rng)
    config = EncoderDecoderConfig(
        vocab_size=19,
        tgt_vocab_size=17,
        d_model=32,
        n_heads=4,
        n_layers=2,
        max_len=12,
        pos_encoding="learned",
        tie_weights=False,
    )
    model = EncoderDecoder(config)
    for p in model.parameters():
        if p.ndim >= 2:
            nn.init.normal_(p, std=p.shape[-1] ** -0.5)
    return model.double().eval()


BOS_ID, NO_EOS = 0, 99  # NO_EOS: an id the 17-token target vocabulary cannot produce


@CHAPTER.exercise(
    "ex-seq2seq-greedy",
    title="Greedy decoding without a cache",
    difficulty="medium",
    names=("my_greedy_decode",),
    references=("companion.generate.greedy_decode",),
)
def check_greedy_decode(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-seq2seq-greedy: ``my_greedy_decode(model, src, bos_id, eos_id, max_len, src_mask=None)``
    against :func:`companion.generate.greedy_decode` on small random models: the lists of
    generated ids (without bos, up to and including the first eos) must be equal."""

    def case(seed, batch, src_len, max_len, eos="early", lengths=None):
        def run():
            model = _random_seq2seq(seed)
            g = case_generator(seed)
            src = torch.randint(1, 19, (batch, src_len), generator=g)
            mask = None
            if lengths is not None:
                mask = padding_mask(lengths, src_len)
                src = src.masked_fill(~mask[:, 0], 0)  # padding id 0 after each source
            eos_id = NO_EOS
            if eos == "early":  # a token the reference produces at step 2 of row 0
                eos_id = greedy_decode(model, src, BOS_ID, NO_EOS, max_len, mask)[0][1]
            want = greedy_decode(model, src, BOS_ID, eos_id, max_len, mask)
            args = (model, src, BOS_ID, eos_id, max_len) + (() if mask is None else (mask,))
            with torch.no_grad():
                got = fn(*args)
            return _compare_decoded(got, want, eos_id)

        return run

    cases: list[Case] = [
        ("one source, no eos within max_len", case(1, 1, 6, 8, eos=None)),
        ("batch 3, eos produced early in some rows", case(2, 3, 7, 10)),
        ("batch 4, eos produced early, another model", case(3, 4, 5, 9)),
        ("max_len 1", case(4, 2, 5, 1, eos=None)),
        (
            "batch 3 padded to 7 with src_mask, no eos",
            case(5, 3, 7, 8, eos=None, lengths=[7, 4, 2]),
        ),
        ("batch 3 padded to 6 with src_mask, eos early", case(6, 3, 6, 10, lengths=[3, 6, 5])),
    ]
    return run_cases("ex-seq2seq-greedy", cases, verbose)


def _compare_decoded(got: object, want: list[list[int]], eos_id: int) -> str | None:
    """None if ``got`` equals ``want``; else what is wrong, without ``want``'s tokens."""
    if not isinstance(got, list | tuple) or not all(isinstance(r, list | tuple) for r in got):
        return f"returned a {type(got).__name__}; expected a list with one list of ids per source"
    if len(got) != len(want):
        return f"returned {len(got)} rows for a batch of {len(want)}"
    for i, (row, ref) in enumerate(zip(got, want, strict=True)):
        row = [int(t) for t in row]
        if row == ref:
            continue
        if row[:1] == [BOS_ID] and row[1:] == ref[: len(row) - 1]:
            return f"row {i} starts with bos_id: return only the generated ids"
        if eos_id in row and row.index(eos_id) < len(row) - 1:
            return f"row {i} goes on after eos_id: stop each row at its first eos"
        first = next(
            (t for t, (a, b) in enumerate(zip(row, ref, strict=False)) if a != b),
            min(len(row), len(ref)),
        )
        return f"row {i} differs from position {first} on ({len(row)} ids returned)"
    return None


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-seq2seq-by-hand", title="Numerals by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-seq2seq-beam-width", title="Predict, then measure the beam width", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-seq2seq-longer", title="Make it fail on longer numbers", difficulty="hard"
)
