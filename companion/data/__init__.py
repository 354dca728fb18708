"""Data: batches of token windows, corpora downloaded with a checksum, and synthetic tasks.

- :mod:`companion.data.batches`: :class:`TokenBatches` (random training windows drawn from an
  explicit generator) and :func:`split` (train/validation);
- :mod:`companion.data.corpora`: :func:`tiny_shakespeare` and the cache it downloads into;
- :mod:`companion.data.number_words`: English number words to Chinese numerals, a sequence-to-sequence
  task (chapter 32).
"""

from companion.data.batches import TokenBatches, split
from companion.data.corpora import TINY_SHAKESPEARE, Corpus, data_dir, fetch, tiny_shakespeare
from companion.data.number_words import (
    NumberBatches,
    NumberSplit,
    Seq2SeqBatch,
    chinese_numeral,
    digit_groups,
    encode_pairs,
    english_words,
    number_tokenizers,
    split_numbers,
)

__all__ = [
    "TINY_SHAKESPEARE",
    "Corpus",
    "NumberBatches",
    "NumberSplit",
    "Seq2SeqBatch",
    "TokenBatches",
    "chinese_numeral",
    "data_dir",
    "digit_groups",
    "encode_pairs",
    "english_words",
    "fetch",
    "number_tokenizers",
    "split",
    "split_numbers",
    "tiny_shakespeare",
]
