"""Train one small GPT on multi-digit addition and score it digit by digit (chapter 50).

Chapter 50 trains a family of these models, growing only in width, on the same data for the same
number of steps, and compares two metrics of the same predictions (Schaeffer et al. 2023):

- per-digit accuracy ``p``: the share of answer digits that are right;
- exact match: the share of answers whose ``L`` digits are all right.

If each digit were right independently with probability ``p``, exact match would be ``p^L``: a
smooth rise of ``p`` with model size becomes a sharp one of ``p^L`` (:func:`predicted_exact_match`).

The digits scored are those of the model's own answer, decoded greedily: a wrong digit is fed
back and can make the next ones wrong, as a wrong carry does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from companion import validators as check
from companion.data.addition import VOCAB, AdditionTask
from companion.models import GPT, GPTConfig
from companion.objectives import IGNORE_INDEX
from companion.train import History, TrainConfig, lm_loss, train

__all__ = [
    "AdditionBatches",
    "AdditionRun",
    "DigitScore",
    "digit_correct",
    "predicted_exact_match",
    "score",
    "share_of_rise",
    "train_adder",
]


class AdditionBatches:
    """Random addition problems as language-model batches: ``batches(generator) -> (x, y)``.

    ``x`` and ``y`` are ``(batch_size, seq_len - 1)`` int64: ``x`` is the sequence without its last
    token, ``y`` the sequence shifted left by one with :data:`~companion.objectives.IGNORE_INDEX`
    on the prompt, so :func:`companion.train.lm_loss` averages the loss over the ``L`` answer
    digits only (the operands are random: predicting them is not the task).
    """

    def __init__(
        self, task: AdditionTask, batch_size: int, device: torch.device | str | None = None
    ) -> None:
        self.task, self.batch_size, self.device = (
            task,
            check.positive_int("batch_size", batch_size),
            device,
        )

    def __call__(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One batch: inputs ``x`` and targets ``y``, int64 ``(batch, seq_len - 1)`` each, on
        ``device``; every target before the answer's first digit is ``IGNORE_INDEX``."""
        tokens = self.task.encode(*self.task.sample(self.batch_size, generator))  # (B, seq_len)
        x, y = tokens[:, :-1], tokens[:, 1:].clone()  # (B, seq_len - 1) each
        y[:, : self.task.prompt_len - 1] = IGNORE_INDEX  # the first target is the answer's digit 0
        return x.to(self.device), y.to(self.device)


@torch.no_grad()
def digit_correct(
    model: GPT, task: AdditionTask, a: Tensor, b: Tensor, chunk: int = 4096
) -> Tensor:
    """Which digits of its own answer ``model`` gets right: a bool tensor ``(n, L)`` for ``a, b (n,)``.

    The answer is decoded greedily from the prompt, one digit after another (each the argmax of
    the logits given the prompt and the model's own previous digits); column ``k`` says whether
    the digit of ``10^k`` is right. A wrong digit is fed back, as it would be in use.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tokens = task.encode(a, b)  # (n, seq_len)
    out = []
    for i in range(0, len(tokens), chunk):
        target = tokens[i : i + chunk].to(device)  # (c, seq_len)
        x = target[:, : task.prompt_len]  # (c, prompt_len)
        for _ in range(task.answer_len):
            next_digit = model(x)[:, -1].argmax(-1, keepdim=True)  # (c, 1)
            x = torch.cat([x, next_digit], dim=1)  # (c, t + 1)
        out.append((x[:, task.prompt_len :] == target[:, task.prompt_len :]).cpu())  # (c, L)
    model.train(was_training)
    return torch.cat(out)  # (n, L)


@dataclass
class DigitScore:
    """Scores of one model on one test set.

    ``per_position (L,)``: accuracy at each answer digit (digit of ``10^k`` at ``k``);
    ``per_digit``: their mean ``p``; ``exact_match``: the share of answers right in every digit.
    """

    per_position: Tensor
    per_digit: float
    exact_match: float

    @property
    def independent_prediction(self) -> float:
        """``prod_k p_k``: exact match if the digits' errors were independent."""
        return float(self.per_position.double().prod())


def score(correct: Tensor) -> DigitScore:
    """:class:`DigitScore` of a bool tensor ``correct (n, L)`` (from :func:`digit_correct`)."""
    if not isinstance(correct, Tensor) or correct.dtype != torch.bool or correct.ndim != 2:
        check.fail("correct", correct, "a 2-D bool tensor (n, L)", error=TypeError)
    per_position = correct.double().mean(0)  # (L,)
    return DigitScore(
        per_position.float(), float(per_position.mean()), float(correct.all(1).double().mean())
    )


def predicted_exact_match(per_digit: float, L: int) -> float:
    """``p^L``: the exact match of ``L`` digits each right independently with probability ``p``."""
    check.number("per_digit", per_digit, 0, 1)
    check.positive_int("L", L)
    return per_digit**L


def share_of_rise(values: list[float], i: int, min_rise: float = 0.05) -> float | None:
    """How much of a curve's rise is done at point ``i``: ``(v[i] - v[0]) / (v[-1] - v[0])``.

    ``values`` is one metric along a family of models ordered by size. A metric that grows
    smoothly has done a good part of its rise at the middle model; one that jumps at the end has
    done little. ``None`` when the metric did not rise by more than ``min_rise`` from the first
    model to the last: a share of a flat or falling curve means nothing.
    """
    if len(values) < 2:
        check.fail("values", values, "at least two numbers, one per model of the family")
    if not -len(values) <= i < len(values):
        check.fail("i", i, f"an index into the {len(values)} values")
    rise = values[-1] - values[0]
    return (values[i] - values[0]) / rise if rise > min_rise else None


@dataclass
class AdditionRun:
    """A model trained by :func:`train_adder`, its history and its size."""

    model: GPT
    task: AdditionTask
    history: History
    n_params: int


def train_adder(
    task: AdditionTask,
    *,
    d_model: int,
    n_layers: int = 2,
    n_heads: int = 2,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> AdditionRun:
    """Train a pre-LN GPT of width ``d_model`` on ``task`` and return it in eval mode.

    The recipe is the same for every width: AdamW (betas 0.9, 0.99, weight decay 0.1) at peak
    ``lr``, warm-up over a tenth of the steps then cosine decay, ``batch_size`` fresh random
    problems per step, the loss on the answer digits only; ``d_ff = 4 d_model``, learned
    positions, no dropout.
    """
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=len(VOCAB),
        d_model=d_model,
        n_heads=n_heads,
        n_layers=n_layers,
        max_len=task.seq_len - 1,
        dropout=0.0,
    )
    model = GPT(config).to(device)
    train_config = TrainConfig(
        max_steps=steps,
        lr=lr,
        warmup_steps=max(1, steps // 10),
        betas=(0.9, 0.99),
        weight_decay=0.1,
        seed=seed,
        progress=progress,
    )
    history = train(model, lm_loss, AdditionBatches(task, batch_size, device), train_config)
    return AdditionRun(model.eval(), task, history, model.num_parameters())
