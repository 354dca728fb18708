"""companion.recipes: the training recipes later chapters reuse (chapters 31 and 32's)."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from conftest import REPO

from companion.data.corpora import DATA_ENV
from companion.data.number_words import chinese_numeral
from companion.models import GPT, EncoderDecoder, GPTConfig
from companion.recipes import (
    CHAR_GPT_SIZES,
    ISOFLOP_BUDGETS,
    SCALING_SWEEP,
    non_embedding_parameters,
    train_char_gpt,
    train_char_lm,
    train_number_translator,
)


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


# --- chapter 53's scaling sweeps -------------------------------------------------------------------


@pytest.fixture
def shakespeare_split(offline_data):
    from companion.data import split, tiny_shakespeare
    from companion.tokenizers import CharTokenizer

    text = tiny_shakespeare(progress=False)
    return split(torch.tensor(CharTokenizer.from_text(text).encode(text)), val_fraction=0.1)


def test_non_embedding_parameters_leave_out_both_tables():
    model = GPT(GPTConfig(vocab_size=65, n_layers=2, d_model=32, n_heads=2, max_len=64))
    assert model.num_parameters() - non_embedding_parameters(model) == (65 + 64) * 32
    # 12 d^2 + 13 d per pre-LN layer (attention 4d^2 + 4d, FFN 8d^2 + 5d, two LayerNorms 4d),
    # and the final LayerNorm's 2d
    assert non_embedding_parameters(model) == 2 * (12 * 32**2 + 13 * 32) + 2 * 32
    untied = GPT(GPTConfig(vocab_size=65, n_layers=1, d_model=16, n_heads=2, tie_weights=False))
    # the untied output layer multiplies, so it is counted: only the two tables are left out
    assert untied.num_parameters() - non_embedding_parameters(untied) == (65 + 64) * 16
    rotary = GPT(GPTConfig(vocab_size=65, n_layers=1, d_model=16, n_heads=2, pos_encoding="rotary"))
    # no position table (rotary positions have no parameters): only the token embedding is left out
    assert rotary.num_parameters() - non_embedding_parameters(rotary) == 65 * 16


def test_train_char_lm_trains_for_the_tokens_asked(shakespeare_split):
    train_ids, val_ids = shakespeare_split
    run = train_char_lm(
        train_ids, val_ids, n_layers=1, d_model=16, n_heads=2, tokens=12 * 8 * 16,
        context=16, batch=8, eval_batches=2,
    )  # fmt: skip
    assert run.steps == 12 and run.tokens == 12 * 8 * 16 and len(run.history.train_loss) == 12
    assert not run.model.training and run.model.config.max_len == 16
    assert run.loss == run.history.eval_loss[-1] and run.history.eval_steps == [12]
    assert run.n_non_embedding == non_embedding_parameters(run.model) < run.n_params
    again = train_char_lm(
        train_ids, val_ids, n_layers=1, d_model=16, n_heads=2, tokens=12 * 8 * 16,
        context=16, batch=8, eval_batches=2,
    )  # fmt: skip
    assert again.history.train_loss == run.history.train_loss  # seeded


def test_train_char_lm_refuses_a_bad_budget(shakespeare_split):
    with pytest.raises(ValueError, match="tokens=0"):
        train_char_lm(*shakespeare_split, n_layers=1, d_model=16, n_heads=2, tokens=0)
    with pytest.raises(ValueError, match="d_model=18 is not divisible by n_heads=4"):
        train_char_lm(*shakespeare_split, n_layers=1, d_model=18, n_heads=4, tokens=1000)
    with pytest.raises(ValueError, match="vocab_size=10"):
        train_char_lm(
            *shakespeare_split, n_layers=1, d_model=16, n_heads=2, tokens=1000, vocab_size=10
        )
    with pytest.raises(ValueError, match="batch=0"):
        train_char_lm(*shakespeare_split, n_layers=1, d_model=16, n_heads=2, tokens=1000, batch=0)
    with pytest.raises(ValueError, match="lr=0"):
        train_char_lm(*shakespeare_split, n_layers=1, d_model=16, n_heads=2, tokens=1000, lr=0.0)


def test_scaling_tables_are_consistent():
    for name in ("ci", "cpu", "gpu"):
        shapes = SCALING_SWEEP[name]["shapes"]
        sizes = [non_embedding_parameters(_shape(*s)) for s in shapes]
        assert sizes == sorted(sizes) and len(shapes) >= 4, name
        for budget, grid in ISOFLOP_BUDGETS[name].items():
            assert budget > 0 and len(grid) >= 3
    cpu = [non_embedding_parameters(_shape(*s)) for s in SCALING_SWEEP["cpu"]["shapes"]]
    assert len(cpu) >= 6 and cpu[-1] / cpu[0] > 100  # six sizes over two orders of magnitude


def _shape(n_layers, d_model, n_heads):
    return GPT(GPTConfig(vocab_size=65, n_layers=n_layers, d_model=d_model, n_heads=n_heads))


@pytest.mark.slow
def test_gpu_scaling_shapes_train_for_a_few_steps(shakespeare_split):
    """The gpu profile has never run on a GPU: each of its shapes at least builds and trains."""
    train_ids, val_ids = shakespeare_split
    shapes = set(SCALING_SWEEP["gpu"]["shapes"])
    shapes |= {s for grid in ISOFLOP_BUDGETS["gpu"].values() for s in grid}
    for n_layers, d_model, n_heads in sorted(shapes):
        run = train_char_lm(
            train_ids, val_ids, n_layers=n_layers, d_model=d_model, n_heads=n_heads,
            tokens=10 * 2 * 64, batch=2, eval_batches=1,
        )  # fmt: skip
        assert math.isfinite(run.loss) and run.loss < 5.0, (n_layers, d_model)
