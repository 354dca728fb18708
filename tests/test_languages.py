"""companion.data.languages: each made-up language is a proper distribution over words of a given
length, its samples follow its chain, the posterior is Bayes' rule, the mixture's probability is the
mean of the languages', and the words encode for a classifier and back."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from companion.data.languages import (
    ALPHABET,
    encode_words,
    language_family,
    mixture_log_prob,
    posterior,
    random_words,
    sample_words,
    word_tokenizer,
)

V = len(ALPHABET)


def test_a_family_is_reproducible_and_grows_by_appending():
    a, b = language_family(3, seed=4), language_family(5, seed=4)
    for x, y in zip(a, b[:3], strict=True):
        assert torch.equal(x.log_first, y.log_first) and torch.equal(x.log_next, y.log_next)
    assert not torch.equal(language_family(1, seed=5)[0].log_next, a[0].log_next)
    for lang in b:
        assert lang.log_first.shape == (V,) and lang.log_next.shape == (V, V)
        torch.testing.assert_close(
            lang.log_first.exp().sum(), torch.tensor(1.0, dtype=torch.float64)
        )
        torch.testing.assert_close(lang.log_next.exp().sum(-1), torch.ones(V, dtype=torch.float64))


def test_spread_zero_gives_identical_languages():
    a, b = language_family(2, seed=0, spread=0.0)
    assert torch.equal(a.log_next, b.log_next) and torch.equal(a.log_first, b.log_first)


@pytest.mark.parametrize("length", [1, 2, 3])
def test_word_probabilities_of_one_length_sum_to_one(length):
    lang = language_family(1, seed=1)[0]
    words = ["".join(w) for w in itertools.product(ALPHABET, repeat=length)]
    assert lang.log_prob(words).exp().sum().item() == pytest.approx(1.0, abs=1e-12)


def test_log_prob_by_hand():
    lang = language_family(1, seed=2)[0]
    a, b, d = (ALPHABET.index(c) for c in "abd")
    want = lang.log_first[a] + lang.log_next[a, b] + lang.log_next[b, d] + lang.log_next[d, a]
    assert lang.log_prob(["abda"])[0].item() == pytest.approx(want.item())


def test_samples_follow_the_chain():
    lang = language_family(1, seed=3)[0]
    words = lang.sample([2] * 30000, torch.Generator().manual_seed(0))
    assert all(len(w) == 2 for w in words)
    first = torch.bincount(torch.tensor([ALPHABET.index(w[0]) for w in words]), minlength=V)
    torch.testing.assert_close(first / 30000, lang.log_first.exp().float(), atol=0.01, rtol=0)
    most = int(first.argmax())  # the transitions out of the most frequent first letter
    after = [ALPHABET.index(w[1]) for w in words if ALPHABET.index(w[0]) == most]
    freq = torch.bincount(torch.tensor(after), minlength=V) / len(after)
    torch.testing.assert_close(freq, lang.log_next[most].exp().float(), atol=0.03, rtol=0)


def test_posterior_is_bayes_rule():
    family = language_family(3, seed=0)
    words = ["ta", "mundo", "e"]
    post = posterior(words, family)
    likelihood = torch.stack([lang.log_prob(words).exp() for lang in family], dim=1)
    torch.testing.assert_close(post, likelihood / likelihood.sum(1, keepdim=True))
    torch.testing.assert_close(post.sum(1), torch.ones(3, dtype=torch.float64))


def test_mixture_log_prob_is_the_log_of_the_mean_likelihood():
    family = language_family(3, seed=0)
    words = ["ta", "mundo", "e"]
    likelihood = torch.stack([lang.log_prob(words).exp() for lang in family], dim=1)  # (3, 3)
    torch.testing.assert_close(mixture_log_prob(words, family), likelihood.mean(1).log())
    # Bayes' rule again: P(k | w) = P(w | k) / (K P(w))
    post = (likelihood.log() - math.log(3) - mixture_log_prob(words, family)[:, None]).exp()
    torch.testing.assert_close(post, posterior(words, family))
    # the words of one length form a distribution under the mixture as under each language
    pairs = [a + b for a in ALPHABET for b in ALPHABET]
    assert mixture_log_prob(pairs, family).exp().sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="languages is empty"):
        mixture_log_prob(["ta"], [])


def test_sample_words_labels_lengths_and_the_bayes_classifier():
    family = language_family(3, seed=0)
    data = sample_words(family, 3000, torch.Generator().manual_seed(1), min_len=2, max_len=5)
    again = sample_words(family, 3000, torch.Generator().manual_seed(1), min_len=2, max_len=5)
    assert data.words == again.words and torch.equal(data.labels, again.labels)
    assert {len(w) for w in data.words} == {2, 3, 4, 5}
    assert torch.bincount(data.labels).min() > 900  # about 1,000 per language
    accuracy = (posterior(data.words, family).argmax(1) == data.labels).double().mean()
    assert 0.6 < accuracy < 1.0  # better than chance (1/3), and the task is ambiguous


def test_random_words_use_the_alphabet_and_the_lengths():
    words = random_words(500, torch.Generator().manual_seed(0), min_len=3, max_len=4)
    assert {len(w) for w in words} == {3, 4}
    assert set("".join(words)) == set(ALPHABET)


def test_encode_words_pads_and_round_trips():
    tok = word_tokenizer()
    assert tok.vocab_size == V + 1
    ids, lengths = encode_words(["ta", "mundo"], tok)
    assert ids.shape == (2, 5) and lengths.tolist() == [2, 5]
    assert ids[0, 2:].tolist() == [tok.token_to_id("<pad>")] * 3 == [V] * 3
    assert tok.decode(ids[1].tolist()) == "mundo"


def test_bad_input_is_named():
    lang = language_family(1, seed=0)[0]
    with pytest.raises(ValueError, match="letters of"):
        lang.log_prob(["hello"])  # h is not a letter of these languages
    with pytest.raises(TypeError, match="list of words"):
        lang.log_prob("ta")
    with pytest.raises(ValueError, match="non-empty"):
        lang.log_prob([""])
    with pytest.raises(ValueError, match="max_len=2 must be >= min_len=3"):
        sample_words([lang], 5, torch.Generator(), min_len=3, max_len=2)
    with pytest.raises(ValueError, match="languages is empty"):
        posterior(["ta"], [])
    with pytest.raises(ValueError, match="words is empty"):
        encode_words([], word_tokenizer())
    with pytest.raises(ValueError, match="lengths"):
        lang.sample([0, 2], torch.Generator())
