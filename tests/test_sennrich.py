"""The paper's word-level BPE (companion.tokenizers.sennrich): the first ten merges of Sennrich et
al.'s toy vocabulary derived by hand, the tie rule, the whole-symbol merge, segmentation of unseen
words, early stopping and the errors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.tokenizers import apply_bpe, learn_bpe
from companion.tokenizers.sennrich import (
    END_OF_WORD,
    get_stats,
    initial_vocab,
    learn_bpe_from_vocab,
    merge_vocab,
)

TOY = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Algorithm 1 of the paper


def test_the_first_ten_merges_of_the_papers_toy_vocabulary():
    """Derived by hand from the paper's procedure. Scan order: low, lower, newest, widest; within
    a word left to right. Counts before each merge (the winner first, then the pairs it ties with):

    1. e s 6+3=9 = s t 9 = t </w> 9 ; e s is met first (in "newest")   -> ('e', 's')
    2. es t 9 = t </w> 9                                                -> ('es', 't')
    3. est </w> 9 (the runner-up: l o 7)                               -> ('est', '</w>')
    4. l o 5+2=7 = o w 7 ; l o first (in "low")                         -> ('l', 'o')
    5. lo w 7                                                           -> ('lo', 'w')
    6. n e 6 = e w 6 = w est</w> 6 ; n e first (in "newest")            -> ('n', 'e')
    7. ne w 6 = w est</w> 6                                             -> ('ne', 'w')
    8. new est</w> 6                                                    -> ('new', 'est</w>')
    9. low </w> 5 (then w i, i d, d est</w> 3; low e 2, e r 2, r </w> 2) -> ('low', '</w>')
    10. w i 3 = i d 3 = d est</w> 3 ; w i first (in "widest")            -> ('w', 'i')
    """
    assert learn_bpe(TOY, 10) == [
        ("e", "s"),
        ("es", "t"),
        ("est", END_OF_WORD),
        ("l", "o"),
        ("lo", "w"),
        ("n", "e"),
        ("ne", "w"),
        ("new", "est</w>"),
        ("low", END_OF_WORD),
        ("w", "i"),
    ]


def papers_code(vocab: dict[str, int], num_merges: int) -> list[tuple[str, str]]:
    """Algorithm 1 of Sennrich et al. (2016), verbatim but for names (regex merge, defaultdict),
    plus an early stop when no pair is left."""
    import collections

    def stats(v):
        pairs = collections.defaultdict(int)
        for word, freq in v.items():
            symbols = word.split()
            for i in range(len(symbols) - 1):
                pairs[symbols[i], symbols[i + 1]] += freq
        return pairs

    def merge(pair, v_in):
        bigram = re.escape(" ".join(pair))
        p = re.compile(r"(?<!\S)" + bigram + r"(?!\S)")
        return {p.sub("".join(pair), word): v_in[word] for word in v_in}

    merges = []
    for _ in range(num_merges):
        pairs = stats(vocab)
        if not pairs:
            break
        best = max(pairs, key=pairs.get)
        vocab = merge(best, vocab)
        merges.append(best)
    return merges


words = st.text(alphabet="abcde", min_size=1, max_size=7)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(words, st.integers(1, 9), min_size=1, max_size=8), st.integers(0, 30))
def test_same_merges_as_the_papers_code_on_random_vocabularies(word_counts, num_merges):
    assert learn_bpe(word_counts, num_merges) == papers_code(initial_vocab(word_counts), num_merges)


def test_get_stats_weights_by_count_counts_overlaps_and_keeps_scan_order():
    stats = get_stats({"a a a </w>": 2, "b a </w>": 1})
    assert stats == {("a", "a"): 4, ("a", "</w>"): 3, ("b", "a"): 1}
    assert list(stats) == [("a", "a"), ("a", "</w>"), ("b", "a")]


def test_merge_vocab_merges_whole_symbols_only_left_to_right():
    vocab = {"n e s t </w>": 1, "ne s t </w>": 2, "es t </w>": 3, "a a a </w>": 4}
    assert merge_vocab(("e", "s"), vocab) == {
        "n es t </w>": 1,
        "ne s t </w>": 2,  # the "e" inside "ne" is not a symbol "e"
        "es t </w>": 3,
        "a a a </w>": 4,
    }
    assert merge_vocab(("a", "a"), vocab)["aa a </w>"] == 4  # non-overlapping, left to right
    assert list(merge_vocab(("s", "t"), vocab).values()) == [1, 2, 3, 4]


def test_an_unseen_word_is_segmented_into_learned_pieces():
    merges = learn_bpe(TOY, 10)
    assert apply_bpe("lowest", merges) == ["low", "est</w>"]
    assert apply_bpe("newer", merges) == ["new", "e", "r", "</w>"]
    assert apply_bpe("zz", merges) == ["z", "z", "</w>"]  # unseen characters stay symbols
    assert apply_bpe("low", []) == ["l", "o", "w", "</w>"]


def test_training_words_are_segmented_as_training_left_them():
    merges = learn_bpe(TOY, 12)
    vocab = initial_vocab(TOY)
    for pair in merges:
        vocab = merge_vocab(pair, vocab)
    assert [w.split(" ") for w in vocab] == [apply_bpe(w, merges) for w in TOY]


def test_stops_early_when_every_word_is_one_symbol():
    merges = learn_bpe(TOY, 1000)
    assert len(merges) < 1000
    assert all(apply_bpe(w, merges) == [w + END_OF_WORD] for w in TOY)
    assert merges == learn_bpe(TOY, len(merges))
    assert learn_bpe({"a": 3}, 5) == [("a", "</w>")]
    assert learn_bpe(TOY, 0) == []


@pytest.mark.parametrize(
    ("word_counts", "num_merges", "error", "message"),
    [
        ({1: 2}, 3, TypeError, "must be a str"),
        ({"": 2}, 3, ValueError, "is empty"),
        ({"lo w": 2}, 3, ValueError, "contains whitespace"),
        ({"low</w>": 2}, 3, ValueError, "contains the end-of-word marker"),
        ({"low": 0}, 3, ValueError, "counts must be >= 1"),
        ({"low": 2.0}, 3, TypeError, "counts must be ints"),
        ({"low": True}, 3, TypeError, "counts must be ints"),
        (["low"], 3, TypeError, "must be a dict from word to count"),
        ({"low": 2}, -1, ValueError, "num_merges=-1 must be an int >= 0"),
        ({"low": 2}, 2.0, TypeError, "num_merges=2.0 must be an int"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(word_counts, num_merges, error, message):
    with pytest.raises(error, match=re.escape(message)):
        learn_bpe(word_counts, num_merges)


def test_bad_pairs_and_words_are_rejected():
    with pytest.raises(ValueError, match="must be a tuple of two non-empty symbols"):
        merge_vocab(("a b", "c"), {"a b c": 1})
    with pytest.raises(ValueError, match="must be a tuple of two non-empty symbols"):
        apply_bpe("ab", ["ab"])
    with pytest.raises(ValueError, match="contains whitespace"):
        apply_bpe("a b", [])


def test_learn_bpe_from_vocab_continues_a_partly_merged_vocabulary_without_mutating_it():
    vocab = initial_vocab({"low": 5, "lower": 2, "newest": 6, "widest": 3})
    first = learn_bpe_from_vocab(vocab, 3)
    assert vocab == initial_vocab({"low": 5, "lower": 2, "newest": 6, "widest": 3})
    merged = vocab
    for pair in first:
        merged = merge_vocab(pair, merged)
    # three merges, then seven more from the merged vocabulary = ten from the start
    assert first + learn_bpe_from_vocab(merged, 7) == learn_bpe_from_vocab(vocab, 10)
    with pytest.raises(TypeError, match="vocab must be a dict"):
        learn_bpe_from_vocab([("l o w </w>", 5)], 1)
    with pytest.raises(ValueError, match="num_merges=-1"):
        learn_bpe_from_vocab(vocab, -1)


def test_subword_nmt_tie_rule_differs_on_the_toy_vocabulary():
    """subword-nmt's learn_bpe.py: max(stats, key=lambda x: (stats[x], x)), ties to the largest pair."""
    vocab = initial_vocab({"low": 5, "lower": 2, "newest": 6, "widest": 3})
    largest = []
    for _ in range(10):
        stats = get_stats(vocab)
        best = max(stats, key=lambda x: (stats[x], x))
        largest.append(best)
        vocab = merge_vocab(best, vocab)
    assert largest[:3] == [("t", END_OF_WORD), ("s", "t</w>"), ("e", "st</w>")]
    assert largest != learn_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 10)
