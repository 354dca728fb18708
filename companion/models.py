"""Transformer models built from :mod:`companion.layers`: encoder, decoder, both, GPT and BERT.

==================  ===========================================  ===============================
model               layers                                       objective
==================  ===========================================  ===============================
``EncoderDecoder``  encoder + decoder with cross-attention       sequence to sequence (2017)
``GPT``             decoder-only: self-attention, causal mask    next-token prediction
``BERT``            encoder-only: bidirectional self-attention   masked LM (+ next sentence)
==================  ===========================================  ===============================

Every model is built from a dataclass config whose defaults train in seconds on a CPU. Token ids
are ``(batch, seq)`` int64; masks are boolean with True = may attend, the key padding mask
``(batch, 1, seq)`` (:func:`~companion.masks.padding_mask`). A model shapes its masks once per
forward (:func:`~companion.masks.attention_mask`) and hands them to every layer. After the input
ids, arguments are keyword-only, in one order: ``mask``, ``token_type_ids``, ``cache``,
``need_weights``. A model returns its output, and with ``need_weights`` also the weights of every
layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from einops import rearrange
from torch import Tensor, nn

from companion import validators as check
from companion.attention import KVCache
from companion.layers import ACTIVATIONS, DecoderLayer, EncoderLayer
from companion.masks import attention_mask
from companion.positional import (
    ALiBi,
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    check_length,
)

__all__ = [
    "BERT",
    "BERTConfig",
    "BERTOutput",
    "Decoder",
    "Embeddings",
    "Encoder",
    "EncoderDecoder",
    "EncoderDecoderConfig",
    "GPT",
    "GPTConfig",
    "SequenceClassifier",
    "TransformerConfig",
    "TransformerModel",
    "check_ids",
    "mean_pool",
    "num_parameters",
]

POS_ENCODINGS = ("learned", "sinusoidal", "rotary", "alibi", "none")


@dataclass
class TransformerConfig:
    """Hyperparameters shared by every model.

    Attributes:
        vocab_size: number of token ids (for ``EncoderDecoder``: the source vocabulary).
        d_model: width of every residual stream vector.
        n_heads: attention heads; must divide ``d_model`` (``d_k = d_model / n_heads``).
        n_layers: number of layers (for ``EncoderDecoder``: encoder layers).
        d_ff: FFN hidden width; ``None`` means ``4 * d_model``.
        max_len: the context: the longest sequence the model accepts.
        dropout: dropout probability everywhere (0 for deterministic tests).
        activation: ``"relu"`` (2017) or ``"gelu"`` (BERT, GPT).
        norm_first: pre-LN if True, post-LN (2017) if False.
        final_norm: LayerNorm after the last layer; ``None`` means "if pre-LN".
        pos_encoding: ``"learned"``, ``"sinusoidal"``, ``"rotary"``, ``"alibi"`` (a distance
            bias on self-attention's scores, Press et al. 2022) or ``"none"`` (NoPE: a causal
            model can still infer positions, Kazemnejad et al. 2023).
        bias: biases in linear layers and LayerNorms.
        layer_norm_eps: epsilon of every LayerNorm.
        type_vocab_size: number of segment (token type) embeddings; 0 for none.
        embed_norm: LayerNorm on the summed embeddings (BERT).
        scale_embeddings: multiply token embeddings by sqrt(d_model) before adding positions
            (Vaswani et al. 2017, §3.4, which gives no reason). With this N(0, 0.02²) init the
            scaled token part still has RMS 0.02·sqrt(d_model) (0.45 at 512) against the
            sinusoids' 0.71: chapter 30 measures it.
        use_sdpa: attention's fast path, ``F.scaled_dot_product_attention`` (False: the explicit
            one). How attention is computed, not what: left out of the repr.
    """

    vocab_size: int = 256
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int | None = None
    max_len: int = 128
    dropout: float = 0.0
    activation: str = "gelu"
    norm_first: bool = True
    final_norm: bool | None = None
    pos_encoding: str = "learned"
    bias: bool = True
    layer_norm_eps: float = 1e-5
    type_vocab_size: int = 0
    embed_norm: bool = False
    scale_embeddings: bool = False
    use_sdpa: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "max_len"):
            check.positive_int(name, getattr(self, name))
        check.divisible("d_model", self.d_model, "n_heads", self.n_heads)
        self.d_ff = check.optional(check.positive_int, "d_ff", self.d_ff) or 4 * self.d_model
        check.number("dropout", self.dropout, 0, 1, high_open=True)
        check.one_of("activation", self.activation, tuple(ACTIVATIONS))
        check.one_of("pos_encoding", self.pos_encoding, POS_ENCODINGS)
        for name in ("norm_first", "bias", "embed_norm", "scale_embeddings", "use_sdpa"):
            check.boolean(name, getattr(self, name))
        check.optional(check.boolean, "final_norm", self.final_norm)
        if self.final_norm is None:
            self.final_norm = self.norm_first
        check.number(
            "layer_norm_eps", self.layer_norm_eps, 0, low_open=True, hint="e.g. 1e-5 (0 gives NaN)"
        )
        check.nonnegative_int(
            "type_vocab_size", self.type_vocab_size, "0 for no segment embeddings"
        )

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


@dataclass
class GPTConfig(TransformerConfig):
    """A decoder-only language model; ``tie_weights`` shares the embedding with the output layer."""

    vocab_size: int = 65
    max_len: int = 64
    tie_weights: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check.boolean("tie_weights", self.tie_weights)


@dataclass
class BERTConfig(TransformerConfig):
    """BERT's layout (Devlin et al. 2019): post-LN, GELU, learned positions, two segments."""

    vocab_size: int = 128
    norm_first: bool = False
    type_vocab_size: int = 2
    embed_norm: bool = True
    layer_norm_eps: float = 1e-12


@dataclass
class EncoderDecoderConfig(TransformerConfig):
    """The 2017 encoder-decoder: post-LN, ReLU, sinusoidal positions by default.

    ``vocab_size`` is the source vocabulary; ``tgt_vocab_size`` the target one (``None``: the same).
    ``n_decoder_layers`` defaults to ``n_layers``.
    """

    activation: str = "relu"
    norm_first: bool = False
    pos_encoding: str = "sinusoidal"
    scale_embeddings: bool = True
    tgt_vocab_size: int | None = None
    n_decoder_layers: int | None = None
    tie_weights: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check.boolean("tie_weights", self.tie_weights)
        self.tgt_vocab_size = (
            check.optional(check.positive_int, "tgt_vocab_size", self.tgt_vocab_size)
            or self.vocab_size
        )
        self.n_decoder_layers = (
            check.optional(check.positive_int, "n_decoder_layers", self.n_decoder_layers)
            or self.n_layers
        )


def num_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of distinct parameters (a tied weight counts once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class TransformerModel(nn.Module):
    """Base of companion's Transformer models: a config and a parameter count."""

    config: TransformerConfig

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of distinct parameters (a tied weight counts once)."""
        return num_parameters(self, trainable_only)


def init_weights(module: nn.Module) -> None:
    """BERT's initialisation (GPT-2's before its residual scaling, see :class:`GPT`): N(0, 0.02²)
    for linear and embedding weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def scale_residual_projections(encoder: nn.Module, n_layers: int) -> None:
    """GPT-2's residual scaling (Radford et al. 2019, §2.3): re-draw the weight of each projection
    that writes into the residual stream (attention's ``out_proj``, the FFN's ``linear2``) from
    N(0, (0.02 / √(2 n_layers))²).

    A pre-LN stack adds 2 n_layers such outputs to the stream; with independent terms its variance
    grows with their number, and the factor 1/√(2 n_layers) keeps the sum's initial size
    independent of depth (nanoGPT does the same).
    """
    std = 0.02 / math.sqrt(2 * n_layers)
    for name, p in encoder.named_parameters():
        if name.endswith(("self_attn.out_proj.weight", "ffn.linear2.weight")):
            nn.init.normal_(p, mean=0.0, std=std)


def check_ids(ids: Tensor, vocab_size: int, name: str = "ids") -> None:
    """Raise a clear error unless ``ids`` is an integer ``(batch, seq)`` tensor of valid token ids."""
    if not isinstance(ids, Tensor) or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        got = ids.dtype if isinstance(ids, Tensor) else type(ids).__name__
        raise TypeError(f"{name} must be an integer tensor of token ids, got {got}")
    if ids.ndim != 2:
        raise ValueError(
            f"{name} must have shape (batch, seq), got {tuple(ids.shape)}; "
            f"add a batch dimension with {name}[None]"
        )
    if ids.numel():
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"{name} contains token id {bad}, outside the vocabulary [0, {vocab_size}); "
                "encode with the tokenizer the model was built for, or raise vocab_size"
            )


class Embeddings(nn.Module):
    """Token embedding + position encoding (+ segment embedding), then LayerNorm and dropout.

    ``ids (batch, seq)`` -> ``(batch, seq, d_model)``. With rotary or ALiBi positions nothing is
    added here: RoPE rotates queries and keys inside attention, ALiBi biases its scores.
    """

    def __init__(self, config: TransformerConfig, vocab_size: int | None = None) -> None:
        super().__init__()
        self.vocab_size = vocab_size or config.vocab_size
        self.max_len = config.max_len
        self.token = nn.Embedding(self.vocab_size, config.d_model)
        self.scale = math.sqrt(config.d_model) if config.scale_embeddings else 1.0
        self.position = {
            "learned": lambda: LearnedPositionalEmbedding(config.d_model, config.max_len),
            "sinusoidal": lambda: SinusoidalPositionalEncoding(config.d_model, config.max_len),
            "rotary": lambda: None,
            "alibi": lambda: None,
            "none": lambda: None,
        }[config.pos_encoding]()
        has_segments = config.type_vocab_size > 0
        self.segment = (
            nn.Embedding(config.type_vocab_size, config.d_model) if has_segments else None
        )
        self.norm = (
            nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)
            if config.embed_norm
            else nn.Identity()
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, ids: Tensor, token_type_ids: Tensor | None = None, offset: int = 0) -> Tensor:
        """``ids (batch, seq)`` (and ``token_type_ids``, same shape) -> ``(batch, seq, d_model)``;
        ``offset`` is the position of ``ids[:, 0]`` (the tokens already in a KV cache)."""
        check_ids(ids, self.vocab_size)
        check_length(ids.shape[1], offset, self.max_len)
        x = self.token(ids) * self.scale  # (batch, seq, d_model)
        if self.position is not None:
            x = self.position(x, offset)
        if self.segment is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(ids)
            check_ids(token_type_ids, self.segment.num_embeddings, "token_type_ids")
            x = x + self.segment(token_type_ids)
        return self.dropout(self.norm(x))


def _layer_kwargs(config: TransformerConfig) -> dict:
    """What every layer of a stack is built with; one RoPE or ALiBi module shared by its layers."""
    rotary = (
        RotaryEmbedding(config.d_k, config.max_len) if config.pos_encoding == "rotary" else None
    )
    alibi = ALiBi(config.n_heads) if config.pos_encoding == "alibi" else None
    return dict(
        d_model=config.d_model,
        n_heads=config.n_heads,
        d_ff=config.d_ff,
        dropout=config.dropout,
        activation=config.activation,
        norm_first=config.norm_first,
        bias=config.bias,
        layer_norm_eps=config.layer_norm_eps,
        rotary=rotary,
        use_sdpa=config.use_sdpa,
        alibi=alibi,
    )


def _final_norm(config: TransformerConfig) -> nn.Module:
    if config.final_norm:
        return nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)
    return nn.Identity()


class Encoder(TransformerModel):
    """Embeddings and a stack of :class:`~companion.layers.EncoderLayer` (bidirectional)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = Embeddings(config)
        kwargs = _layer_kwargs(config)
        self.layers = nn.ModuleList(EncoderLayer(**kwargs) for _ in range(config.n_layers))
        self.norm = _final_norm(config)

    def forward(
        self,
        ids: Tensor,
        *,
        mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        cache: list[KVCache] | None = None,
        need_weights: bool = False,
        is_causal: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """``ids (batch, seq)`` -> hidden states ``(batch, seq, d_model)``.

        Args:
            mask: bool, True = may attend; usually ``padding_mask(lengths, seq)`` ``(batch, 1, seq)``
                (any shape :func:`~companion.masks.attention_mask` takes).
            token_type_ids: ``(batch, seq)`` segment ids, when the config has segments.
            cache: one :class:`~companion.attention.KVCache` per layer (incremental decoding in
                :class:`GPT`); ``ids`` then continue the cached positions.
            need_weights: also return the attention weights of every layer, a list of
                ``(batch, n_heads, seq, k_len)``.
            is_causal: add the causal mask to ``mask`` (what makes this stack a GPT body).
        """
        offset = len(cache[0]) if cache else 0
        x = self.embed(ids, token_type_ids, offset)  # (batch, seq, d_model)
        q_len = ids.shape[1]
        attn_mask = attention_mask(
            mask, causal=is_causal, q_len=q_len, k_len=offset + q_len, device=ids.device
        )  # (batch or 1, 1, q_len or 1, k_len), once for every layer
        only_causal = is_causal and mask is None  # the fast path may use the causal kernel
        weights = []
        for i, layer in enumerate(self.layers):
            x, w = layer(
                x,
                mask=attn_mask,
                is_causal=only_causal,
                cache=cache[i] if cache else None,
                need_weights=need_weights,
            )
            weights.append(w)
        x = self.norm(x)
        return (x, weights) if need_weights else x


class Decoder(TransformerModel):
    """Embeddings and a stack of :class:`~companion.layers.DecoderLayer` attending to a memory."""

    def __init__(
        self, config: TransformerConfig, vocab_size: int | None = None, n_layers: int | None = None
    ):
        super().__init__()
        self.config = config
        self.embed = Embeddings(config, vocab_size)
        kwargs = _layer_kwargs(config)
        self.layers = nn.ModuleList(
            DecoderLayer(**kwargs) for _ in range(n_layers or config.n_layers)
        )
        self.norm = _final_norm(config)

    def new_cache(self) -> list[tuple[KVCache, KVCache]]:
        """An empty cache per layer: (self-attention keys/values, the static encoder memory)."""
        return [(KVCache(), KVCache(static=True)) for _ in self.layers]

    def forward(
        self,
        ids: Tensor,
        memory: Tensor,
        *,
        mask: Tensor | None = None,
        src_mask: Tensor | None = None,
        cache: list[tuple[KVCache, KVCache]] | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """``ids (batch, tgt_len)`` and ``memory (batch, src_len, d_model)`` -> ``(batch, tgt_len, d_model)``.

        Args:
            mask: the target's mask, True = may attend, combined by ``&`` with the causal mask,
                which is always applied.
            src_mask: the source's padding mask ``(batch, 1, src_len)``, for the cross-attention.
            cache: from :meth:`new_cache`; ``ids`` are then the next tokens after the cached ones.
            need_weights: also return ``(self, cross)`` weights per layer.
        """
        offset = len(cache[0][0]) if cache else 0
        x = self.embed(ids, offset=offset)
        q_len = ids.shape[1]
        self_mask = attention_mask(
            mask, causal=True, q_len=q_len, k_len=offset + q_len, device=ids.device
        )  # (batch or 1, 1, q_len, k_len)
        src_mask = attention_mask(src_mask)  # (batch, 1, 1, src_len)
        weights = []
        for i, layer in enumerate(self.layers):
            x, w = layer(
                x,
                memory,
                mask=self_mask,
                src_mask=src_mask,
                is_causal=mask is None,
                cache=cache[i] if cache else None,
                need_weights=need_weights,
            )
            weights.append(w)
        x = self.norm(x)
        return (x, weights) if need_weights else x


class EncoderDecoder(TransformerModel):
    """The Transformer of Vaswani et al. (2017): encode the source, decode the target.

    ``forward(src (batch, src_len), tgt (batch, tgt_len))`` -> logits ``(batch, tgt_len, tgt_vocab)``.
    """

    def __init__(self, config: EncoderDecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config, config.tgt_vocab_size, config.n_decoder_layers)
        self.lm_head = nn.Linear(config.d_model, config.tgt_vocab_size, bias=False)
        self.apply(init_weights)
        if config.tie_weights:
            self.lm_head.weight = self.decoder.embed.token.weight

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """``src (batch, src_len)`` -> memory ``(batch, src_len, d_model)``; ``src_mask``: ``(batch, 1, src_len)``."""
        return self.encoder(src, mask=src_mask)

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        cache: list[tuple[KVCache, KVCache]] | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """Logits ``(batch, tgt_len, tgt_vocab)`` of the next target token at every position."""
        out = self.decoder(tgt, memory, src_mask=src_mask, cache=cache, need_weights=need_weights)
        if need_weights:
            return self.lm_head(out[0]), out[1]
        return self.lm_head(out)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """``src (batch, src_len)``, ``tgt (batch, tgt_len)`` -> logits ``(batch, tgt_len, tgt_vocab)``;
        ``src_mask (batch, 1, src_len)``, True = a real source token."""
        return self.decode(tgt, self.encode(src, src_mask), src_mask)


class GPT(TransformerModel):
    """A decoder-only language model (Radford et al. 2018, 2019): causal self-attention blocks.

    Its body is an :class:`Encoder` run under a causal mask: the only structural difference
    between a GPT body and a BERT body is the mask. On top sits the language-model head, whose
    weight is the token embedding's (``tie_weights``; Press & Wolf 2017).

    ``forward(ids (batch, seq))`` -> logits ``(batch, seq, vocab_size)``: at position ``t``, the
    scores of the token at ``t + 1`` given tokens ``0..t``.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.body = Encoder(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(init_weights)
        scale_residual_projections(self.body, config.n_layers)
        if config.tie_weights:
            self.lm_head.weight = self.body.embed.token.weight

    def new_cache(self) -> list[KVCache]:
        """An empty key/value cache per layer, for :func:`companion.generate.generate`."""
        return [KVCache() for _ in self.body.layers]

    def flops_per_token(self, context_len: int | None = None) -> int:
        """Training FLOPs per token (forward + backward) at context ``context_len`` (default max_len).

        The estimate of PaLM's Appendix B (Chowdhery et al. 2022), after Kaplan et al. (2020):

            C = 6 N + 12 L d T

        - ``6 N``: each weight in a matrix product costs 2 FLOPs (multiply, add) per token in the
          forward pass and 4 in the backward pass (gradients of the input and of the weight).
          ``N`` counts the weights of every layer and of the output layer (the token embedding,
          when tied), not the position embedding, which is added rather than multiplied;
        - ``12 L d T``: the two products of attention, ``QK^T`` and ``AV``, cost ``2 d T`` each per
          token and layer forward, ``T`` the number of keys; times 3 with the backward pass.

        LayerNorm, softmax and the nonlinearities are left out (a few percent at this size). The
        causal mask halves the useful attention work, but the count follows the formula.
        """
        c = self.config
        t = c.max_len if context_len is None else context_len
        position = self.body.embed.position
        n = self.num_parameters() - sum(
            p.numel() for p in (position.parameters() if position else [])
        )
        if not c.tie_weights:  # the token embedding is a lookup; only the lm_head multiplies
            n -= self.body.embed.token.weight.numel()
        return 6 * n + 12 * c.n_layers * c.d_model * t

    def forward(
        self,
        ids: Tensor,
        *,
        mask: Tensor | None = None,
        cache: list[KVCache] | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits for every position of ``ids (batch, seq)``.

        Args:
            mask: extra bool mask, True = may attend, combined with the causal mask by ``&``
                (e.g. a padding mask ``(batch, 1, k_len)``).
            cache: from :meth:`new_cache`; ``ids`` then continue the cached sequence.
            need_weights: also return each layer's weights ``(batch, n_heads, seq, k_len)``.
        """
        check_ids(ids, self.config.vocab_size)
        out = self.body(ids, mask=mask, cache=cache, need_weights=need_weights, is_causal=True)
        if need_weights:
            return self.lm_head(out[0]), out[1]  # (batch, seq, vocab_size), weights
        return self.lm_head(out)


@dataclass
class BERTOutput:
    """What :class:`BERT` returns.

    Attributes:
        mlm_logits: ``(batch, seq, vocab_size)`` scores for the token at each position.
        nsp_logits: ``(batch, 2)`` scores for "sentence B follows sentence A" (index 0) or not (1).
        hidden: ``(batch, seq, d_model)`` the encoder's last hidden states.
        weights: per layer ``(batch, n_heads, seq, seq)`` when asked for, else empty.
    """

    mlm_logits: Tensor
    nsp_logits: Tensor
    hidden: Tensor
    weights: list[Tensor] = field(default_factory=list)


class BERT(TransformerModel):
    """An encoder with BERT's two pre-training heads (Devlin et al. 2019).

    - masked-LM head: ``LayerNorm(GELU(h W + b)) E^T + b'``, tied to the token embedding ``E``;
    - next-sentence head: ``tanh(h_[CLS] W_p + b_p) W_s + b_s`` on the first position.
    """

    def __init__(self, config: BERTConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.encoder = Encoder(config)
        self.mlm_transform = nn.Sequential(
            nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d, eps=config.layer_norm_eps)
        )
        self.mlm_decoder = nn.Linear(d, config.vocab_size)
        self.pooler = nn.Sequential(nn.Linear(d, d), nn.Tanh())
        self.nsp_head = nn.Linear(d, 2)
        self.apply(init_weights)
        self.mlm_decoder.weight = self.encoder.embed.token.weight

    def forward(
        self,
        ids: Tensor,
        *,
        mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        need_weights: bool = False,
    ) -> BERTOutput:
        """``ids (batch, seq)`` (``[CLS] A [SEP] B [SEP]``), padding mask, segment ids -> :class:`BERTOutput`."""
        out = self.encoder(ids, mask=mask, token_type_ids=token_type_ids, need_weights=need_weights)
        hidden, weights = out if need_weights else (out, [])
        mlm_logits = self.mlm_decoder(self.mlm_transform(hidden))  # (batch, seq, vocab)
        nsp_logits = self.nsp_head(self.pooler(hidden[:, 0]))  # (batch, 2)
        return BERTOutput(mlm_logits, nsp_logits, hidden, weights)


class SequenceClassifier(TransformerModel):
    """A classification head on an :class:`Encoder` (fine-tuning, e.g. from ``BERT.encoder``).

    ``pooling="cls"`` takes the first position's hidden state; ``"mean"`` averages the real
    (unmasked) positions. ``forward(ids, mask=mask)`` -> logits ``(batch, n_classes)``;
    ``features(ids, mask=mask)`` -> the pooled ``(batch, d_model)`` that the head reads.
    """

    def __init__(
        self, encoder: Encoder, n_classes: int, pooling: str = "cls", dropout: float = 0.1
    ):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling={pooling!r} must be 'cls' or 'mean'")
        if n_classes < 2:
            raise ValueError(f"n_classes={n_classes} must be at least 2")
        self.config = encoder.config
        self.encoder, self.pooling = encoder, pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.d_model, n_classes)
        init_weights(self.head)

    def features(
        self, ids: Tensor, *, mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """The pooled representation the head reads: ``ids (batch, seq)``, ``mask (batch, 1, seq)``
        (True = real token) -> ``(batch, d_model)``."""
        hidden = self.encoder(
            ids, mask=mask, token_type_ids=token_type_ids
        )  # (batch, seq, d_model)
        if self.pooling == "cls":
            return hidden[:, 0]
        if mask is None:
            return hidden.mean(dim=1)
        if mask.ndim != 3 or mask.shape[1] != 1:
            raise ValueError(
                f"mean pooling needs a padding mask of shape (batch, 1, seq), got "
                f"{tuple(mask.shape)}; build it with padding_mask(lengths, seq)"
            )
        return mean_pool(hidden, rearrange(mask, "b 1 k -> b k"))

    def forward(
        self, ids: Tensor, *, mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """``ids (batch, seq)``, ``mask (batch, 1, seq)`` (True = real token) -> ``(batch, n_classes)``."""
        pooled = self.features(ids, mask=mask, token_type_ids=token_type_ids)  # (batch, d_model)
        return self.head(self.dropout(pooled))


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The mean of the hidden states of the real tokens of each sequence.

    .. math:: u = \\frac{\\sum_t m_t h_t}{\\max(1, \\sum_t m_t)}

    Args:
        hidden: ``(batch, seq, d_model)``.
        mask: ``(batch, seq)`` bool, True = a real token (``[CLS]`` and ``[SEP]`` included),
            False = padding, which must not count.

    Returns:
        ``(batch, d_model)``; a row with no real token is 0.
    """
    m = mask.to(hidden.dtype)[..., None]  # (batch, seq, 1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)  # (batch, d_model)
