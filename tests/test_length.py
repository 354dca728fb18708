"""Tasks of chapter 61 (copy, reversal, addition at any length) and scoring by length."""

import re

import pytest
import torch
from torch import nn

from companion.data.length_tasks import (
    BOS,
    COLUMNS,
    EOS,
    EQUALS,
    PAD,
    TASKS,
    VOCAB,
    VOCAB_SIZE,
    LengthTask,
    add_digits,
)
from companion.length import (
    LengthBatches,
    answer_correct,
    exact_match_by_length,
    train_length_model,
)
from companion.objectives import IGNORE_INDEX


def digits(tokens: torch.Tensor) -> str:
    return "".join(VOCAB[t] for t in tokens.tolist())


def number(lsb_first: str) -> int:
    return int(lsb_first[::-1])


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("n", [1, 7, 20, 40])
def test_encode_layout_and_answer(name, n):
    task = LengthTask(name)
    tokens = task.encode(n, 16, torch.Generator().manual_seed(n))
    assert tokens.shape == (16, task.seq_len(n))
    start = task.prompt_len(n)
    assert (tokens[:, 0] == BOS).all() and (tokens[:, start - 1] == EQUALS).all()
    assert (tokens[:, -1] == EOS).all()
    assert task.seq_len(n) == start + task.answer_len(n) + 1
    for row in tokens:
        text = task.text(row)
        prompt, answer = text[1:-1].split("=")
        if name == "copy":
            assert answer == prompt
        elif name == "reverse":
            assert answer == prompt[::-1]
        else:  # columns [ab], least significant first; the sum in n + 1 digits, checked with ints
            columns = re.findall(r"\[(\d)(\d)\]", prompt)
            a, b = ("".join(c[i] for c in columns) for i in (0, 1))
            assert (
                len(columns) == n
                and len(answer) == n + 1
                and "".join(f"[{x}{y}]" for x, y in columns) == prompt
            )
            assert number(answer) == number(a) + number(b)


def test_encode_by_hand():
    # 67 + 12 = 79 in columns, least significant digit first: [72] [61], answer 9 7 0
    task = LengthTask("add")
    tokens = torch.tensor([[BOS, COLUMNS + 72, COLUMNS + 61, EQUALS, 9, 7, 0, EOS]])
    assert task.text(tokens[0]) == "^[72][61]=970$"
    assert task.seq_len(2) == 8 and task.answer_len(2) == 3 and LengthTask("copy").seq_len(2) == 7
    assert VOCAB_SIZE == len(VOCAB) + 100


def test_addition_carries_through_forty_digits():
    a = torch.full((1, 40), 9)  # 10^40 - 1, beyond int64
    b = torch.zeros(1, 40, dtype=torch.long)
    b[0, 0] = 1
    assert digits(add_digits(a, b)[0]) == "0" * 40 + "1"


def test_batches_mask_prompt_and_padding():
    task = LengthTask("reverse")
    batches = LengthBatches(task, 1, 20, batch_size=64)
    x, y = batches(torch.Generator().manual_seed(0))
    assert x.shape == y.shape and x.dtype == y.dtype == torch.long
    for xr, yr in zip(x, y, strict=True):
        n = int((xr == EQUALS).nonzero()) - 1  # ^ x_1 .. x_n =
        real = task.seq_len(n)
        assert (xr[: real - 1] != PAD).all()
        supervised = yr != IGNORE_INDEX
        assert int(supervised.sum()) == task.answer_len(n) + 1  # the answer and $
        assert supervised.nonzero()[0].item() == task.prompt_len(n) - 1  # predicted after '='
        assert (xr[real:] == PAD).all()
    lengths = {int((xr == EQUALS).nonzero()) - 1 for xr in x}
    assert min(lengths) >= 1 and max(lengths) <= 20 and len(lengths) > 5


def test_batches_are_reproducible_from_the_generator():
    batches = LengthBatches(LengthTask("add"), 3, 9, batch_size=8)
    a = batches(torch.Generator().manual_seed(3))
    b = batches(torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


class CopyWithSlips(nn.Module):
    """Predicts the copy task's next token exactly, except after a 7, where it predicts 3.

    Teacher-forced and greedy exact match must still agree row by row."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.dummy = n, nn.Parameter(torch.zeros(1))

    def forward(self, ids):
        rows, seq = ids.shape
        nxt = torch.full((rows, seq), EOS)
        for t in range(seq):
            if t >= self.n + 1:  # inside the answer: copy the token n + 1 back
                src = t - self.n
                nxt[:, t] = ids[:, src] if src <= self.n else EOS
            nxt[:, t] = torch.where(ids[:, t] == 7, torch.full_like(nxt[:, t], 3), nxt[:, t])
        return nn.functional.one_hot(nxt, len(VOCAB)).float()


def test_teacher_forced_exact_match_equals_greedy_decoding():
    task, n = LengthTask("copy"), 4
    model = CopyWithSlips(n)
    tokens = task.encode(n, 300, torch.Generator().manual_seed(0))
    teacher = answer_correct(model, task, tokens, n).all(1)
    x = tokens[:, : task.prompt_len(n)]
    for _ in range(task.answer_len(n) + 1):  # greedy: feed back the model's own tokens
        x = torch.cat([x, model(x)[:, -1:].argmax(-1)], dim=1)
    greedy = (x == tokens).all(1)
    assert torch.equal(teacher, greedy)
    assert 0.2 < teacher.float().mean() < 0.9  # both kinds of row occur


@pytest.mark.parametrize("pos_encoding", ["learned", "alibi", "none"])
def test_training_is_seeded_and_learns(pos_encoding):
    task = LengthTask("copy")
    kwargs = dict(train_max=3, test_max=6, d_model=32, steps=60, batch_size=16, lr=3e-3)
    a = train_length_model(task, pos_encoding, **kwargs)
    b = train_length_model(task, pos_encoding, **kwargs)
    assert a.history.train_loss == b.history.train_loss
    assert a.history.train_loss[-1] < 0.5 * a.history.train_loss[0]
    scores = exact_match_by_length(a, range(1, 7), per_length=50)
    assert list(scores) == [1, 2, 3, 4, 5, 6] and all(0 <= s <= 1 for s in scores.values())
    assert scores == exact_match_by_length(b, range(1, 7), per_length=50)
    assert a.model.config.max_len == task.seq_len(6) and not a.model.training


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="name='sort'"):
        LengthTask("sort")
    with pytest.raises(ValueError, match="min_len=5"):
        LengthBatches(LengthTask("copy"), 5, 2, batch_size=4)
    with pytest.raises(ValueError, match="pos_encoding='relative'"):
        train_length_model(LengthTask("copy"), "relative", steps=1)
    with pytest.raises(ValueError, match="test_max=10"):
        train_length_model(LengthTask("copy"), "learned", train_max=20, test_max=10, steps=1)
    with pytest.raises(ValueError, match="per_length"):
        exact_match_by_length(None, [1], per_length=0)
