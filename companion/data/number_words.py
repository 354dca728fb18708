"""English number words to Chinese numerals: a small sequence-to-sequence task.

``english_words(12_345)`` is ``"twelve thousand three hundred and forty-five"`` and
``chinese_numeral(12_345)`` is ``"一万二千三百四十五"``: translating one into the other needs no
reordering of digits, but tokens appear and disappear ("and" has no Chinese counterpart, a gap
in the digits becomes 零) and the two languages group digits differently (English counts
thousands, Chinese counts 万 = ten thousands). Every number from 0 to 99,999 is covered.

- :func:`english_words`: British English, with "and" before the tens and units (Swan,
  *Practical English Usage*: "In British English we always put and between hundred/thousand and
  numbers below a hundred"): 105 -> "one hundred and five", 1,005 -> "one thousand and five".
- :func:`chinese_numeral`: the everyday (小写) numerals 零一二三四五六七八九 with the units
  十百千万 (Ross and Ma, *Modern Mandarin Chinese Grammar*, §6.1-6.2). A run of missing units
  inside the number is read as one 零 and a trailing run not at all (1,005 -> 一千零五,
  1,050 -> 一千零五十, 10,101 -> 一万零一百零一); 10-19 drop the leading 一 (十五), which is kept
  anywhere else (一百一十五, 一万零一十); 2 is always 二 (speech often says 两 before 千 and 万).
- :func:`split_numbers`: train / validation / test sets of *numbers*, so that no test number is
  ever seen in training.
- :func:`number_tokenizers`, :func:`encode_pairs`, :class:`NumberBatches`: character-level
  vocabularies with ``<pad>``, ``<bos>``, ``<eos>``, and padded batches for teacher forcing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from companion import validators as check
from companion.data.pairs import BOS, EOS, PAD, SPECIALS, Seq2SeqBatch, encode_text_pairs
from companion.tokenizers import CharTokenizer

__all__ = [
    "BOS",
    "EOS",
    "MAX_NUMBER",
    "PAD",
    "SOURCE_CHARS",
    "SPECIALS",
    "SPLIT_STRATA",
    "TARGET_CHARS",
    "NumberBatches",
    "NumberSplit",
    "Seq2SeqBatch",
    "chinese_numeral",
    "digit_groups",
    "encode_pairs",
    "english_words",
    "number_tokenizers",
    "split_numbers",
]

MAX_NUMBER = 99_999

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

DIGITS = "零一二三四五六七八九"
UNITS = ("", "十", "百", "千", "万")  # UNITS[p] names 10 ** p

SOURCE_CHARS = " -adefghilnorstuvwxyz"  # every character of english_words(0 .. 99,999)
TARGET_CHARS = DIGITS + "十百千万"


def _check_number(n: object) -> int:
    """``n`` as an int, or a TypeError / ValueError saying what was wrong."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(
            f"n must be an int in 0..{MAX_NUMBER:,}, got {type(n).__name__} {n!r}; "
            "pass a whole number, e.g. int(n)"
        )
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(
            f"n={n:,} is outside 0..{MAX_NUMBER:,}: the task covers the numbers with at most five "
            "digits (up to 九万九千九百九十九); larger ones need the unit 十万, which it never uses"
        )
    return int(n)


def _below_hundred(n: int) -> str:
    """0..99 in words: "seven", "seventeen", "seventy", "seventy-seven"."""
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + (f"-{ONES[ones]}" if ones else "")


def _below_thousand(n: int) -> str:
    """0..999 in words, with "and" after "hundred": "three hundred and five"."""
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _below_hundred(rest)
    words = f"{ONES[hundreds]} hundred"
    return f"{words} and {_below_hundred(rest)}" if rest else words


def english_words(n: int) -> str:
    """``n`` (0..99,999) in British English words, lower case, hyphenated tens.

    "and" comes before the tens and units, after "hundred" or, when there are no hundreds,
    after "thousand": 105 -> "one hundred and five", 1,005 -> "one thousand and five",
    1,100 -> "one thousand one hundred", 12,345 -> "twelve thousand three hundred and
    forty-five", 0 -> "zero".

    Raises:
        TypeError: if ``n`` is not an integer.
        ValueError: if ``n`` is outside 0..99,999.
    """
    n = _check_number(n)
    thousands, rest = divmod(n, 1000)
    if not thousands:
        return _below_thousand(rest)
    words = f"{_below_thousand(thousands)} thousand"
    if not rest:
        return words
    return words + (" and " if rest < 100 else " ") + _below_thousand(rest)


def chinese_numeral(n: int) -> str:
    """``n`` (0..99,999) in everyday Chinese numerals (小写): digits 零一..九, units 十百千万.

    Each non-zero digit ``d`` at power ``p`` is written ``DIGITS[d] + UNITS[p]``, from the
    highest power down, with three rules:

    - a run of zero digits *inside* the number is one 零 (1,005 -> 一千零五, 10,050 -> 一万零五十,
      10,101 -> 一万零一百零一); a run at the end is dropped (20,000 -> 二万);
    - a number that starts with 十 (10..19) drops the 一: 15 -> 十五, but 115 -> 一百一十五 and
      10,010 -> 一万零一十;
    - 0 is 零, and 2 is always 二 (never 两).

    Raises:
        TypeError: if ``n`` is not an integer.
        ValueError: if ``n`` is outside 0..99,999.
    """
    n = _check_number(n)
    if n == 0:
        return DIGITS[0]
    digits = [int(d) for d in str(n)]
    out, gap = [], False
    for i, d in enumerate(digits):
        power = len(digits) - 1 - i
        if d == 0:
            gap = True  # only flushed by a later non-zero digit: no trailing 零
            continue
        if gap:
            out.append(DIGITS[0])
            gap = False
        if not (i == 0 and power == 1 and d == 1):  # 十五, not 一十五, at the start only
            out.append(DIGITS[d])
        out.append(UNITS[power])
    return "".join(out)


def digit_groups() -> list[range]:
    """The numbers of each length: ``[range(0, 10), range(10, 100), ..., range(10_000, 100_000)]``."""
    return [range(0 if k == 1 else 10 ** (k - 1), 10**k) for k in range(1, 6)]


# The strata of split_numbers: the lengths, with 10..19 apart (their own English words, eleven to
# nineteen, and their own Chinese rule, 十五 rather than 一十五), so that every part holds some.
SPLIT_STRATA = (
    range(0, 10),
    range(10, 20),
    range(20, 100),
    range(100, 1000),
    range(1000, 10_000),
    range(10_000, 100_000),
)


@dataclass(frozen=True)
class NumberSplit:
    """Disjoint sorted tuples of numbers whose union is 0..99,999."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]


def split_numbers(
    val_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0
) -> NumberSplit:
    """Split 0..99,999 into train / validation / test *by number*, stratified by length.

    Within each stratum of ``SPLIT_STRATA`` (0..9, 10..19, 20..99, then the 3-, 4- and 5-digit
    numbers), a seeded random permutation gives ``ceil(test_fraction * size)`` numbers to the
    test set, ``ceil(val_fraction * size)`` to validation and the rest to training. So every
    stratum is represented in every part (one test number among 0..9, one among 10..19), and a
    test number never appears in training: the model is scored on translations it has never seen.

    Raises:
        ValueError: if a fraction is not in (0, 1) or they leave a stratum no training number.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name}={value!r} must lie strictly between 0 and 1, e.g. 0.05")
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for group in SPLIT_STRATA:
        n_test = math.ceil(test_fraction * len(group))
        n_val = math.ceil(val_fraction * len(group))
        if n_test + n_val >= len(group):
            raise ValueError(
                f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no training "
                f"number among the {len(group)} numbers {group.start}..{group.stop - 1}; "
                "use smaller fractions (they are rounded up in each group), e.g. 0.05 each"
            )
        order = torch.randperm(len(group), generator=generator).tolist()
        shuffled = [group[i] for i in order]
        parts["test"] += shuffled[:n_test]
        parts["val"] += shuffled[n_test : n_test + n_val]
        parts["train"] += shuffled[n_test + n_val :]
    return NumberSplit(**{name: tuple(sorted(nums)) for name, nums in parts.items()})


def number_tokenizers() -> tuple[CharTokenizer, CharTokenizer]:
    """Character-level ``(source, target)`` tokenizers, each with the specials PAD, BOS, EOS.

    The source alphabet is the 21 characters of the English words, the target one the 14 Chinese
    characters; the specials follow (``token_to_id(PAD)`` etc.).
    """
    return CharTokenizer(SOURCE_CHARS, SPECIALS), CharTokenizer(TARGET_CHARS, SPECIALS)


def encode_pairs(
    nums: Sequence[int],
    src_tok: CharTokenizer,
    tgt_tok: CharTokenizer,
    device: torch.device | str | None = None,
) -> Seq2SeqBatch:
    """Encode ``english_words(n) -> chinese_numeral(n)`` for each ``n`` of ``nums`` as a padded batch.

    Raises:
        ValueError: if ``nums`` is empty, or a number is outside 0..99,999 (TypeError if not an int).
    """
    if len(nums) == 0:
        raise ValueError("nums is empty: pass at least one number to encode")
    pairs = [(english_words(n), chinese_numeral(n)) for n in nums]
    return encode_text_pairs(pairs, src_tok, tgt_tok, device)


class NumberBatches:
    """Random training batches of number pairs: ``batches(generator) -> Seq2SeqBatch``.

    Args:
        nums: the numbers to draw from (e.g. ``split_numbers().train``).
        batch_size: pairs per batch.
        src_tok, tgt_tok: from :func:`number_tokenizers`.
        device: where the tensors go (the model's device); ``None`` keeps the CPU.
        balanced: draw a length (1 to 5 digits) uniformly, then a number of that length, so that
            short numbers are not drowned: among 0..99,999, 90% have five digits and one in ten
            thousand has one. With ``False``, every number is equally likely.

    The draws come from the generator the caller passes (the training loop's), so the same
    generator state always gives the same batch.
    """

    def __init__(
        self,
        nums: Sequence[int],
        batch_size: int,
        src_tok: CharTokenizer,
        tgt_tok: CharTokenizer,
        device: torch.device | str | None = None,
        balanced: bool = True,
    ) -> None:
        check.positive_int("batch_size", batch_size)
        nums = sorted(_check_number(n) for n in nums)
        if not nums:
            raise ValueError("nums is empty: pass the training numbers, e.g. split_numbers().train")
        self.batch_size, self.src_tok, self.tgt_tok = batch_size, src_tok, tgt_tok
        self.device = device
        groups = [[n for n in nums if n in g] for g in digit_groups()] if balanced else [nums]
        self.groups = [torch.tensor(g) for g in groups if g]

    def __call__(self, generator: torch.Generator) -> Seq2SeqBatch:
        """One batch of ``batch_size`` pairs; advances ``generator``."""
        which = torch.randint(len(self.groups), (self.batch_size,), generator=generator)
        sizes = torch.tensor([len(g) for g in self.groups])[which]  # (batch,)
        index = (torch.rand(self.batch_size, generator=generator) * sizes).long()  # (batch,)
        nums = [int(self.groups[w][i]) for w, i in zip(which.tolist(), index.tolist(), strict=True)]
        return encode_pairs(nums, self.src_tok, self.tgt_tok, self.device)

    def __repr__(self) -> str:
        sizes = [len(g) for g in self.groups]
        return (
            f"NumberBatches({sum(sizes)} numbers in groups {sizes}, batch_size={self.batch_size})"
        )
