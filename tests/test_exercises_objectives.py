"""Checkers of notebooks/11_objectives: the notebook's solutions (and differently written right
answers) get full marks, plausible wrong implementations are rejected, and no message gives away
an expected value."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
import torch
from transformers import BertTokenizer

from companion.course.exercises.objectives import (
    check_mlm_corruption,
    check_mlm_example,
    word_tokenizer,
)
from companion.objectives import mask_tokens

# --- BERT's corruption: the notebook's solution, other right answers, plausible mistakes ----------


def my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids):
    special = torch.isin(ids, torch.tensor(list(special_ids)))  # (batch, seq)
    selected = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special
    action = torch.rand(ids.shape, generator=generator)  # < 0.8 [MASK], < 0.9 random, else kept
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    random_ids = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
    corrupted = torch.where(selected & (action < 0.8), mask_id, ids)
    swap = selected & (action >= 0.8) & (action < 0.9)
    corrupted = torch.where(swap, random_ids, corrupted)
    labels = torch.where(selected, ids, -100)
    return corrupted, labels


def fixed_count_per_row(ids, generator, mask_id, vocab_size, special_ids):
    """BERT's own script: exactly round(0.15 n) of a row's n ordinary tokens. Also right."""
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    scores = torch.rand(ids.shape, generator=generator).masked_fill(special, 2.0)
    order = scores.argsort(dim=1).argsort(dim=1)  # rank of each position in its row
    k = ((~special).sum(1, keepdim=True) * 0.15).round()  # (batch, 1)
    selected = order < k
    action = torch.rand(ids.shape, generator=generator)
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    random_ids = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
    corrupted = torch.where(selected & (action < 0.8), mask_id, ids)
    corrupted = torch.where(selected & (action >= 0.8) & (action < 0.9), random_ids, corrupted)
    return corrupted, torch.where(selected, ids, -100)


def companion_mask_tokens(ids, generator, mask_id, vocab_size, special_ids):
    return mask_tokens(
        ids, generator, mask_id=mask_id, vocab_size=vocab_size, special_ids=special_ids
    )


def all_mask(ids, generator, mask_id, vocab_size, special_ids):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special
    return torch.where(selected, mask_id, ids), torch.where(selected, ids, -100)


def labels_everywhere(ids, generator, mask_id, vocab_size, special_ids):
    corrupted, _ = my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids)
    return corrupted, ids.clone()


def selects_specials(ids, generator, mask_id, vocab_size, special_ids):
    return my_mask_tokens(ids, generator, mask_id, vocab_size, (mask_id,))


def swapped_10_10_80(ids, generator, mask_id, vocab_size, special_ids):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special
    action = torch.rand(ids.shape, generator=generator)
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    random_ids = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
    corrupted = torch.where(selected & (action < 0.1), mask_id, ids)
    corrupted = torch.where(selected & (action >= 0.1) & (action < 0.2), random_ids, corrupted)
    return corrupted, torch.where(selected, ids, -100)


def random_from_whole_vocab(ids, generator, mask_id, vocab_size, special_ids):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special
    action = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    corrupted = torch.where(selected & (action < 0.8), mask_id, ids)
    corrupted = torch.where(selected & (action >= 0.8) & (action < 0.9), random_ids, corrupted)
    return corrupted, torch.where(selected, ids, -100)


def _replaced_by(draw):
    """My_mask_tokens with the random replacement drawn by ``draw(shape, generator, ...)``."""

    def fn(ids, generator, mask_id, vocab_size, special_ids):
        special = torch.isin(ids, torch.tensor(list(special_ids)))
        selected = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special
        action = torch.rand(ids.shape, generator=generator)
        random_ids = draw(ids.shape, generator, vocab_size, special_ids)
        corrupted = torch.where(selected & (action < 0.8), mask_id, ids)
        corrupted = torch.where(selected & (action >= 0.8) & (action < 0.9), random_ids, corrupted)
        return corrupted, torch.where(selected, ids, -100)

    return fn


def _first_ordinary(special_ids):
    return next(i for i in range(10**6) if i not in set(special_ids))


# replacements drawn as if the specials were the last ids of the vocabulary
specials_assumed_last = _replaced_by(
    lambda shape, g, v, s: torch.randint(v - len(s), shape, generator=g)
)
specials_assumed_last.__name__ = "specials_assumed_last"
# a "random" replacement that is always the same id: 0, or the first non-special id
always_id_0 = _replaced_by(lambda shape, g, v, s: torch.zeros(shape, dtype=torch.long))
always_id_0.__name__ = "always_id_0"
always_first_ordinary = _replaced_by(
    lambda shape, g, v, s: torch.full(shape, _first_ordinary(s), dtype=torch.long)
)
always_first_ordinary.__name__ = "always_first_ordinary"


def labels_are_mask_id(ids, generator, mask_id, vocab_size, special_ids):
    corrupted, labels = my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids)
    return corrupted, torch.where(labels != -100, mask_id, -100)


def selects_15_percent_of_masked_only(ids, generator, mask_id, vocab_size, special_ids):
    """Labels only where [MASK] was put: the random and unchanged 20% get no loss."""
    corrupted, labels = my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids)
    return corrupted, torch.where(corrupted == mask_id, labels, -100)


def global_rng(ids, generator, mask_id, vocab_size, special_ids):
    return my_mask_tokens(ids, None, mask_id, vocab_size, special_ids)


def in_place(ids, generator, mask_id, vocab_size, special_ids):
    corrupted, labels = my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids)
    ids.copy_(corrupted)
    return ids, labels


def selects_20_percent(ids, generator, mask_id, vocab_size, special_ids):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < 0.2) & ~special
    return torch.where(selected, mask_id, ids), torch.where(selected, ids, -100)


# --- seed 001's example, fixed --------------------------------------------------------------------


@functools.cache
def tokenizer_of(vocab: tuple[str, ...]):
    """The word-level BertTokenizer of ``vocab``, built offline as the notebook does."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        return BertTokenizer.from_pretrained(folder)


def my_mlm_example(vocab, text, position):
    tokenizer = tokenizer_of(tuple(vocab))
    input_ids = tokenizer(text, return_tensors="pt")["input_ids"]  # (1, L)
    labels = torch.full_like(input_ids, -100)  # (1, L): no loss anywhere ...
    labels[0, position] = input_ids[0, position]  # ... but at the masked word: its ORIGINAL id
    input_ids = input_ids.clone()
    input_ids[0, position] = tokenizer.mask_token_id
    return input_ids, labels


def mlm_example_by_tokens(vocab, text, position):
    tokenizer = tokenizer_of(tuple(vocab))
    tokens = ["[CLS]", *tokenizer.tokenize(text), "[SEP]"]
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(tokens)])
    labels = torch.where(torch.arange(len(tokens)) == position, ids, -100)
    masked = ids.masked_fill(labels != -100, tokenizer.mask_token_id)
    return masked, labels


def label_is_mask_id(vocab, text, position):
    tokenizer = tokenizer_of(tuple(vocab))
    input_ids, labels = my_mlm_example(vocab, text, position)
    labels[0, position] = tokenizer.mask_token_id  # the seed's bug 3
    return input_ids, labels


def label_shape_1(vocab, text, position):
    input_ids, labels = my_mlm_example(vocab, text, position)
    return input_ids, labels[0, position].unsqueeze(0)  # the seed's bug 4


def masks_first_occurrence(vocab, text, position):
    tokenizer = tokenizer_of(tuple(vocab))
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    first = int((ids[0] == ids[0, position]).nonzero()[0])
    return my_mlm_example(vocab, text, first)


def labels_everywhere_example(vocab, text, position):
    tokenizer = tokenizer_of(tuple(vocab))
    input_ids, _ = my_mlm_example(vocab, text, position)
    return input_ids, tokenizer(text, return_tensors="pt")["input_ids"]


def not_masked(vocab, text, position):
    tokenizer = tokenizer_of(tuple(vocab))
    _, labels = my_mlm_example(vocab, text, position)
    return tokenizer(text, return_tensors="pt")["input_ids"], labels


def padded_to_128(vocab, text, position):
    tokenizer = tokenizer_of(tuple(vocab))
    enc = tokenizer(text, return_tensors="pt", padding="max_length", max_length=128)
    input_ids = enc["input_ids"].clone()
    labels = torch.full_like(input_ids, -100)
    labels[0, position] = input_ids[0, position]
    input_ids[0, position] = tokenizer.mask_token_id
    return input_ids, labels


def word_index_off_by_one(vocab, text, position):
    return my_mlm_example(vocab, text, position - 1)  # forgot [CLS]


# --- the shared contract (tests/test_course.py) ---------------------------------------------------

REFERENCES = {
    "ex-objectives-mask-tokens": (my_mask_tokens,),
    "ex-objectives-fix-seed": (my_mlm_example,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-objectives-mask-tokens", (fixed_count_per_row,)),
    ("ex-objectives-mask-tokens", (companion_mask_tokens,)),
    ("ex-objectives-fix-seed", (mlm_example_by_tokens,)),
]


@pytest.mark.parametrize(
    "fn",
    [my_mask_tokens, fixed_count_per_row, companion_mask_tokens],
    ids=lambda f: f.__name__,
)
def test_right_corruptions_pass(fn):
    score = check_mlm_corruption(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize(
    "fn",
    [
        all_mask,
        labels_everywhere,
        selects_specials,
        swapped_10_10_80,
        random_from_whole_vocab,
        specials_assumed_last,
        always_id_0,
        always_first_ordinary,
        labels_are_mask_id,
        selects_15_percent_of_masked_only,
        global_rng,
        in_place,
        selects_20_percent,
    ],
    ids=lambda f: f.__name__,
)
def test_wrong_corruptions_are_rejected(fn):
    score = check_mlm_corruption(fn, verbose=False)
    assert score.passed < score.total, f"{fn.__name__} passed\n{score}"


@pytest.mark.parametrize("fn", [my_mlm_example, mlm_example_by_tokens], ids=lambda f: f.__name__)
def test_right_examples_pass(fn):
    score = check_mlm_example(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize(
    "fn",
    [
        label_is_mask_id,
        label_shape_1,
        masks_first_occurrence,
        labels_everywhere_example,
        not_masked,
        padded_to_128,
        word_index_off_by_one,
    ],
    ids=lambda f: f.__name__,
)
def test_wrong_examples_are_rejected(fn):
    score = check_mlm_example(fn, verbose=False)
    assert score.passed < score.total, f"{fn.__name__} passed\n{score}"


def test_the_checkers_tokenizer_is_offline_and_word_level():
    tok = word_tokenizer()
    ids = tok("the quick brown fox jumps over the lazy dog .")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id and len(ids) == 12
    assert tok.unk_token_id not in ids
    assert tok("good night , sweet prince")["input_ids"].count(tok.unk_token_id) == 2
