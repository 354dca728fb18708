"""companion.seq2seq and companion.data.pairs: text pairs to padded batches, an encoder-decoder
trained on them, and greedy translation back to text."""

from __future__ import annotations

import pytest
import torch

from companion.data.pairs import BOS, EOS, PAD, SPECIALS, PairBatches, encode_text_pairs
from companion.models import EncoderDecoderConfig
from companion.seq2seq import train_seq2seq, translate
from companion.tokenizers import WordTokenizer

SRC = WordTokenizer(["a", "b", "c", "twice"], SPECIALS, language="the test source")
TGT = WordTokenizer(["A", "B", "C"], SPECIALS, language="the test target")
LETTERS = ["a", "b", "c"]
# "x y" -> "X Y"; "x twice" -> "X X": a tiny language with a repeat rule
PAIRS = [(f"{x} {y}", f"{x.upper()} {y.upper()}") for x in LETTERS for y in LETTERS]
PAIRS += [(f"{x} twice", f"{x.upper()} {x.upper()}") for x in LETTERS]


def config(**kw) -> EncoderDecoderConfig:
    base = dict(vocab_size=SRC.vocab_size, tgt_vocab_size=TGT.vocab_size, d_model=32, n_heads=4,
                n_layers=1, d_ff=64, max_len=16)  # fmt: skip
    return EncoderDecoderConfig(**(base | kw))


def test_encode_text_pairs_pads_and_shifts():
    batch = encode_text_pairs([("a twice", "A A"), ("b", "B")], SRC, TGT)
    pad, bos, eos = TGT.token_to_id(PAD), TGT.token_to_id(BOS), TGT.token_to_id(EOS)
    assert batch.src.tolist() == [SRC.encode("a twice"), SRC.encode("b") + [SRC.token_to_id(PAD)]]
    assert batch.src_mask.tolist() == [[[True, True]], [[True, False]]]
    # a shorter target's <eos> is fed too; the label after it is PAD, which the loss ignores
    assert batch.tgt_in.tolist() == [[bos, *TGT.encode("A A")], [bos, *TGT.encode("B"), eos]]
    assert batch.tgt_out.tolist() == [[*TGT.encode("A A"), eos], [*TGT.encode("B"), eos, pad]]
    with pytest.raises(ValueError, match="pairs is empty"):
        encode_text_pairs([], SRC, TGT)
    with pytest.raises(ValueError, match="'d' is not a word of the test source"):
        encode_text_pairs([("d", "A")], SRC, TGT)


def test_pair_batches_are_drawn_from_the_generator_only():
    batches = PairBatches(PAIRS, 5, SRC, TGT)
    one, two = (batches(torch.Generator().manual_seed(3)) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(one, two, strict=True))
    assert one.src.shape[0] == 5
    with pytest.raises(ValueError, match="pairs is empty"):
        PairBatches([], 5, SRC, TGT)


def test_a_trained_model_translates_its_training_pairs():
    run = train_seq2seq(
        PAIRS, config(), SRC, TGT, steps=300, batch_size=16, lr=3e-3, progress=False
    )
    assert not run.model.training  # returned in eval mode
    assert run.history.train_loss[-1] < 0.05 < run.history.train_loss[0]
    sources = [s for s, _ in PAIRS]
    assert translate(run, sources, max_len=4) == [t for _, t in PAIRS]
    assert translate(run, sources, max_len=4, chunk=5) == translate(run, sources, max_len=4)
    assert all(len(out.split()) <= 1 for out in translate(run, sources, max_len=1))  # cut short


def test_train_seq2seq_refuses_a_config_that_does_not_fit_the_tokenizers():
    with pytest.raises(ValueError, match=r"config.tgt_vocab_size=9, but its tokenizer has 6 ids"):
        train_seq2seq(PAIRS, config(tgt_vocab_size=9), SRC, TGT, steps=1, batch_size=2, lr=1e-3)


def test_word_tokenizer_names_its_language_and_refuses_repeats():
    assert SRC.decode(SRC.encode("c twice")) == "c twice"
    assert SRC.token_to_id(EOS) == 4 + 2
    with pytest.raises(ValueError, match="not a special"):
        SRC.token_to_id("a")
    with pytest.raises(ValueError, match="repeat each other or a word of the test source"):
        WordTokenizer(["a", "b"], ["a"], language="the test source")
