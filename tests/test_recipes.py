"""companion.recipes: the training recipes later chapters reuse (chapters 31 and 32's)."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import REPO

from companion.data.corpora import DATA_ENV
from companion.data.number_words import chinese_numeral
from companion.models import GPT, EncoderDecoder
from companion.recipes import CHAR_GPT_SIZES, train_char_gpt, train_number_translator


@pytest.fixture
def offline_data(monkeypatch, test_data):
    monkeypatch.setenv(DATA_ENV, str(test_data))


def test_char_gpt_sizes_are_chapter_31s():
    """Chapter 31 prints its table from CHAR_GPT_SIZES: the recipe and the chapter cannot drift."""
    cells = json.loads((REPO / "notebooks" / "31_train_gpt.ipynb").read_text(encoding="utf-8"))[
        "cells"
    ]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert any(re.search(r"^SIZES = CHAR_GPT_SIZES\b", s, re.M) for s in sources)
    assert CHAR_GPT_SIZES["cpu"] == dict(
        n_layers=4, d_model=128, n_heads=4, max_len=64, dropout=0.0, batch=32, steps=2000, lr=2e-3
    )


def test_train_char_gpt_returns_a_trained_model_in_eval_mode(offline_data):
    run = train_char_gpt("ci", steps=2, progress=False)
    size = CHAR_GPT_SIZES["ci"]
    assert isinstance(run.model, GPT) and not run.model.training
    assert run.model.config.d_model == size["d_model"] and run.size["steps"] == 2
    assert run.tokenizer.vocab_size == 65
    assert (len(run.train_ids), len(run.val_ids)) == (1_003_854, 111_540)
    assert run.history.steps == [1, 2] and run.history.eval_loss  # validated at the end


def test_train_char_gpt_is_reproducible_and_the_seed_matters(offline_data):
    a, b, c = (train_char_gpt("ci", steps=1, seed=s, progress=False) for s in (0, 0, 1))
    assert a.history.train_loss == b.history.train_loss
    assert a.history.train_loss != c.history.train_loss
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_translator_translates_and_scores(offline_data):
    run = train_number_translator("ci", steps=2, progress=False)
    assert isinstance(run.model, EncoderDecoder) and not run.model.training
    numbers = list(run.split.test[:5])
    outputs = run.translate(numbers, chunk=2)  # several chunks
    assert len(outputs) == 5 and all(isinstance(o, str) and "<eos>" not in o for o in outputs)
    assert 0.0 <= run.exact_match(numbers) <= 1.0
    assert not set(run.split.train) & set(run.split.test)


def test_exact_match_counts_right_translations(offline_data, monkeypatch):
    run = train_number_translator("ci", steps=1, progress=False)
    monkeypatch.setattr(
        run, "translate", lambda nums: [chinese_numeral(n) for n in nums[:-1]] + ["零"]
    )
    assert run.exact_match([12, 305, 7]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="empty"):
        run.exact_match([])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(profile="laptop"), "not a known profile"),
        (dict(profile="ci", steps=0), "positive int"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_char_gpt(**kwargs, progress=False)
    with pytest.raises(ValueError, match=message):
        train_number_translator(**kwargs, progress=False)
