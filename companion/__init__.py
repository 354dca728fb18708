"""companion: the tested PyTorch package behind the book.

The names most chapters use are importable from here; :mod:`companion.viz` (matplotlib) is
imported on its own, so that ``import companion`` stays light.
"""

from companion.attention import KVCache, MultiHeadAttention, scaled_dot_product_attention
from companion.checkpoint import load_model, save_model
from companion.data import TokenBatches, split, tiny_shakespeare
from companion.generate import beam_search, beam_search_lm, distinct_n, generate, greedy_decode
from companion.layers import DecoderLayer, EncoderLayer, FeedForward
from companion.masks import attention_mask, causal_mask, padding_mask
from companion.metrics import bleu, chrf, rouge
from companion.models import (
    BERT,
    GPT,
    BERTConfig,
    Decoder,
    Encoder,
    EncoderDecoder,
    EncoderDecoderConfig,
    GPTConfig,
    SequenceClassifier,
    TransformerConfig,
    num_parameters,
)
from companion.ngram import ngram_cross_entropy
from companion.preference import dpo_loss
from companion.pretrained import load_minilm
from companion.recipes import train_char_gpt, train_number_translator
from companion.retrieval import BM25
from companion.runtime import DISTRIBUTION, device, profile, seed_everything
from companion.tokenizers import BPETokenizer, CharTokenizer, WordPieceTokenizer
from companion.train import History, TrainConfig, lm_loss, train

# The release: the book's setup cells install the tag v{__version__} (README, "Releases").
__version__ = "0.1.0"

__all__ = [
    "BERT",
    "BERTConfig",
    "BM25",
    "BPETokenizer",
    "CharTokenizer",
    "DISTRIBUTION",
    "Decoder",
    "DecoderLayer",
    "Encoder",
    "EncoderDecoder",
    "EncoderDecoderConfig",
    "EncoderLayer",
    "FeedForward",
    "GPT",
    "GPTConfig",
    "History",
    "KVCache",
    "MultiHeadAttention",
    "SequenceClassifier",
    "TokenBatches",
    "TrainConfig",
    "TransformerConfig",
    "WordPieceTokenizer",
    "attention_mask",
    "beam_search",
    "beam_search_lm",
    "bleu",
    "causal_mask",
    "chrf",
    "device",
    "distinct_n",
    "dpo_loss",
    "generate",
    "greedy_decode",
    "lm_loss",
    "load_minilm",
    "load_model",
    "ngram_cross_entropy",
    "num_parameters",
    "padding_mask",
    "profile",
    "rouge",
    "save_model",
    "scaled_dot_product_attention",
    "seed_everything",
    "split",
    "tiny_shakespeare",
    "train",
    "train_char_gpt",
    "train_number_translator",
]
