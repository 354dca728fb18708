"""Recurrent networks before the Transformer: a delayed-recall task, RNN/LSTM/GRU classifiers, and
a GRU encoder-decoder with or without additive (Bahdanau) attention.

Everything is batch-first. Masks are boolean and **True means "may attend"** (a real token), the
convention of ``torch.nn.functional.scaled_dot_product_attention``; this is the opposite of
``nn.MultiheadAttention``'s ``key_padding_mask``, where True means "ignore" (chapter 21 §1.3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from companion import validators as check

__all__ = ["AdditiveAttention", "GRUSeq2Seq", "RecurrentClassifier", "recall_batch"]

BLANK, CUE = 0, 1  # the two special tokens of recall_batch; symbols are 2 .. vocab - 1
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def recall_batch(
    batch: int, delay: int, vocab: int, generator: torch.Generator | None = None, blank: bool = True
) -> tuple[Tensor, Tensor]:
    """A delayed-recall batch: remember the first token across ``delay`` steps.

    Each sequence is ``[s, d_1, ..., d_delay, CUE]``: a symbol ``s``, then ``delay`` filler
    tokens, then the recall cue (token 1, ``CUE``). The target is ``s``, drawn uniformly from the
    symbols ``2 .. vocab - 1``, so chance accuracy is ``1 / (vocab - 2)``. With ``blank=True``
    (the default) every filler is token 0 (``BLANK``); with ``blank=False`` the fillers are
    distractor symbols drawn uniformly from ``2 .. vocab - 1`` like ``s``.

    Args:
        batch: number of sequences (>= 1).
        delay: number of filler tokens between the symbol and the cue (>= 0).
        vocab: vocabulary size including the two special tokens (>= 3).
        generator: the CPU random generator to draw from (None: the global one).
        blank: fill the delay with ``BLANK`` (True) or with random distractor symbols (False).

    Returns:
        ``x`` of shape ``(batch, delay + 2)`` and ``y`` of shape ``(batch,)``, both int64.
    """
    check.positive_int("batch", batch)
    check.nonnegative_int("delay", delay)
    if check.positive_int("vocab", vocab) < 3:
        check.fail("vocab", vocab, "an int >= 3", "two special tokens plus at least one symbol")
    x = torch.randint(2, vocab, (batch, delay + 2), generator=generator)  # (batch, delay + 2)
    if blank:
        x[:, 1:-1] = BLANK
    x[:, -1] = CUE
    return x, x[:, 0].clone()


class RecurrentClassifier(nn.Module):
    """Embedding -> one-layer ``nn.RNN`` (tanh), ``nn.LSTM`` or ``nn.GRU`` -> linear head on the
    last hidden state: a sequence of token ids ``(batch, seq)`` to logits ``(batch, n_classes)``.

    The head reads the output at the last position, so the sequences must be **unpadded** (all
    of the same length; no padding mask is taken).

    Args:
        vocab_size: number of token ids (>= 1).
        d_hidden: hidden size of the recurrent layer, also the embedding size (>= 1).
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        n_classes: output size (default ``vocab_size``).
        forget_bias: LSTM only: added to PyTorch's default forget-gate bias at initialisation
            (to ``bias_ih_l0[d_hidden:2 * d_hidden]``; PyTorch's gate order is i, f, g, o), so
            ``forget_bias=1.0`` starts the gate mostly open, ``f_t`` near ``sigmoid(1) = 0.73``
            (Jozefowicz et al., 2015). Default 0.0: PyTorch's initialisation unchanged. A nonzero
            value with another cell is a ``ValueError``.
    """

    def __init__(
        self,
        vocab_size: int,
        d_hidden: int,
        cell: str = "rnn",
        n_classes: int | None = None,
        forget_bias: float = 0.0,
    ) -> None:
        super().__init__()
        check.positive_int("vocab_size", vocab_size)
        check.positive_int("d_hidden", d_hidden)
        check.one_of("cell", cell, tuple(CELLS))
        n_classes = vocab_size if n_classes is None else check.positive_int("n_classes", n_classes)
        check.number("forget_bias", forget_bias)
        if forget_bias != 0 and cell != "lstm":
            raise ValueError(
                f"forget_bias={forget_bias} applies to cell='lstm' only (got cell={cell!r})"
            )
        self.cell = cell
        self.embed = nn.Embedding(vocab_size, d_hidden)
        self.rnn = CELLS[cell](d_hidden, d_hidden, batch_first=True)
        self.head = nn.Linear(d_hidden, n_classes)
        if forget_bias != 0:
            with torch.no_grad():  # gate order i, f, g, o: the forget gate is the second block
                self.rnn.bias_ih_l0[d_hidden : 2 * d_hidden] += forget_bias

    def forward(self, x: Tensor) -> Tensor:
        """``x``: int64 ``(batch, seq)`` -> logits ``(batch, n_classes)``."""
        _check_ids("x", x, self.embed.num_embeddings)
        outputs, _ = self.rnn(self.embed(x))  # (batch, seq, d_hidden)
        return self.head(outputs[:, -1])  # (batch, n_classes)


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention: score ``e_ij = v^T tanh(W_q q_i + W_k k_j)``, weights
    ``a_ij = softmax_j(e_ij)`` over the keys that may be attended, context ``c_i = sum_j a_ij v_j``.

    Args:
        d_query: size of a query vector.
        d_key: size of a key vector (the values are the keys unless given).
        d_attn: size of the hidden layer inside the score (default ``d_key``).
    """

    def __init__(self, d_query: int, d_key: int, d_attn: int | None = None) -> None:
        super().__init__()
        check.positive_int("d_query", d_query)
        check.positive_int("d_key", d_key)
        d_attn = d_key if d_attn is None else check.positive_int("d_attn", d_attn)
        self.w_q = nn.Linear(d_query, d_attn, bias=False)  # W_q
        self.w_k = nn.Linear(d_key, d_attn, bias=False)  # W_k
        self.v = nn.Linear(d_attn, 1, bias=False)  # v^T

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend from ``query`` to ``keys``.

        Args:
            query: ``(batch, d_query)`` (one query per sequence) or ``(batch, q_len, d_query)``.
            keys: ``(batch, k_len, d_key)``.
            values: ``(batch, k_len, d_value)``; default ``keys``.
            mask: bool ``(batch, k_len)``, **True = may attend**; each row needs one True.

        Returns:
            ``(context, weights)``: context ``(batch, d_value)`` and weights ``(batch, k_len)``
            for a 2-D query; ``(batch, q_len, d_value)`` and ``(batch, q_len, k_len)`` for 3-D.
        """
        values = keys if values is None else values
        if keys.dim() != 3 or values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
            raise ValueError(
                f"keys {tuple(keys.shape)} and values {tuple(values.shape)} must be "
                "(batch, k_len, d) with the same batch and k_len"
            )
        d_query = self.w_q.in_features
        if query.dim() not in (2, 3) or query.shape[0] != keys.shape[0]:
            raise ValueError(
                f"query {tuple(query.shape)} must be (batch, d_query) or (batch, q_len, d_query) "
                f"with batch = keys' batch {keys.shape[0]}"
            )
        if query.shape[-1] != d_query:
            raise ValueError(
                f"query {tuple(query.shape)} has last dimension {query.shape[-1]}, but this "
                f"attention was built with d_query={d_query}"
            )
        if keys.shape[-1] != self.w_k.in_features:
            raise ValueError(
                f"keys {tuple(keys.shape)} have last dimension {keys.shape[-1]}, but this "
                f"attention was built with d_key={self.w_k.in_features}"
            )
        if mask is not None:
            if mask.dtype != torch.bool or tuple(mask.shape) != tuple(keys.shape[:2]):
                raise ValueError(
                    f"mask must be a bool tensor of shape (batch, k_len) = {tuple(keys.shape[:2])}"
                    f", True = may attend; got {mask.dtype} {tuple(mask.shape)}"
                )
            if not mask.any(dim=-1).all():
                raise ValueError("mask has a row with no True entry: nothing to attend to")
        return self.attend_projected(query, self.w_k(keys), values, mask)

    def attend_projected(
        self, query: Tensor, projected_keys: Tensor, values: Tensor, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward` with ``W_k keys`` ``(batch, k_len, d_attn)`` already computed (as
        ``self.w_k(keys)``), so that a decoder computes it once per sequence rather than once per
        step. Shapes and returns as in :meth:`forward`. The arguments are **not checked**: call
        :meth:`forward` unless the projection is reused across calls (as ``GRUSeq2Seq`` does)."""
        single = query.dim() == 2
        q = query[:, None] if single else query  # (batch, q_len, d_query)
        # e_ij = v^T tanh(W_q q_i + W_k k_j)
        hidden = torch.tanh(self.w_q(q)[:, :, None] + projected_keys[:, None])  # (b, q, k, d_attn)
        scores = self.v(hidden).squeeze(-1)  # (batch, q_len, k_len)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None], float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (batch, q_len, k_len), rows sum to 1
        context = weights @ values  # (batch, q_len, d_value)
        return (context[:, 0], weights[:, 0]) if single else (context, weights)


class GRUSeq2Seq(nn.Module):
    """A GRU encoder-decoder, with a single context vector or with additive attention.

    Encoder: embedding -> GRU over the source; its states ``h_1..h_S`` (batch, src_len, d_hidden).
    Decoder: a GRU started from the encoder's last real state ``h_S``; at every step its input is
    ``[embed(y_{t-1}); c_t]`` and its output logits are ``W_o [s_t; c_t]``. The only difference
    between the two variants is ``c_t``:

    - ``attention=False``: ``c_t = h_S`` at every step, one fixed vector (Cho et al., 2014);
    - ``attention=True``: ``c_t = sum_j a_tj h_j`` with ``a_t = softmax_j(v^T tanh(W_q s_{t-1} +
      W_k h_j))`` (Bahdanau et al., 2015), recomputed at every step. The query is ``s_{t-1}``, the
      decoder state **before** it reads ``y_{t-1}`` (Bahdanau's ``e_ij = a(s_{i-1}, h_j)``), not
      the state after reading it (Luong et al., 2015).

    The decoder starts from ``h_S`` and, like Cho et al.'s, gets the context at every step
    (Sutskever et al. only initialised the decoder from the encoder's final state). The encoder is a
    one-directional GRU (Bahdanau et al. used a bidirectional one).

    Both variants have the same parameters apart from the attention's ``W_q, W_k, v``.

    Args:
        vocab_size: number of token ids, shared by source and target (>= 1).
        d_hidden: GRU hidden size, also the embedding size (>= 1).
        attention: use additive attention (True) or the fixed context vector (False).
    """

    def __init__(self, vocab_size: int, d_hidden: int, attention: bool) -> None:
        super().__init__()
        check.positive_int("vocab_size", vocab_size)
        check.positive_int("d_hidden", d_hidden)
        self.attention = check.boolean("attention", attention)
        self.vocab_size, self.d_hidden = vocab_size, d_hidden
        self.src_embed = nn.Embedding(vocab_size, d_hidden)
        self.tgt_embed = nn.Embedding(vocab_size, d_hidden)
        self.encoder = nn.GRU(d_hidden, d_hidden, batch_first=True)
        self.decoder = nn.GRU(2 * d_hidden, d_hidden, batch_first=True)
        self.attn = AdditiveAttention(d_hidden, d_hidden) if attention else None
        self.out = nn.Linear(2 * d_hidden, vocab_size)

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``src`` int64 ``(batch, src_len)``, right-padded; ``src_mask`` bool ``(batch, src_len)``
        True at real tokens (None: all real). Returns the states ``(batch, src_len, d_hidden)``
        and the last real state of each sequence ``(batch, d_hidden)``."""
        _check_ids("src", src, self.vocab_size)
        if src_mask is not None:
            if src_mask.dtype != torch.bool or src_mask.shape != src.shape:
                raise ValueError(
                    f"src_mask must be a bool tensor shaped like src {tuple(src.shape)}, True at "
                    f"real tokens; got {src_mask.dtype} {tuple(src_mask.shape)}"
                )
            lengths = src_mask.sum(dim=1)  # (batch,)
            if (lengths == 0).any() or not torch.equal(
                src_mask, torch.arange(src.shape[1], device=src.device) < lengths[:, None]
            ):
                raise ValueError(
                    "src_mask must be True on a non-empty prefix of each row (right padding)"
                )
        states, _ = self.encoder(self.src_embed(src))  # (batch, src_len, d_hidden)
        if src_mask is None:
            return states, states[:, -1]
        last = states[
            torch.arange(src.shape[0], device=src.device), lengths - 1
        ]  # (batch, d_hidden)
        return states, last

    def forward(
        self, src: Tensor, tgt_in: Tensor, src_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced decoding.

        Args:
            src: int64 ``(batch, src_len)``, right-padded.
            tgt_in: int64 ``(batch, tgt_len)``: the target shifted right (starting with BOS).
            src_mask: bool ``(batch, src_len)``, True at real tokens (= may attend); None: all real.

        Returns:
            logits ``(batch, tgt_len, vocab_size)`` and the attention weights
            ``(batch, tgt_len, src_len)`` (None without attention).
        """
        _check_ids("tgt_in", tgt_in, self.vocab_size)
        if tgt_in.shape[1] == 0:
            raise ValueError(f"tgt_in {tuple(tgt_in.shape)} is empty: it needs at least BOS")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"tgt_in has batch {tgt_in.shape[0]} but src has batch {src.shape[0]}")
        states, last = self.encode(src, src_mask)
        emb = self.tgt_embed(tgt_in)  # (batch, tgt_len, d_hidden)
        if self.attn is None:  # the same c = h_S at every step: run the decoder in one call
            context = last[:, None].expand(-1, tgt_in.shape[1], -1)  # (batch, tgt_len, d_hidden)
            outputs, _ = self.decoder(torch.cat([emb, context], dim=-1), last[None].contiguous())
            return self.out(torch.cat([outputs, context], dim=-1)), None
        s = last[None].contiguous()  # (1, batch, d_hidden): s_0
        keys = self.attn.w_k(states)  # (batch, src_len, d_hidden): W_k h_j, once per sequence
        outs, contexts, weights = [], [], []
        for t in range(tgt_in.shape[1]):
            c, a = self.attn.attend_projected(
                s[0], keys, states, src_mask
            )  # (batch, d), (batch, src_len)
            o, s = self.decoder(torch.cat([emb[:, t], c], dim=-1)[:, None], s)  # o: (batch, 1, d)
            outs.append(o[:, 0])
            contexts.append(c)
            weights.append(a)
        outputs = torch.stack(outs, dim=1)  # (batch, tgt_len, d_hidden)
        context = torch.stack(contexts, dim=1)  # (batch, tgt_len, d_hidden)
        return self.out(torch.cat([outputs, context], dim=-1)), torch.stack(weights, dim=1)

    @torch.no_grad()
    def greedy_decode(
        self, src: Tensor, bos_id: int, eos_id: int, max_len: int, src_mask: Tensor | None = None
    ) -> Tensor:
        """Greedy decoding: feed back the most likely token until every row has produced
        ``eos_id`` or ``max_len`` tokens have been produced.

        Returns int64 ``(batch, n)`` with ``n <= max_len`` (BOS not included); a row that has
        produced EOS is filled with ``eos_id`` after it. The decoder is run step by step, and for
        the same inputs the step-by-step logits equal :meth:`forward`'s."""
        check.nonnegative_int("bos_id", bos_id)
        check.nonnegative_int("eos_id", eos_id)
        check.positive_int("max_len", max_len)
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if value >= self.vocab_size:
                check.fail(name, value, f"a token id below vocab_size={self.vocab_size}")
        states, last = self.encode(src, src_mask)
        s = last[None].contiguous()  # (1, batch, d_hidden)
        y = torch.full((src.shape[0],), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        keys = None if self.attn is None else self.attn.w_k(states)  # (batch, src_len, d_hidden)
        produced = []
        for _ in range(max_len):
            if self.attn is None:
                c = last
            else:
                c, _ = self.attn.attend_projected(s[0], keys, states, src_mask)  # (batch, d_hidden)
            o, s = self.decoder(torch.cat([self.tgt_embed(y), c], dim=-1)[:, None], s)
            y = self.out(torch.cat([o[:, 0], c], dim=-1)).argmax(dim=-1)  # (batch,)
            y = torch.where(done, torch.full_like(y, eos_id), y)
            produced.append(y)
            done |= y == eos_id
            if done.all():
                break
        return torch.stack(produced, dim=1)  # (batch, n)


def _check_ids(name: str, ids: Tensor, vocab_size: int) -> None:
    if not isinstance(ids, Tensor) or ids.dtype != torch.long or ids.dim() != 2:
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, Tensor) else type(ids).__name__
        raise TypeError(f"{name} must be an int64 tensor (batch, seq) of token ids; got {got}")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"{name} has token ids in [{int(ids.min())}, {int(ids.max())}]; expected 0 .. "
            f"{vocab_size - 1} (vocab_size={vocab_size})"
        )
