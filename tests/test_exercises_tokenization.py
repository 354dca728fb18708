"""The checker of chapter 10 (companion.course.exercises.tokenization): the notebook's solution gets
full marks; the typical mistakes in the paper's two functions and its loop are rejected, each by the
kind of case it gets wrong. The shared contract is tests/test_course.py."""

from __future__ import annotations

import collections
import re

import pytest

from companion.course.exercises.tokenization import check_bpe

# --- the notebook's solution ---------------------------------------------------------------------


def my_get_stats(vocab):
    pairs = {}
    for word, freq in vocab.items():
        symbols = word.split()
        for i in range(len(symbols) - 1):
            pair = (symbols[i], symbols[i + 1])
            pairs[pair] = pairs.get(pair, 0) + freq
    return pairs


def my_merge_vocab(pair, vocab):
    out = {}
    for word, freq in vocab.items():
        symbols, merged, i = word.split(), [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        out[" ".join(merged)] = freq
    return out


def my_learn_bpe(vocab, num_merges):
    merges = []
    for _ in range(num_merges):
        pairs = my_get_stats(vocab)
        if not pairs:
            break
        best = max(pairs, key=pairs.get)
        merges.append(best)
        vocab = my_merge_vocab(best, vocab)
    return merges


# --- right answers written differently: the paper's own code (regex merge, defaultdict) ----------


def papers_get_stats(vocab):
    pairs = collections.defaultdict(int)
    for word, freq in vocab.items():
        symbols = word.split()
        for i in range(len(symbols) - 1):
            pairs[symbols[i], symbols[i + 1]] += freq
    return pairs


def papers_merge_vocab(pair, v_in):
    v_out = {}
    bigram = re.escape(" ".join(pair))
    p = re.compile(r"(?<!\S)" + bigram + r"(?!\S)")
    for word in v_in:
        v_out[p.sub("".join(pair), word)] = v_in[word]
    return v_out


def counter_learn_bpe(vocab, num_merges):
    merges = []
    for _ in range(num_merges):
        pairs = collections.Counter(papers_get_stats(vocab))
        if not pairs:
            break
        best = pairs.most_common(1)[0][0]  # stable: the first inserted among ties
        merges.append(best)
        vocab = papers_merge_vocab(best, vocab)
    return merges


# --- plausible wrong versions --------------------------------------------------------------------


def stats_ignores_counts(vocab):
    return my_get_stats(dict.fromkeys(vocab, 1))


def stats_once_per_word(vocab):
    pairs = collections.Counter()
    for word, freq in vocab.items():
        symbols = word.split()
        for pair in set(zip(symbols, symbols[1:], strict=False)):
            pairs[pair] += freq
    return dict(pairs)


def stats_forgets_last_pair(vocab):
    pairs = {}
    for word, freq in vocab.items():
        symbols = word.split()
        for i in range(len(symbols) - 2):
            pair = (symbols[i], symbols[i + 1])
            pairs[pair] = pairs.get(pair, 0) + freq
    return pairs


def stats_on_characters(vocab):  # pairs of characters, not of symbols
    return my_get_stats({" ".join(w.replace(" ", "")): n for w, n in vocab.items()})


def merge_str_replace(pair, vocab):
    return {w.replace(" ".join(pair), "".join(pair)): n for w, n in vocab.items()}


def merge_unescaped_regex(pair, vocab):
    p = re.compile(r"(?<!\S)" + " ".join(pair) + r"(?!\S)")
    return {p.sub("".join(pair), w): n for w, n in vocab.items()}


def merge_overlapping(pair, vocab):  # after a merge, steps one symbol instead of two
    out = {}
    for word, freq in vocab.items():
        s, merged, i = word.split(), [], 0
        while i < len(s):
            if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
                merged.append(s[i] + s[i + 1])
                i += 1 if i + 2 < len(s) and s[i + 2] == pair[1] else 2
            else:
                merged.append(s[i])
                i += 1
        out[" ".join(merged)] = freq
    return out


def merge_right_to_left(pair, vocab):
    out = {}
    for word, freq in vocab.items():
        s = word.split()
        i = len(s) - 1
        while i > 0:
            if (s[i - 1], s[i]) == pair:
                s[i - 1 : i + 1] = [s[i - 1] + s[i]]
                i -= 2
            else:
                i -= 1
        out[" ".join(s)] = freq
    return out


def learn_ties_to_smallest(vocab, num_merges):
    merges = []
    for _ in range(num_merges):
        pairs = my_get_stats(vocab)
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # ties to the alphabetically first
        merges.append(best)
        vocab = my_merge_vocab(best, vocab)
    return merges


def learn_ties_to_largest(vocab, num_merges):  # subword-nmt's rule
    merges = []
    for _ in range(num_merges):
        pairs = my_get_stats(vocab)
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))  # ties to the largest pair
        merges.append(best)
        vocab = my_merge_vocab(best, vocab)
    return merges


def learn_ties_to_last(vocab, num_merges):
    merges = []
    for _ in range(num_merges):
        pairs = my_get_stats(vocab)
        if not pairs:
            break
        top = max(pairs.values())
        best = [p for p, n in pairs.items() if n == top][-1]
        merges.append(best)
        vocab = my_merge_vocab(best, vocab)
    return merges


def learn_no_early_stop(vocab, num_merges):
    merges = []
    for _ in range(num_merges):
        pairs = my_get_stats(vocab) or {("", ""): 0}
        best = max(pairs, key=pairs.get)
        merges.append(best)
        vocab = my_merge_vocab(best, vocab)
    return merges


def learn_stats_once(vocab, num_merges):  # counts once and takes the top pairs: no recount
    pairs = my_get_stats(vocab)
    return sorted(pairs, key=lambda p: -pairs[p])[:num_merges]


RIGHT = (my_get_stats, my_merge_vocab, my_learn_bpe)


@pytest.mark.parametrize(
    ("position", "wrong", "message"),
    [
        (0, stats_ignores_counts, "pair counts differ"),
        (0, stats_once_per_word, "pair counts differ"),
        (0, stats_forgets_last_pair, "pair counts differ"),
        (0, stats_on_characters, "pair counts differ"),
        (0, lambda v: [(p, n) for p, n in my_get_stats(v).items()], "not a dict"),
        (1, merge_str_replace, "not split (or counted) as expected"),
        (1, merge_unescaped_regex, "not split (or counted) as expected"),
        (1, merge_overlapping, "not split (or counted) as expected"),
        (1, merge_right_to_left, "not split (or counted) as expected"),
        (2, learn_ties_to_smallest, "is not the expected one"),
        (2, learn_ties_to_last, "is not the expected one"),
        (2, learn_ties_to_largest, "is not the expected one"),
        (2, learn_no_early_stop, "returned 5 merges, expected 2"),
        (2, learn_stats_once, "merges"),
    ],
)
def test_wrong_implementation_is_rejected(position, wrong, message):
    fns = list(RIGHT)
    fns[position] = wrong
    score = check_bpe(*fns, verbose=False)
    assert score.score < 1, str(score)
    assert any(message in m for m in score.messages if not m.endswith("passed")), str(score)


def test_the_public_cases_alone_catch_the_naive_replace():
    """The fixed cases (not only the random ones) hold the trap: 'ne s t' merged by ('e', 's')."""
    score = check_bpe(my_get_stats, merge_str_replace, my_learn_bpe, verbose=False)
    assert "case 5 (merge ('e', 's'), whole symbols only): 1 of 4 words" in str(score)


def test_messages_never_show_words_or_pairs():
    score = check_bpe(stats_ignores_counts, merge_str_replace, learn_ties_to_last, verbose=False)
    failed = [m for m in score.messages if not m.endswith("passed")]
    assert failed and not any(
        re.search(r"</w>|'[a-z]+'\)|\(\'", m.split("):", 1)[1]) for m in failed
    )


# --- for tests/test_course.py --------------------------------------------------------------------

REFERENCES = {"ex-tokenization-bpe": (my_get_stats, my_merge_vocab, my_learn_bpe)}
OTHER_RIGHT_ANSWERS = [
    ("ex-tokenization-bpe", (papers_get_stats, papers_merge_vocab, counter_learn_bpe)),
]
