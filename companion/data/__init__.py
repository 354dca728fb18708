"""Data: batches of token windows, corpora downloaded with a checksum, and synthetic tasks.

- :mod:`companion.data.batches`: :class:`TokenBatches` (random training windows drawn from an
  explicit generator) and :func:`split` (train/validation);
- :mod:`companion.data.corpora`: :func:`tiny_shakespeare` and the cache it downloads into.
"""

from companion.data.batches import TokenBatches, split
from companion.data.corpora import TINY_SHAKESPEARE, Corpus, data_dir, fetch, tiny_shakespeare

__all__ = [
    "TINY_SHAKESPEARE",
    "Corpus",
    "TokenBatches",
    "data_dir",
    "fetch",
    "split",
    "tiny_shakespeare",
]
