"""Sequence-to-sequence pairs of text as padded teacher-forcing batches, for any two tokenizers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from companion import validators as check
from companion.masks import padding_mask

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "PairBatches",
    "Seq2SeqBatch",
    "encode_text_pairs",
    "pad_rows",
]

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)


class Tokenizer(Protocol):
    """What the pairs need of a tokenizer (:mod:`companion.tokenizers` has it)."""

    vocab_size: int

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def token_to_id(self, token: str) -> int: ...


class Seq2SeqBatch(NamedTuple):
    """A padded batch for teacher forcing; every tensor is on the same device.

    Attributes:
        src: ``(batch, src_len)`` int64 source ids, right-padded with PAD.
        src_mask: ``(batch, 1, src_len)`` bool, True = a real source token (may attend).
        tgt_in: ``(batch, tgt_len)`` int64 decoder inputs ``BOS y_1 .. y_m``, padded with PAD.
        tgt_out: ``(batch, tgt_len)`` int64 targets ``y_1 .. y_m EOS``, padded with PAD: the
            inputs shifted left by one, so ``tgt_out[:, t]`` is what the decoder must predict
            after reading ``tgt_in[:, : t + 1]``.
    """

    src: Tensor
    src_mask: Tensor
    tgt_in: Tensor
    tgt_out: Tensor


def pad_rows(rows: list[list[int]], pad_id: int) -> Tensor:
    """``(len(rows), longest)`` int64, each row right-padded with ``pad_id``."""
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long)


def encode_text_pairs(
    pairs: Sequence[tuple[str, str]],
    src_tok: Tokenizer,
    tgt_tok: Tokenizer,
    device: torch.device | str | None = None,
) -> Seq2SeqBatch:
    """Encode ``(source, target)`` texts as one padded batch; the tokenizers have PAD, BOS and EOS.

    Raises:
        ValueError: if ``pairs`` is empty (and whatever a tokenizer raises for text it cannot encode).
    """
    if len(pairs) == 0:
        raise ValueError("pairs is empty: pass at least one (source, target) pair to encode")
    src_pad = src_tok.token_to_id(PAD)
    bos, eos, tgt_pad = (tgt_tok.token_to_id(t) for t in (BOS, EOS, PAD))
    sources = [src_tok.encode(s) for s, _ in pairs]
    targets = [tgt_tok.encode(t) for _, t in pairs]
    src = pad_rows(sources, src_pad)  # (batch, src_len)
    tgt = pad_rows([[bos, *t, eos] for t in targets], tgt_pad)  # (batch, tgt_len + 1)
    src_mask = padding_mask([len(s) for s in sources], src.shape[1])  # (batch, 1, src_len)
    batch = Seq2SeqBatch(src, src_mask, tgt[:, :-1], tgt[:, 1:])
    return Seq2SeqBatch(*(t.to(device) for t in batch)) if device is not None else batch


class PairBatches:
    """Random training batches of text pairs, each pair equally likely: ``batches(generator)``.

    Args:
        pairs: ``(source, target)`` texts to draw from.
        batch_size: pairs per batch.
        src_tok, tgt_tok: tokenizers with the specials PAD, BOS and EOS.
        device: where the tensors go (the model's device); ``None`` keeps the CPU.

    The draws come from the generator the caller passes (the training loop's), so the same
    generator state always gives the same batch.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        batch_size: int,
        src_tok: Tokenizer,
        tgt_tok: Tokenizer,
        device: torch.device | str | None = None,
    ) -> None:
        check.positive_int("batch_size", batch_size)
        if len(pairs) == 0:
            raise ValueError("pairs is empty: pass the training pairs")
        self.pairs, self.batch_size = list(pairs), batch_size
        self.src_tok, self.tgt_tok, self.device = src_tok, tgt_tok, device

    def __call__(self, generator: torch.Generator) -> Seq2SeqBatch:
        """One batch of ``batch_size`` pairs drawn with replacement; advances ``generator``."""
        index = torch.randint(len(self.pairs), (self.batch_size,), generator=generator)
        chosen = [self.pairs[i] for i in index.tolist()]
        return encode_text_pairs(chosen, self.src_tok, self.tgt_tok, self.device)

    def __repr__(self) -> str:
        return f"PairBatches({len(self.pairs)} pairs, batch_size={self.batch_size})"
