"""Tokenizers: text to integer ids and back, one character at a time or by byte-level BPE.

A model reads integers, so text must be cut into *tokens* (词元) drawn from a fixed vocabulary.
The cut decides two things at once:

* **Out-of-vocabulary (OOV) words.** A word-level vocabulary cannot represent a word it never
  saw ("transformerize", a typo, a new name) and falls back to ``<unk>``, losing it.
* **Vocabulary size versus sequence length.** Characters never go OOV but make sequences long,
  and attention costs grow with length; whole words make sequences short but need a huge
  embedding table and still go OOV.

*Subword* tokenizers sit between the two: frequent words are single tokens, rare words are
spelled from smaller pieces. Byte-pair encoding (BPE; Sennrich, Haddow and Birch, 2016) learns
the pieces by starting from single symbols and repeatedly merging the most frequent adjacent
pair. GPT-2 runs BPE on UTF-8 *bytes* instead of characters, so its 256 base tokens spell any
text and nothing is ever OOV; its vocabulary has 50,257 tokens (256 bytes + 50,000 merges +
``<|endoftext|>``). BERT uses WordPiece, a close cousin that picks merges by likelihood, with a
vocabulary of 30,522.

``learn_bpe`` and ``apply_bpe`` (module ``sennrich``) are the paper's word-level BPE, for teaching.

This package holds three tokenizers, one module each, that share an interface (``encode``, ``decode``,
``vocab_size``, ``token_to_id``, ``load``):

* :class:`CharTokenizer`: one token per Unicode code point, the smallest honest baseline.
* :class:`BPETokenizer`: byte-level BPE trained from text, GPT-2 style.
* :class:`WordPieceTokenizer`: BERT's tokenizer, loaded from a pretrained model's ``vocab.txt``.

:class:`WordTokenizer` (``encode``, ``decode``, ``vocab_size``, ``token_to_id``, nothing to save) is
for closed languages made by a grammar, SCAN and the toy language of chapter 33: one token per word
of a fixed list.

The first two are trained here and save to a small JSON file
``{"type": ..., "format_version": 1, ...}``, written atomically; a WordPiece vocabulary comes with
its pretrained model and is only loaded.
"""

from companion.tokenizers.bpe import GPT2_SPLIT_PATTERN, BPETokenizer
from companion.tokenizers.char import CharTokenizer
from companion.tokenizers.common import FORMAT_VERSION
from companion.tokenizers.sennrich import apply_bpe, learn_bpe
from companion.tokenizers.word import WordTokenizer
from companion.tokenizers.wordpiece import (
    WORDPIECE_SPECIALS,
    WordPieceTokenizer,
    bert_normalize,
    bert_split,
    wordpiece,
)

__all__ = [
    "FORMAT_VERSION",
    "GPT2_SPLIT_PATTERN",
    "WORDPIECE_SPECIALS",
    "BPETokenizer",
    "CharTokenizer",
    "WordPieceTokenizer",
    "WordTokenizer",
    "apply_bpe",
    "bert_normalize",
    "bert_split",
    "learn_bpe",
    "wordpiece",
]
