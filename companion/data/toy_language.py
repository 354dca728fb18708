"""A generated corpus with a grammar we know, and a task made from it: is this sentence grammatical?

The language has 66 words in six classes, and a full stop, and one sentence pattern::

    S  = NP VERB NP [PREP NP] [ADV] .        NP = DET [ADJ] NOUN

e.g. ``"the brave soldier fights an enemy near the river today ."``. Words are unambiguous (each
belongs to one class), so whether a sentence is grammatical is decided exactly by
:func:`is_grammatical`. Text comes in documents of a few sentences about one topic (the court,
war, the country, love), which draws most of its nouns and verbs from that topic's words: so
that consecutive sentences are related, as next-sentence prediction assumes.

The task (:func:`grammaticality_task`): half of the sentences are kept (label 0), in the other
half one word is replaced by a word of another class so that the sentence breaks the pattern
(label 1). A model must know which words are nouns, verbs, ... to tell them apart: a classifier
trained from scratch must learn that from the labelled sentences, while masked-language-model
pre-training can learn it from unlabelled text, since words of one class fill the same slots.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from companion.tokenizers import word

__all__ = [
    "CLASSES",
    "TOPICS",
    "LabelledSentences",
    "WordTokenizer",
    "corrupt_sentence",
    "generate_documents",
    "grammaticality_task",
    "is_grammatical",
    "word_classes",
]

# topic -> (nouns, verbs); every other class is shared by all topics
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "court": (
        ("king", "queen", "prince", "duke", "crown", "throne"),
        ("crowns", "serves", "obeys"),
    ),
    "war": (
        ("soldier", "captain", "army", "enemy", "sword", "battle"),
        ("fights", "strikes", "defeats"),
    ),
    "country": (
        ("shepherd", "farmer", "sheep", "horse", "field", "river"),
        ("feeds", "follows", "crosses"),
    ),
    "love": (("lover", "lady", "letter", "ring", "rose", "heart"), ("loves", "kisses", "sends")),
}
SHARED_VERBS = ("sees", "finds", "fears", "takes")
CLASSES: dict[str, tuple[str, ...]] = {
    "DET": ("the", "a", "that", "my", "his", "her", "our", "this"),
    "ADJ": ("old", "young", "noble", "gentle", "proud", "poor", "fair", "brave"),
    "NOUN": tuple(w for nouns, _ in TOPICS.values() for w in nouns),
    "VERB": tuple(w for _, verbs in TOPICS.values() for w in verbs) + SHARED_VERBS,
    "PREP": ("in", "near", "with", "from", "behind"),
    "ADV": ("today", "again", "still", "tonight", "slowly"),
    "END": (".",),
}
PATTERN = re.compile(r"NP VERB NP( PREP NP)?( ADV)? END")
NP = re.compile(r"DET (ADJ )?NOUN")
P_ADJ, P_PP, P_ADV, P_ON_TOPIC = 0.4, 0.3, 0.3, 0.9
CORRECT, CORRUPTED = 0, 1


def word_classes() -> dict[str, str]:
    """word -> its class, e.g. ``"king" -> "NOUN"``."""
    return {w: c for c, words in CLASSES.items() for w in words}


def is_grammatical(sentence: str) -> bool:
    """Whether ``sentence`` (words separated by spaces) follows the pattern S of the module.

    Raises:
        ValueError: if a word is not in the language.
    """
    classes = word_classes()
    unknown = [w for w in sentence.split() if w not in classes]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a word of the toy language (see CLASSES)")
    tags = " ".join(classes[w] for w in sentence.split())
    return PATTERN.fullmatch(NP.sub("NP", tags)) is not None


def _rng(generator: torch.Generator) -> random.Random:
    """A Python RNG seeded by one draw from ``generator``: the same generator state gives the same
    text, and drawing words one by one from it is many times faster than from torch."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}; "
            "pass torch.Generator().manual_seed(0)"
        )
    return random.Random(int(torch.randint(2**62, (1,), generator=generator)))


def _pick(words: Sequence[str], rng: random.Random) -> str:
    return words[rng.randrange(len(words))]


def _chance(p: float, rng: random.Random) -> bool:
    return rng.random() < p


def _sentence(topic: str, rng: random.Random) -> str:
    nouns, verbs = TOPICS[topic]
    verbs = verbs + SHARED_VERBS

    def word(cls: str, on_topic: Sequence[str]) -> str:
        pool = on_topic if _chance(P_ON_TOPIC, rng) else CLASSES[cls]
        return _pick(pool, rng)

    def noun_phrase() -> list[str]:
        adj = [_pick(CLASSES["ADJ"], rng)] if _chance(P_ADJ, rng) else []
        return [_pick(CLASSES["DET"], rng), *adj, word("NOUN", nouns)]

    words = [*noun_phrase(), word("VERB", verbs), *noun_phrase()]
    if _chance(P_PP, rng):
        words += [_pick(CLASSES["PREP"], rng), *noun_phrase()]
    if _chance(P_ADV, rng):
        words.append(_pick(CLASSES["ADV"], rng))
    return " ".join([*words, "."])


def generate_documents(
    n_documents: int, generator: torch.Generator, sentences: tuple[int, int] = (3, 6)
) -> list[list[str]]:
    """``n_documents`` documents, each ``sentences[0]`` to ``sentences[1]`` grammatical sentences
    about one topic drawn uniformly (90% of its nouns and verbs come from the topic's words)."""
    if not isinstance(n_documents, int) or n_documents < 1:
        raise ValueError(f"n_documents={n_documents!r} must be a positive int")
    low, high = sentences
    if not 1 <= low <= high:
        raise ValueError(f"sentences={sentences!r} must be (low, high) with 1 <= low <= high")
    rng, topics = _rng(generator), list(TOPICS)
    docs = []
    for _ in range(n_documents):
        topic = _pick(topics, rng)
        docs.append([_sentence(topic, rng) for _ in range(rng.randint(low, high))])
    return docs


def corrupt_sentence(sentence: str, generator: torch.Generator) -> str:
    """``sentence`` with one word (not the full stop) replaced by a word of another class, drawn
    uniformly, redrawn until the result is ungrammatical."""
    return _corrupt(sentence, _rng(generator))


def _corrupt(sentence: str, rng: random.Random) -> str:
    classes = word_classes()
    others = [w for w in classes if classes[w] != "END"]
    words = sentence.split()
    if not any(classes.get(w, "END") != "END" for w in words):
        raise ValueError(f"sentence={sentence!r} has no word to replace")
    while True:
        i = rng.randrange(len(words))
        if classes[words[i]] == "END":
            continue
        new = _pick([w for w in others if classes[w] != classes[words[i]]], rng)
        candidate = " ".join([*words[:i], new, *words[i + 1 :]])
        if not is_grammatical(candidate):
            return candidate


@dataclass
class LabelledSentences:
    """``texts[k]`` with ``labels[k]``: 0 if grammatical, 1 if a word was replaced (ungrammatical)."""

    texts: list[str]
    labels: Tensor

    def __len__(self) -> int:
        return len(self.texts)


def grammaticality_task(n: int, generator: torch.Generator) -> LabelledSentences:
    """``n`` fresh sentences (each about a random topic), exactly half of them corrupted (label 1)."""
    if not isinstance(n, int) or n < 2 or n % 2:
        raise ValueError(f"n={n!r} must be a positive even int, so that exactly half is corrupted")
    labels = torch.zeros(n, dtype=torch.long)
    labels[torch.randperm(n, generator=generator)[: n // 2]] = CORRUPTED
    rng, texts = _rng(generator), []
    for y in labels.tolist():
        sentence = _sentence(_pick(list(TOPICS), rng), rng)
        texts.append(_corrupt(sentence, rng) if y == CORRUPTED else sentence)
    return LabelledSentences(texts, labels)


class WordTokenizer(word.WordTokenizer):
    """One token per word of the toy language (split on spaces), then the specials."""

    def __init__(self, specials: Sequence[str] = ()) -> None:
        words = [w for words in CLASSES.values() for w in words]
        super().__init__(words, specials, language="the toy language (see CLASSES)")
