"""companion.data.addition and companion.arithmetic: the encoding of a + b, the batches' targets,
greedy scoring digit by digit (checked with oracle models), the two metrics, and training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from companion.arithmetic import (
    AdditionBatches,
    digit_correct,
    predicted_exact_match,
    score,
    share_of_rise,
    train_adder,
)
from companion.data.addition import EQUALS, PLUS, VOCAB, AdditionTask
from companion.objectives import IGNORE_INDEX

TASK = AdditionTask(4)


def test_encoding_of_a_known_sum():
    tokens = TASK.encode(torch.tensor([527, 9999, 0]), torch.tensor([9416, 9999, 0]))
    assert tokens.shape == (3, TASK.seq_len) == (3, 15)
    assert TASK.decode(tokens) == ["7250+6149=34990", "9999+9999=89991", "0000+0000=00000"]
    assert tokens[0, 4] == PLUS and tokens[0, 9] == EQUALS and VOCAB[PLUS] == "+"


def test_answer_digits_read_back_to_the_sum():
    a, b = TASK.sample(500, torch.Generator().manual_seed(0))
    digits = TASK.answer_digits(a, b)  # (500, 5), least significant first
    assert torch.equal((digits * 10 ** torch.arange(5)).sum(1), a + b)
    assert int(a.min()) >= 0 and int(max(a.max(), b.max())) < 10_000


def test_sampling_is_reproducible():
    one = TASK.sample(10, torch.Generator().manual_seed(3))
    two = TASK.sample(10, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(one, two, strict=True))


def test_batches_put_the_loss_on_the_answer_only():
    x, y = AdditionBatches(TASK, 8)(torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, TASK.seq_len - 1)
    assert bool((y[:, : TASK.prompt_len - 1] == IGNORE_INDEX).all())
    answer = y[:, TASK.prompt_len - 1 :]  # (8, L): the targets of the last L positions
    a = (x[:, :4] * 10 ** torch.arange(4)).sum(1)
    b = (x[:, 5:9] * 10 ** torch.arange(4)).sum(1)
    assert torch.equal(answer, TASK.answer_digits(a, b))
    assert torch.equal(x[:, 1:], y[:, :-1].where(y[:, :-1] != IGNORE_INDEX, x[:, 1:]))


class Oracle(nn.Module):
    """Reads the operands from the prompt and predicts the true next digit, except that it adds
    ``error`` (mod 10) to the answer digit of position ``wrong_at``."""

    def __init__(self, wrong_at: int | None = None) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.wrong_at = wrong_at

    def forward(self, x):
        a = (x[:, :4] * 10 ** torch.arange(4)).sum(1)
        b = (x[:, 5:9] * 10 ** torch.arange(4)).sum(1)
        k = x.shape[1] - TASK.prompt_len  # the answer position predicted by the last logits
        digit = TASK.answer_digits(a, b)[:, k] + int(k == self.wrong_at)
        logits = torch.zeros(x.shape[0], x.shape[1], len(VOCAB))
        logits[torch.arange(x.shape[0]), -1, digit % 10] = 1.0
        return logits


def test_digit_correct_decodes_greedily():
    a, b = TASK.sample(50, torch.Generator().manual_seed(1))
    assert bool(digit_correct(Oracle(), TASK, a, b).all())
    wrong = digit_correct(Oracle(wrong_at=2), TASK, a, b, chunk=7)
    assert wrong.shape == (50, 5)
    assert not bool(wrong[:, 2].any()) and bool(wrong[:, [0, 1, 3, 4]].all())


def test_score_of_a_known_matrix():
    correct = torch.tensor([[1, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 0]], dtype=torch.bool)
    s = score(correct)
    assert torch.allclose(s.per_position, torch.tensor([0.75, 0.5, 0.5]))
    assert s.per_digit == pytest.approx(7 / 12) and s.exact_match == 0.25
    assert s.independent_prediction == pytest.approx(0.75 * 0.5 * 0.5)
    assert predicted_exact_match(0.9, 5) == pytest.approx(0.9**5)


def test_training_lowers_the_loss():
    run = train_adder(TASK, d_model=16, steps=40, batch_size=32, seed=0)
    loss = run.history.train_loss
    assert sum(loss[-5:]) / 5 < sum(loss[:5]) / 5 - 0.2
    assert run.n_params == run.model.num_parameters() and not run.model.training


def test_training_is_reproducible():
    one, two = (train_adder(TASK, d_model=8, steps=5, batch_size=16, seed=1) for _ in range(2))
    assert one.history.train_loss == two.history.train_loss


def test_share_of_rise_of_a_smooth_a_sudden_and_a_flat_curve():
    assert share_of_rise([0.2, 0.5, 0.8], 1) == pytest.approx(0.5)  # smooth: half done midway
    assert share_of_rise([0.0, 0.01, 0.9], 1) == pytest.approx(0.01 / 0.9)  # sudden: little done
    assert share_of_rise([0.19, 0.17, 0.165], 1) is None  # falling: no share to speak of
    assert share_of_rise([0.5, 0.52, 0.53], 1) is None  # a rise within min_rise is no rise
    with pytest.raises(ValueError, match="values"):
        share_of_rise([0.5], 0)
    with pytest.raises(ValueError, match="index"):
        share_of_rise([0.1, 0.2], 5)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: AdditionTask(0), ValueError, "n_digits"),
        (lambda: AdditionTask(18), ValueError, "int64"),
        (lambda: TASK.encode(torch.tensor([10_000]), torch.tensor([1])), ValueError, "[0, 10000)"),
        (lambda: TASK.encode(torch.tensor([1.0]), torch.tensor([1])), TypeError, "integer"),
        (lambda: TASK.encode(torch.tensor([1, 2]), torch.tensor([1])), ValueError, "shape of a"),
        (lambda: score(torch.ones(3, 2)), TypeError, "bool"),
        (lambda: predicted_exact_match(1.5, 5), ValueError, "per_digit"),
        (lambda: predicted_exact_match(0.5, 0), ValueError, "L"),
        (lambda: AdditionBatches(TASK, 0), ValueError, "batch_size"),
    ],
)
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_gpu_profile_configuration_trains_two_steps():
    """Chapter 50's gpu profile (never run on a GPU yet): the widest model and batch, 2 steps."""
    run = train_adder(TASK, d_model=256, n_layers=1, n_heads=2, steps=2, batch_size=256, lr=3e-3)
    assert len(run.history.train_loss) == 2 and run.n_params > 750_000
    assert digit_correct(run.model, TASK, *TASK.sample(4, torch.Generator())).shape == (4, 5)
