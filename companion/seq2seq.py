"""Train an encoder-decoder on pairs of texts and read what it writes (chapter 60; the loss is chapter 32's).

``train_seq2seq`` builds an :class:`~companion.models.EncoderDecoder`, trains it with teacher
forcing on random batches of the pairs (:class:`~companion.data.pairs.PairBatches`) through
:func:`companion.train.train`, and returns it in eval mode with its tokenizers. ``translate``
decodes sources greedily, in chunks, back to text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from companion import validators as check
from companion.data.pairs import BOS, EOS, PAD, PairBatches, Seq2SeqBatch, Tokenizer, pad_rows
from companion.generate import greedy_decode
from companion.masks import padding_mask
from companion.models import EncoderDecoder, EncoderDecoderConfig
from companion.train import History, TrainConfig, train

__all__ = ["Seq2SeqRun", "seq2seq_loss", "train_seq2seq", "translate"]


def seq2seq_loss(model: EncoderDecoder, batch: Seq2SeqBatch, pad_id: int) -> Tensor:
    """Teacher-forced cross-entropy, averaged over the target positions that are not padding.

    ``batch.src`` is ``(batch, src_len)``, ``batch.tgt_in`` and ``batch.tgt_out`` are
    ``(batch, tgt_len)``; the result is a scalar.

    L = -(1 / |V|) sum_{t in V} log p(y_t | y_<t, x), V = the positions whose label is not ``pad_id``.
    """
    logits = model(batch.src, batch.tgt_in, batch.src_mask)  # (batch, tgt_len, tgt_vocab)
    return F.cross_entropy(
        rearrange(logits, "b t v -> (b t) v"),
        rearrange(batch.tgt_out, "b t -> (b t)"),
        ignore_index=pad_id,
    )


@dataclass
class Seq2SeqRun:
    """A trained encoder-decoder (in eval mode), its tokenizers and its training history."""

    model: EncoderDecoder
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    history: History


def train_seq2seq(
    pairs: Sequence[tuple[str, str]],
    config: EncoderDecoderConfig,
    src_tok: Tokenizer,
    tgt_tok: Tokenizer,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> Seq2SeqRun:
    """Train a new ``EncoderDecoder(config)`` on ``(source, target)`` text pairs.

    AdamW with weight decay 0.01, a warm-up over the first tenth of the ``steps``, then cosine
    decay (:class:`~companion.train.TrainConfig`); ``seed`` sets the initial weights and the order
    of the batches. The tokenizers need the specials PAD, BOS and EOS, and ``config`` their
    vocabulary sizes.

    Raises:
        ValueError: if a vocabulary size of ``config`` differs from its tokenizer's.
    """
    check.positive_int("steps", steps)
    for name, size, tok in (
        ("vocab_size", config.vocab_size, src_tok),
        ("tgt_vocab_size", config.tgt_vocab_size, tgt_tok),
    ):
        if size != tok.vocab_size:
            raise ValueError(
                f"config.{name}={size}, but its tokenizer has {tok.vocab_size} ids; build the "
                f"config with {name}=tokenizer.vocab_size"
            )
    torch.manual_seed(seed)
    model = EncoderDecoder(config).to(device)
    pad_id = tgt_tok.token_to_id(PAD)
    train_config = TrainConfig(
        max_steps=steps, lr=lr, warmup_steps=max(1, steps // 10), weight_decay=0.01, seed=seed,
        progress=progress,
    )  # fmt: skip
    history = train(
        model,
        lambda m, b: seq2seq_loss(m, b, pad_id),
        PairBatches(pairs, batch_size, src_tok, tgt_tok, device=device),
        train_config,
    )
    return Seq2SeqRun(model.eval(), src_tok, tgt_tok, history)


def translate(
    run: Seq2SeqRun, sources: Sequence[str], max_len: int, chunk: int = 1000
) -> list[str]:
    """Greedy translations of ``sources``, as text without BOS and EOS, decoded ``chunk`` at a time.

    ``max_len`` is the most tokens generated per source (EOS included): a translation that has
    not ended by then is returned as far as it got.
    """
    check.positive_int("chunk", chunk)
    device = next(run.model.parameters()).device
    src_pad = run.src_tok.token_to_id(PAD)
    bos, eos = run.tgt_tok.token_to_id(BOS), run.tgt_tok.token_to_id(EOS)
    out: list[str] = []
    for i in range(0, len(sources), chunk):
        rows = [run.src_tok.encode(s) for s in sources[i : i + chunk]]
        src = pad_rows(rows, src_pad).to(device)  # (chunk, longest)
        mask = padding_mask([len(r) for r in rows], src.shape[1]).to(device)  # (chunk, 1, longest)
        for ids in greedy_decode(run.model, src, bos, eos, max_len, mask):
            out.append(run.tgt_tok.decode([t for t in ids if t != eos]))
    return out
