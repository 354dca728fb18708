"""Induction heads (chapter 52): repeated random tokens, attention-only Transformers, and the
scores that find the circuit (Elhage et al. 2021; Olsson et al. 2022).

- :class:`RepeatedTokens`: batches of random tokens that repeat with a period ``k`` per sequence;
- :class:`AttentionOnlyTransformer`: token + position embeddings, attention layers added to the
  residual stream (no MLP), an unembedding; it returns every layer's attention pattern on demand;
- :func:`repeated_loss`, :func:`per_token_loss`: the loss where copying can predict, per position;
- :func:`previous_token_score`, :func:`prefix_matching_score`: what a head's pattern attends to;
- :func:`ablate_heads`: zero chosen heads' outputs inside a ``with`` block;
- :func:`in_context_learning_score`: loss at a late token minus loss at an early token;
- :func:`train_and_watch`: :func:`companion.train.train`, stopped every few steps to measure.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from companion import validators as check
from companion.attention import MultiHeadAttention
from companion.masks import causal_mask
from companion.train import CHECKPOINT_NAME, History, TrainConfig, train

__all__ = [
    "AttentionOnlyConfig",
    "AttentionOnlyTransformer",
    "RepeatedTokens",
    "ablate_heads",
    "in_context_learning_score",
    "per_token_loss",
    "predictable",
    "prefix_matching_score",
    "previous_token_score",
    "repeated_loss",
    "repeated_tokens",
    "train_and_watch",
]


# --- data ----------------------------------------------------------------------------------------


def repeated_tokens(
    batch_size: int,
    seq_len: int,
    vocab_size: int,
    periods: tuple[int, int],
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Random tokens that repeat: ``x[b, t] = x[b, t mod k_b]`` with ``k_b ~ Uniform{lo, ..., hi - 1}``.

    The first ``k_b`` tokens of sequence ``b`` are drawn uniformly from ``{0, ..., vocab_size - 1}``
    (independently, so a token may occur twice among them); the rest copies them over and over.
    ``periods=(k, k + 1)`` gives every sequence the same period ``k``.

    Returns:
        ``tokens (batch_size, seq_len)`` int64 and ``periods (batch_size,)`` int64.
    """
    check.positive_int("batch_size", batch_size)
    check.positive_int("seq_len", seq_len)
    check.positive_int("vocab_size", vocab_size)
    lo, hi = _check_periods(periods, seq_len)
    k = torch.randint(lo, hi, (batch_size,), generator=generator)  # (batch,)
    prefix = torch.randint(
        0, vocab_size, (batch_size, hi - 1), generator=generator
    )  # (batch, hi-1)
    t = torch.arange(seq_len)
    source = t[None, :] % k[:, None]  # (batch, seq_len): the position each token copies
    return prefix.gather(1, source), k


def _check_periods(periods: Any, seq_len: int) -> tuple[int, int]:
    lo, hi = check.sequence_of_numbers(
        "periods", periods, 2, 1, seq_len, high_open=False, hint="e.g. (8, 40)"
    )
    if not (float(lo).is_integer() and float(hi).is_integer() and lo < hi):
        check.fail("periods", periods, "two ints lo < hi", "k is drawn from lo, ..., hi - 1")
    if 2 * (hi - 1) >= seq_len:
        check.fail(
            "periods",
            periods,
            f"such that every sequence repeats at least once: 2 * (hi - 1) < seq_len={seq_len}",
            f"use hi <= {(seq_len - 1) // 2 + 1} or a longer seq_len",
        )
    return int(lo), int(hi)


@dataclass
class RepeatedTokens:
    """``batches(generator) -> (tokens, periods)`` from :func:`repeated_tokens`, for
    :func:`companion.train.train`; ``device`` is where the tensors are placed."""

    batch_size: int
    seq_len: int
    vocab_size: int
    periods: tuple[int, int] = (8, 40)
    device: torch.device | str | None = None

    def __post_init__(self) -> None:
        check.positive_int("batch_size", self.batch_size)
        check.positive_int("seq_len", self.seq_len)
        check.positive_int("vocab_size", self.vocab_size)
        _check_periods(self.periods, self.seq_len)

    def __call__(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One batch on ``device``: tokens, int64 ``(batch, seq_len)``, and each row's period,
        int64 ``(batch,)``."""
        tokens, k = repeated_tokens(
            self.batch_size, self.seq_len, self.vocab_size, self.periods, generator
        )
        return tokens.to(self.device), k.to(self.device)


def predictable(periods: Tensor, seq_len: int) -> Tensor:
    """Which next-token targets copying can predict: target ``j`` (the token at position ``j``,
    predicted at position ``j - 1``) iff ``j > k``, i.e. the token *and* the one before it
    already occurred one period earlier (``x[k]`` repeats ``x[0]`` but nothing announces it).

    Args:
        periods: ``(batch,)`` the period ``k`` of each sequence.

    Returns:
        Bool ``(batch, seq_len - 1)``; column ``t`` is the target of position ``t``, i.e. ``j = t + 1``.
    """
    j = torch.arange(1, seq_len, device=periods.device)  # (seq_len - 1,)
    return j[None, :] > periods[:, None]  # (batch, seq_len - 1)


# --- the model -----------------------------------------------------------------------------------


@dataclass
class AttentionOnlyConfig:
    """An attention-only Transformer: ``n_layers`` layers of ``n_heads`` heads, no MLP, no LayerNorm."""

    vocab_size: int = 50
    max_len: int = 80
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "d_model", "n_layers", "n_heads"):
            check.positive_int(name, getattr(self, name))
        check.divisible("d_model", self.d_model, "n_heads", self.n_heads)


class AttentionOnlyTransformer(nn.Module):
    """The residual stream of Elhage et al. (2021) with attention layers only:

    .. math:: x_0 = W_E[\\text{tokens}] + W_P, \\quad x_{l+1} = x_l + \\mathrm{MultiHead}_l(x_l),
              \\quad \\text{logits} = x_L W_U

    Every layer is a causal :class:`~companion.attention.MultiHeadAttention` without biases;
    there is no MLP and no LayerNorm, so the logits are a sum of paths through the heads.
    """

    def __init__(self, config: AttentionOnlyConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)  # W_E
        self.pos = nn.Embedding(config.max_len, config.d_model)  # W_P
        self.layers = nn.ModuleList(
            MultiHeadAttention(config.d_model, config.n_heads, bias=False)
            for _ in range(config.n_layers)
        )
        self.unembed = nn.Linear(config.d_model, config.vocab_size, bias=False)  # W_U

    def forward(
        self, tokens: Tensor, return_patterns: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits ``(batch, seq, vocab)`` for ``tokens (batch, seq)``; with ``return_patterns``
        also a list of ``n_layers`` attention patterns, each ``(batch, n_heads, seq, seq)``."""
        if not isinstance(tokens, Tensor) or tokens.dtype != torch.long:
            check.fail(
                "tokens",
                getattr(tokens, "dtype", type(tokens).__name__),
                "a torch.long tensor of token ids",
                "convert with tokens.long()",
                TypeError,
            )
        if tokens.ndim != 2 or tokens.shape[1] > self.config.max_len:
            raise ValueError(
                f"tokens must have shape (batch, seq) with seq <= max_len={self.config.max_len}, "
                f"got {tuple(tokens.shape)}"
            )
        seq = tokens.shape[1]
        x = self.embed(tokens) + self.pos.weight[:seq]  # (batch, seq, d_model)
        mask = causal_mask(seq, device=tokens.device)  # (seq, seq), True = may attend
        patterns = []
        for attn in self.layers:
            out, pattern = attn(x, mask=mask, is_causal=True, need_weights=return_patterns)
            x = x + out
            patterns.append(pattern)
        logits = self.unembed(x)  # (batch, seq, vocab)
        return (logits, patterns) if return_patterns else logits


# --- losses --------------------------------------------------------------------------------------


def per_token_loss(model: nn.Module, tokens: Tensor) -> Tensor:
    """Cross-entropy of each next-token prediction: ``(batch, seq - 1)``, column ``t`` is
    ``-log p(tokens[:, t + 1] | tokens[:, :t + 1])``."""
    logits = model(tokens[:, :-1])  # (batch, seq - 1, vocab)
    flat = F.cross_entropy(
        rearrange(logits, "b t v -> (b t) v"),
        rearrange(tokens[:, 1:], "b t -> (b t)"),
        reduction="none",
    )
    return rearrange(flat, "(b t) -> b t", b=tokens.shape[0])  # (batch, seq - 1)


def repeated_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Mean next-token loss over the targets copying can predict (:func:`predictable`), for
    ``batch = (tokens (batch, seq), periods (batch,))``; a loss_fn for :func:`companion.train.train`."""
    tokens, periods = batch
    loss = per_token_loss(model, tokens)  # (batch, seq - 1)
    return loss[predictable(periods, tokens.shape[1])].mean()


def in_context_learning_score(loss: Tensor, early: int, late: int) -> float:
    """Olsson et al. (2022): the loss at a late token minus the loss at an early token,
    averaged over sequences; negative when the model uses the context it has read.

    Args:
        loss: ``(batch, seq - 1)`` per-token losses (:func:`per_token_loss`).
        early, late: target positions (columns of ``loss``), ``early < late``.
    """
    if not isinstance(loss, Tensor) or loss.ndim != 2:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        check.fail(
            "loss", shape, "a tensor (batch, seq - 1)", "add a batch dimension with loss[None]"
        )
    check.nonnegative_int("early", early)
    check.nonnegative_int("late", late)
    if not early < late < loss.shape[-1]:
        check.fail("late", late, f"in ({early}, {loss.shape[-1]})", "a column of loss after early")
    return (loss[..., late] - loss[..., early]).mean().item()


# --- what a head attends to ----------------------------------------------------------------------


def _check_pattern(pattern: Tensor) -> None:
    if (
        not isinstance(pattern, Tensor)
        or pattern.ndim != 4
        or pattern.shape[-1] != pattern.shape[-2]
    ):
        shape = tuple(pattern.shape) if isinstance(pattern, Tensor) else type(pattern).__name__
        check.fail(
            "pattern",
            shape,
            "a tensor (batch, n_heads, seq, seq)",
            "pass one layer's weights, e.g. patterns[0]; add a batch dimension with pattern[None]",
        )


def previous_token_score(pattern: Tensor) -> Tensor:
    """Each head's mean attention from a token to the one just before it:

    .. math:: \\frac{1}{B(T-1)} \\sum_{b} \\sum_{t=1}^{T-1} A_{b,h}[t, t-1]

    Args:
        pattern: ``(batch, n_heads, seq, seq)`` attention weights.

    Returns:
        ``(n_heads,)``: 1 for a head that always looks one token back.
    """
    _check_pattern(pattern)
    if pattern.shape[-1] < 2:
        check.fail(
            "pattern", tuple(pattern.shape), "at least 2 positions", "seq = 1 has no previous token"
        )
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))  # (n_heads,)


def prefix_matching_score(pattern: Tensor, tokens: Tensor) -> Tensor:
    """Each head's mean attention to the tokens that *followed* earlier occurrences of the
    current token (Olsson et al. 2022), the attention an induction head pays:

    .. math:: S_t = \\{\\, j + 1 : j < t,\\ x_j = x_t \\,\\}, \\qquad
              \\text{score}_h = \\operatorname{mean}_{(b, t):\\, S_t \\neq \\emptyset}\\ \\sum_{s \\in S_t} A_{b,h}[t, s]

    Queries whose token has not occurred before (every first occurrence) are left out: there
    is nothing to match there.

    Args:
        pattern: ``(batch, n_heads, seq, seq)`` attention weights.
        tokens: ``(batch, seq)`` the token ids the pattern was computed on.

    Returns:
        ``(n_heads,)``: 1 for a perfect induction head; uniform attention scores the mean of
        ``|S_t| / (t + 1)``, about ``1 / k`` on tokens repeating with period ``k``.
    """
    _check_pattern(pattern)
    if tokens.shape != pattern.shape[:1] + pattern.shape[2:3]:
        check.fail(
            "tokens",
            tuple(tokens.shape),
            f"(batch, seq) = {(pattern.shape[0], pattern.shape[-1])}, matching pattern",
        )
    seq = tokens.shape[1]
    same = tokens[:, :, None] == tokens[:, None, :]  # (batch, t, j): x_t == x_j
    earlier = same & torch.ones(seq, seq, dtype=torch.bool, device=tokens.device).tril(-1)  # j < t
    # key s = j + 1 is a target of query t when j = s - 1 is an earlier occurrence of x_t
    targets = F.pad(earlier, (1, 0))[
        ..., :seq
    ]  # (batch, t, s): targets[b, t, s] = earlier[b, t, s-1]
    attention = (pattern * targets[:, None]).sum(-1)  # (batch, n_heads, t)
    has = targets.any(-1)  # (batch, t): queries with an earlier occurrence
    if not has.any():
        check.fail(
            "tokens",
            "no repeated token",
            "a batch in which some token occurs twice",
            "the score averages over queries whose token occurred before",
        )
    return (attention * has[:, None]).sum(dim=(0, 2)) / has.sum()  # (n_heads,)


# --- interventions -------------------------------------------------------------------------------


@contextlib.contextmanager
def ablate_heads(
    model: AttentionOnlyTransformer, heads: Iterable[tuple[int, int]], mode: str = "zero"
) -> Iterator[None]:
    """Inside the ``with`` block, the outputs of ``heads`` (``(layer, head)`` pairs, 0-based)
    are replaced in the input of each layer's ``out_proj`` (W^O), ``(batch, seq, n_heads * d_k)``:

    - ``mode="zero"``: the head's ``d_k`` columns are set to 0, it adds nothing to the residual stream;
    - ``mode="mean"``: they are set to their mean over the batch at each position, the head adds
      what it adds on average, whatever the sequence (a milder change of the residual stream).
    """
    if mode not in ("zero", "mean"):
        check.fail("mode", mode, '"zero" or "mean"')
    if isinstance(heads, tuple) and len(heads) == 2 and all(isinstance(x, int) for x in heads):
        check.fail("heads", heads, "a list of (layer, head) pairs", f"pass [{heads}]", TypeError)
    heads = list(heads)
    n_layers, n_heads = len(model.layers), model.config.n_heads
    for pair in heads:
        if not (
            isinstance(pair, tuple | list)
            and len(pair) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
        ):
            check.fail(
                "heads", heads, "a list of (layer, head) pairs of ints", "e.g. [(0, 1)]", TypeError
            )
        layer, head = pair
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            check.fail("heads", heads, f"(layer, head) pairs in [0, {n_layers}) x [0, {n_heads})")
    handles = []
    for layer in sorted({layer for layer, _ in heads}):
        drop = torch.zeros(n_heads, dtype=torch.bool, device=model.unembed.weight.device)
        drop[[h for lay, h in heads if lay == layer]] = True
        d_k = model.layers[layer].d_k

        def replace_heads(
            module: nn.Module, args: tuple[Tensor], drop: Tensor = drop, d_k: int = d_k
        ):
            z = rearrange(args[0], "b t (h d) -> b t h d", d=d_k)  # (batch, seq, n_heads, d_k)
            if mode == "mean":
                new = z.mean(dim=0, keepdim=True).expand_as(z)  # mean over the batch, per position
            else:
                new = torch.zeros_like(z)
            z = torch.where(drop[:, None], new, z)  # (n_heads, 1) broadcasts over d_k
            return (rearrange(z, "b t h d -> b t (h d)"),)

        handles.append(model.layers[layer].out_proj.register_forward_pre_hook(replace_heads))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# --- training with a look every few steps --------------------------------------------------------


def train_and_watch(
    model: nn.Module,
    batches: Callable[[torch.Generator], Any],
    config: TrainConfig,
    every: int,
    watch: Callable[[nn.Module], dict[str, float]],
) -> tuple[History, list[dict[str, float]]]:
    """:func:`companion.train.train` with ``repeated_loss``, paused every ``every`` steps to call
    ``watch(model)`` (in eval mode, without gradients); returns the history and the watched values,
    each with its ``"step"``.

    The run is resumed exactly from a checkpoint after each pause, so the trajectory is that of one
    uninterrupted run provided the schedule does not depend on ``max_steps``: ``config`` must have
    ``min_lr_ratio=1.0`` (warm-up, then a constant learning rate).
    """
    check.positive_int("every", every)
    if config.min_lr_ratio != 1.0:
        check.fail(
            "config.min_lr_ratio",
            config.min_lr_ratio,
            "1.0 (a constant rate after warm-up)",
            "a cosine schedule depends on max_steps, which the pauses change",
        )
    if config.checkpoint_dir is not None:
        check.fail(
            "config.checkpoint_dir",
            config.checkpoint_dir,
            "None",
            "train_and_watch keeps its own checkpoints in a temporary folder",
        )
    if config.warmup_steps >= every:
        check.fail("every", every, f"larger than warmup_steps={config.warmup_steps}")
    watched = []
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / CHECKPOINT_NAME
        for stop in range(every, config.max_steps + every, every):
            stop = min(stop, config.max_steps)
            segment = replace(config, max_steps=stop, checkpoint_dir=folder, checkpoint_every=None)
            resume = checkpoint if checkpoint.exists() else None
            history = train(model, repeated_loss, batches, segment, None, resume, True)
            model.eval()
            with torch.no_grad():
                watched.append({"step": stop, **watch(model)})
            model.train()
    return history, watched
