"""Words from made-up languages: a classification task that is ambiguous by construction (chapter 71).

A made-up language is a Markov chain over the letters of :data:`ALPHABET`: a distribution of
first letters and, for each letter, a distribution of the letter after it. A word of length L is
drawn letter by letter,

.. math:: P(w \\mid \\text{language } k) = \\pi_k(w_1) \\prod_{t=1}^{L-1} A_k(w_t, w_{t+1}),

and its length is drawn uniformly from ``[min_len, max_len]`` whatever the language, so the
length alone says nothing about the language. The languages of a family share a base chain and
each adds its own random change to it (:func:`language_family`), so their words overlap: a
short word such as "ta" is likely in more than one. Since the chains are known, the **Bayes
posterior** of each language given a word is computed exactly (:func:`posterior`), and with it
the best accuracy any classifier can reach, which is below 100%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from companion import validators as check
from companion.data.pairs import PAD, pad_rows
from companion.tokenizers import CharTokenizer

__all__ = [
    "ALPHABET",
    "Language",
    "LabelledWords",
    "encode_words",
    "language_family",
    "mixture_log_prob",
    "posterior",
    "random_words",
    "sample_words",
    "word_tokenizer",
]

ALPHABET = "abdegiklmnorstu"  # 15 letters


def _letter_ids(word: str) -> list[int]:
    bad = sorted({c for c in word if c not in ALPHABET})
    if bad:
        check.fail("word", word, f"letters of {ALPHABET!r} only", f"{bad} are not")
    return [ALPHABET.index(c) for c in word]


@dataclass(frozen=True)
class Language:
    """A Markov chain over the letters of :data:`ALPHABET`.

    Attributes:
        log_first: ``(V,)`` float64, :math:`\\log \\pi(a)`, the first letter's log-probabilities.
        log_next: ``(V, V)`` float64, :math:`\\log A(a, b)`, row ``a`` the log-probabilities of the
            letter after ``a``.
    """

    log_first: Tensor
    log_next: Tensor

    def log_prob(self, words: Sequence[str]) -> Tensor:
        """``(n,)`` float64: :math:`\\log P(w \\mid k) = \\log \\pi(w_1) + \\sum_t \\log A(w_t, w_{t+1})`
        of each word's letters given its length (which every language draws alike)."""
        if isinstance(words, str):
            check.fail("words", words, "a list of words", "wrap one word: [word]", TypeError)
        out = torch.empty(len(words), dtype=torch.float64)
        for i, word in enumerate(words):
            if not word:
                check.fail("words", word, "non-empty words")
            ids = torch.tensor(_letter_ids(word))
            out[i] = self.log_first[ids[0]] + self.log_next[ids[:-1], ids[1:]].sum()
        return out

    def sample(self, lengths: Sequence[int] | Tensor, generator: torch.Generator) -> list[str]:
        """``n`` words, one per entry of ``lengths (n,)`` (each >= 1), drawn from the chain with
        ``generator``."""
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        if lengths.ndim != 1 or (len(lengths) and int(lengths.min()) < 1):
            check.fail("lengths", lengths.tolist(), "a 1-D list of lengths >= 1")
        if len(lengths) == 0:
            return []
        n, longest = len(lengths), int(lengths.max())
        letters = torch.zeros(n, longest, dtype=torch.long)  # (n, longest): a chain per word
        letters[:, 0] = torch.multinomial(self.log_first.exp(), n, True, generator=generator)
        for t in range(1, longest):  # every word continues its own chain; prefixes are samples
            rows = self.log_next[letters[:, t - 1]].exp()  # (n, V)
            letters[:, t] = torch.multinomial(rows, 1, generator=generator)[:, 0]
        return [
            "".join(ALPHABET[i] for i in row[:length])
            for row, length in zip(letters.tolist(), lengths.tolist(), strict=True)
        ]


def language_family(n: int, seed: int, spread: float = 1.5) -> list[Language]:
    """``n`` languages that share a base chain: each one's logits are the base's plus its own
    noise,

    .. math:: \\pi_k = \\mathrm{softmax}(b + s\\,\\epsilon_k), \\qquad
              A_k(a, \\cdot) = \\mathrm{softmax}(B_a + s\\,E_{k,a}),

    with :math:`b, B, \\epsilon_k, E_k` standard normal and :math:`s` = ``spread``: the larger
    ``spread``, the more the languages differ and the easier the task. The same ``seed`` gives the
    same family; the first ``n`` languages of a larger family are those of a smaller one.
    """
    check.positive_int("n", n)
    check.nonnegative_int("seed", seed)
    check.number("spread", spread, 0, hint="e.g. 1.5")
    g = torch.Generator().manual_seed(seed)
    v = len(ALPHABET)
    base_first = torch.randn(v, generator=g, dtype=torch.float64)  # (V,)
    base_next = torch.randn(v, v, generator=g, dtype=torch.float64)  # (V, V)
    family = []
    for _ in range(n):
        first = base_first + spread * torch.randn(v, generator=g, dtype=torch.float64)
        after = base_next + spread * torch.randn(v, v, generator=g, dtype=torch.float64)
        family.append(Language(first.log_softmax(-1), after.log_softmax(-1)))
    return family


def _log_likelihoods(words: Sequence[str], languages: Sequence[Language]) -> Tensor:
    """``(n, K)`` float64: :math:`\\log P(w \\mid k)` of each word under each language."""
    if not languages:
        raise ValueError("languages is empty; pass the languages the words are drawn from")
    return torch.stack([lang.log_prob(words) for lang in languages], dim=1)  # (n, K)


def posterior(words: Sequence[str], languages: Sequence[Language]) -> Tensor:
    """``(n, K)`` float64: the Bayes posterior :math:`P(k \\mid w)` of each of the K languages
    for each word, under a uniform prior over the languages:

    .. math:: P(k \\mid w) = \\frac{P(w \\mid k)}{\\sum_j P(w \\mid j)}.

    The length cancels, since every language draws it alike. No classifier can be more accurate on
    average than the arg max of this posterior.
    """
    return _log_likelihoods(words, languages).softmax(dim=1)


def mixture_log_prob(words: Sequence[str], languages: Sequence[Language]) -> Tensor:
    """``(n,)`` float64: the log-probability of each word's letters when its language is drawn
    uniformly from the K ``languages``,

    .. math:: \\log P(w) = \\log \\frac{1}{K} \\sum_{k=1}^{K} P(w \\mid k),

    the probability of the word under the distribution a data set of :func:`sample_words` comes
    from (given its length, which every language draws alike). It scores how typical a word is of
    the languages as a whole, which the posterior, a ratio, cannot tell.
    """
    log_likelihood = _log_likelihoods(words, languages)  # (n, K)
    return log_likelihood.logsumexp(dim=1) - math.log(len(languages))


@dataclass(frozen=True)
class LabelledWords:
    """Words with the index of the language each was drawn from: ``words`` (n) and ``labels`` (n,)."""

    words: list[str]
    labels: Tensor


def _lengths(n: int, generator: torch.Generator, min_len: int, max_len: int) -> Tensor:
    check.nonnegative_int("n", n)
    check.positive_int("min_len", min_len)
    check.positive_int("max_len", max_len)
    if max_len < min_len:
        check.fail("max_len", max_len, f">= min_len={min_len}")
    return torch.randint(min_len, max_len + 1, (n,), generator=generator)  # (n,)


def sample_words(
    languages: Sequence[Language],
    n: int,
    generator: torch.Generator,
    min_len: int = 2,
    max_len: int = 8,
) -> LabelledWords:
    """``n`` words, each from a language chosen uniformly at random, with a length uniform on
    ``[min_len, max_len]``; ``labels`` holds the chosen language's index."""
    if not languages:
        raise ValueError("languages is empty; pass the languages to draw words from")
    lengths = _lengths(n, generator, min_len, max_len)  # (n,)
    labels = torch.randint(len(languages), (n,), generator=generator)  # (n,)
    words = [""] * n
    for k, language in enumerate(languages):
        rows = (labels == k).nonzero()[:, 0].tolist()
        for i, word in zip(rows, language.sample(lengths[rows], generator), strict=True):
            words[i] = word
    return LabelledWords(words, labels)


def random_words(
    n: int, generator: torch.Generator, min_len: int = 2, max_len: int = 8
) -> list[str]:
    """``n`` strings of letters drawn uniformly and independently: words of no language, with
    lengths uniform on ``[min_len, max_len]`` as :func:`sample_words` draws them."""
    lengths = _lengths(n, generator, min_len, max_len)
    letters = torch.randint(len(ALPHABET), (n, max_len), generator=generator)  # (n, max_len)
    return [
        "".join(ALPHABET[i] for i in row[:k])
        for row, k in zip(letters.tolist(), lengths.tolist(), strict=True)
    ]


def word_tokenizer() -> CharTokenizer:
    """One token per letter of :data:`ALPHABET` (ids 0-14), then ``<pad>`` (15)."""
    return CharTokenizer(ALPHABET, specials=(PAD,))


def encode_words(words: Sequence[str], tokenizer: CharTokenizer) -> tuple[Tensor, Tensor]:
    """``ids (n, longest)`` int64, right-padded with ``<pad>``, and ``lengths (n,)``, ready for
    :class:`companion.objectives.ClassificationBatches`."""
    if isinstance(words, str):
        check.fail("words", words, "a list of words", "wrap one word: [word]", TypeError)
    if not words:
        raise ValueError("words is empty; pass at least one word")
    rows = [tokenizer.encode(w) for w in words]
    return pad_rows(rows, tokenizer.token_to_id(PAD)), torch.tensor([len(r) for r in rows])
