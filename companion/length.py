"""Train short, test long: one causal decoder per position scheme (chapter 61).

:func:`train_length_model` trains a pre-LN GPT on a :class:`~companion.data.length_tasks.LengthTask`
with inputs of length ``1 .. train_max`` and nothing else changed between runs but
``pos_encoding``. :func:`exact_match_by_length` then scores it at every input length, inside and
beyond the lengths it was trained on.

Scoring uses one teacher-forced forward pass: the answer decoded greedily is right in every token
if and only if, given the right tokens before it, the argmax at every answer position (and at
``$``) is the right token. (If every argmax is right, greedy decoding feeds back exactly the right
tokens; if greedy decoding is right, the tokens it fed back were the right ones.) So exact match
needs no decoding loop; ``tests/test_length.py`` checks it against one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from companion import validators as check
from companion.data.length_tasks import PAD, VOCAB_SIZE, LengthTask
from companion.models import GPT, POS_ENCODINGS, GPTConfig
from companion.objectives import IGNORE_INDEX
from companion.train import History, TrainConfig, lm_loss, train

__all__ = [
    "LengthBatches",
    "LengthRun",
    "answer_correct",
    "exact_match_by_length",
    "train_length_model",
]


class LengthBatches:
    """Training batches of mixed input lengths: ``batches(generator) -> (x, y)``.

    Each row draws its input length ``n`` uniformly from ``[min_len, max_len]``; rows are padded on
    the right to the longest with ``.``. Under a causal mask a token never attends to what follows
    it, so right padding changes nothing the model computes on the real tokens. ``x`` and ``y`` are ``(batch_size, seq - 1)`` int64: ``x`` the tokens
    without the last, ``y`` the tokens shifted left by one, with
    :data:`~companion.objectives.IGNORE_INDEX` on the prompt and the padding, so
    :func:`companion.train.lm_loss` averages over the answer tokens and ``$`` only.
    """

    def __init__(
        self,
        task: LengthTask,
        min_len: int,
        max_len: int,
        batch_size: int,
        device: torch.device | str | None = None,
    ) -> None:
        check.positive_int("min_len", min_len)
        check.positive_int("max_len", max_len)
        if min_len > max_len:
            check.fail("min_len", min_len, f"<= max_len={max_len}", "swap the two lengths")
        self.task, self.min_len, self.max_len = task, min_len, max_len
        self.batch_size, self.device = check.positive_int("batch_size", batch_size), device

    def __call__(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One batch ``(x, y)``, each ``(batch_size, seq - 1)`` int64 on ``device``."""
        lengths = torch.randint(
            self.min_len, self.max_len + 1, (self.batch_size,), generator=generator
        )
        width = self.task.seq_len(int(lengths.max()))
        tokens = torch.full((self.batch_size, width), PAD)  # (B, width)
        labels = torch.full((self.batch_size, width), IGNORE_INDEX)  # (B, width)
        for row, n in enumerate(lengths.tolist()):
            seq = self.task.encode(n, 1, generator)[0]  # (seq_len(n),)
            tokens[row, : len(seq)] = seq
            start = self.task.prompt_len(n)  # the first answer token
            labels[row, start : len(seq)] = seq[start:]
        x, y = tokens[:, :-1], labels[:, 1:]  # (B, width - 1) each
        return x.to(self.device), y.to(self.device)


@dataclass
class LengthRun:
    """A model trained by :func:`train_length_model` (in eval mode) and how it was trained."""

    model: GPT
    task: LengthTask
    train_max: int
    history: History
    seconds: float


def train_length_model(
    task: LengthTask,
    pos_encoding: str,
    *,
    train_max: int = 20,
    test_max: int = 40,
    d_model: int = 64,
    n_layers: int = 2,
    n_heads: int = 4,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> LengthRun:
    """Train a GPT with ``pos_encoding`` on inputs of length ``1 .. train_max``.

    The context holds a sequence of input length ``test_max``, so that a learned position table
    has rows for every test position: the rows past the training lengths are never trained.
    The recipe is fixed: AdamW (betas 0.9, 0.99, weight decay 0.1), warm-up over a tenth of the
    steps then cosine decay to ``lr / 10``, gradient clipping at 1, fresh random problems every
    step, the loss on the answer and ``$`` only; GELU, ``d_ff = 2 d_model``, no dropout. Token
    embeddings are scaled by ``sqrt(d_model)`` (``scale_embeddings``): at companion's N(0, 0.02²)
    initialisation the sinusoids (RMS 0.71) would otherwise drown the tokens (RMS 0.02), and the
    sinusoidal model would not learn at all in this budget (chapter 30 measures the two scales).
    """
    check.one_of("pos_encoding", pos_encoding, POS_ENCODINGS)
    check.positive_int("train_max", train_max)
    if test_max < train_max:
        check.fail("test_max", test_max, f">= train_max={train_max}")
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=VOCAB_SIZE,
        d_model=d_model,
        n_heads=n_heads,
        n_layers=n_layers,
        d_ff=2 * d_model,
        max_len=task.seq_len(test_max),
        pos_encoding=pos_encoding,
        scale_embeddings=True,
    )
    model = GPT(config)
    # N(0, 1/d_model), times sqrt(d_model) in the forward pass: tokens of RMS 1 (tensor2tensor's recipe)
    nn.init.normal_(model.body.embed.token.weight, std=d_model**-0.5)
    model.to(device)
    train_config = TrainConfig(
        max_steps=steps,
        lr=lr,
        warmup_steps=max(1, steps // 10),
        betas=(0.9, 0.99),
        seed=seed,
        progress=progress,
    )
    batches = LengthBatches(task, 1, train_max, batch_size, device)
    history = train(model, lm_loss, batches, train_config)
    return LengthRun(model.eval(), task, train_max, history, history.elapsed_s)


@torch.no_grad()
def answer_correct(model: GPT, task: LengthTask, tokens: Tensor, n: int) -> Tensor:
    """Which answer tokens (and ``$``) ``model`` predicts right: bool ``(rows, answer_len(n) + 1)``.

    ``tokens (rows, seq_len(n))`` are problems of input length ``n`` (from ``task.encode``). Column
    ``k`` says whether the argmax after the right prompt and the right first ``k`` answer tokens is
    the right token; a row is all True exactly when greedy decoding writes the whole answer.
    """
    device = next(model.parameters()).device
    tokens = tokens.to(device)
    start = task.prompt_len(n)  # index of the first answer token
    logits = model(tokens[:, :-1])  # (rows, seq - 1, vocab)
    predicted = logits[:, start - 1 :].argmax(-1)  # (rows, answer_len + 1): answer and $
    return (predicted == tokens[:, start:]).cpu()


def exact_match_by_length(
    run: LengthRun, lengths: range | list[int], per_length: int = 200, seed: int = 1
) -> dict[int, float]:
    """Share of ``per_length`` fresh problems answered exactly right, at each input length.

    The problems come from a generator seeded with ``seed`` (training draws from ``run``'s own
    seed), so two runs are scored on the same problems.
    """
    check.positive_int("per_length", per_length)
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for n in lengths:
        tokens = run.task.encode(n, per_length, generator)  # (per_length, seq_len(n))
        out[n] = float(answer_correct(run.model, run.task, tokens, n).all(1).float().mean())
    return out
