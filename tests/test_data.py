"""Batching for language-model training: shapes, the one-token shift, determinism, bad input."""

import pytest
import torch

from companion.data import TokenBatches, split


def test_batch_shapes_and_dtype():
    batches = TokenBatches(torch.arange(100), batch_size=4, context_len=8)
    x, y = batches(torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert x.dtype == y.dtype == torch.int64
    assert x.device.type == y.device.type == "cpu"


def test_y_is_x_shifted_by_one_window_of_the_corpus():
    tokens = torch.randperm(1000)  # distinct ids: each window is located by its first token
    batches = TokenBatches(tokens, batch_size=16, context_len=12)
    x, y = batches(torch.Generator().manual_seed(1))
    assert torch.equal(x[:, 1:], y[:, :-1])
    for row_x, row_y in zip(x, y, strict=True):
        start = int((tokens == row_x[0]).nonzero())
        assert torch.equal(row_x, tokens[start : start + 12])
        assert torch.equal(row_y, tokens[start + 1 : start + 13])


def test_every_start_position_can_be_drawn_including_the_last():
    tokens = list(range(6))  # a plain list of ints works too
    batches = TokenBatches(tokens, batch_size=200, context_len=3)
    x, y = batches(torch.Generator().manual_seed(0))
    assert set(x[:, 0].tolist()) == {0, 1, 2}  # starts 0..n - context_len - 1
    assert y.max().item() == 5  # the last token is reachable as a target


def test_same_generator_state_same_batches_and_the_global_rng_is_untouched():
    batches = TokenBatches(torch.arange(500), batch_size=8, context_len=16)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    for _ in range(3):
        a, b = batches(g1), batches(g2)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(torch.get_rng_state(), before)
    other = batches(torch.Generator().manual_seed(8))
    assert not torch.equal(other[0], batches(torch.Generator().manual_seed(7))[0])


def test_generator_state_restores_the_batch_sequence():
    batches = TokenBatches(torch.arange(500), batch_size=4, context_len=8)
    g = torch.Generator().manual_seed(3)
    batches(g)
    state = g.get_state()
    expected = batches(g)
    g.set_state(state)
    assert torch.equal(batches(g)[0], expected[0])


def test_empty_corpus_is_rejected():
    with pytest.raises(ValueError, match="tokens is empty"):
        TokenBatches([], batch_size=2, context_len=4)
    with pytest.raises(ValueError, match="tokens is empty"):
        TokenBatches(torch.zeros(0, dtype=torch.long), batch_size=2, context_len=4)


def test_too_short_corpus_says_how_many_tokens_it_has_and_needs():
    with pytest.raises(ValueError, match=r"has 8 tokens but a window needs context_len \+ 1 = 9"):
        TokenBatches(torch.arange(8), batch_size=2, context_len=8)
    TokenBatches(torch.arange(9), batch_size=2, context_len=8)  # exactly enough


@pytest.mark.parametrize(
    ("tokens", "error", "match"),
    [
        (torch.zeros(4, 5, dtype=torch.long), ValueError, "must be 1-D"),
        (torch.rand(50), TypeError, "integer token ids"),
    ],
)
def test_bad_token_tensors(tokens, error, match):
    with pytest.raises(error, match=match):
        TokenBatches(tokens, batch_size=2, context_len=4)


@pytest.mark.parametrize(("name", "value"), [("batch_size", 0), ("context_len", -1)])
def test_bad_sizes(name, value):
    kwargs = {"batch_size": 2, "context_len": 4, name: value}
    with pytest.raises(ValueError, match=f"{name}={value}"):
        TokenBatches(torch.arange(50), **kwargs)


def test_split_keeps_order_first_part_train_last_part_val():
    train, val = split(list(range(100)), val_fraction=0.1)
    assert torch.equal(train, torch.arange(90)) and torch.equal(val, torch.arange(90, 100))
    # nanoGPT's 90/10 split of Tiny Shakespeare's 1,115,394 characters: 1,003,854 train tokens
    assert len(split(torch.zeros(1_115_394, dtype=torch.long))[0]) == 1_003_854


@pytest.mark.parametrize("val_fraction", [0.0, 1.0, -0.1])
def test_split_rejects_bad_fractions(val_fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        split(torch.arange(10), val_fraction=val_fraction)


def test_split_rejects_a_corpus_too_short_for_two_parts():
    with pytest.raises(ValueError, match="one part would be empty"):
        split([1, 2, 3], val_fraction=0.9)  # int(3 * 0.1) = 0 train tokens
