"""Meta-learning for compositionality (MLC; Lake and Baroni 2023), at the size of a notebook.

Lake and Baroni's few-shot instruction task: made-up words mean colours, and function words
combine them. Their meanings here, the chapter's grammar (a subset of the paper's)::

    C -> P kiki C | P          P -> u fep | u blicket u | u        u -> dax | wif | lug | zup

* a primitive ``u`` means one colour, given by the episode's **assignment** (``dax`` -> ``RED``);
* ``u fep`` -> ``u u u`` (three times);
* ``u1 blicket u2`` -> ``u1 u2 u1`` (around);
* ``x1 kiki x2`` -> ``x2 x1`` (reversed order); ``kiki`` joins whole phrases and binds last, so
  ``dax fep kiki lug`` means ``lug`` then ``dax dax dax``. Reversal is associative, so a command
  with several ``kiki`` has one meaning: the phrases in reverse order.

An **episode** (:class:`Episode`) fixes an assignment, shows **study examples** (every primitive
alone, and optionally a few composed commands that use only two of the primitives) and asks one
**query**: a composed command that uses the *focus* primitive, which the study examples show
only alone. The source text a model reads is the study examples and then the query
(:attr:`Episode.source`); the target is the query's meaning under the episode's assignment.
MLC trains a sequence-to-sequence model on many episodes whose assignments change; standard
training keeps one assignment. Everything is drawn by a seeded :class:`random.Random`, so the
same seed gives the same episodes.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from companion.data.pairs import SPECIALS
from companion.tokenizers.word import WordTokenizer

__all__ = [
    "COLOURS",
    "FUNCTION_WORDS",
    "PAPER_ASSIGNMENT",
    "PRIMITIVES",
    "Episode",
    "all_assignments",
    "focus_attention",
    "interpret",
    "make_episode",
    "mlc_tokenizers",
    "random_command",
]

PRIMITIVES = ("dax", "wif", "lug", "zup")
FUNCTION_WORDS = ("fep", "blicket", "kiki")
COLOURS = ("RED", "GREEN", "BLUE", "YELLOW", "PURPLE", "PINK", "ORANGE", "BLACK")
# The meanings of the paper's few-shot task (its Figure 2), used here as one fixed assignment.
PAPER_ASSIGNMENT = {"dax": "RED", "wif": "GREEN", "lug": "BLUE", "zup": "YELLOW"}
NEXT, ASK = ";", "|"  # "dax RED ; ... | query": the study examples, then the query


def _check_assignment(assignment: Mapping[str, str]) -> None:
    if not isinstance(assignment, Mapping):
        raise TypeError(
            f"assignment must be a dict from primitive to colour, got {type(assignment).__name__}"
        )
    if set(assignment) != set(PRIMITIVES):
        raise ValueError(
            f"assignment must give a colour to each of {PRIMITIVES}, got keys {sorted(assignment)}"
        )
    bad = [c for c in assignment.values() if c not in COLOURS]
    if bad:
        raise ValueError(f"assignment maps to {bad[0]!r}, not one of COLOURS {COLOURS}")
    if len(set(assignment.values())) != len(PRIMITIVES):
        raise ValueError(
            f"assignment {dict(assignment)} gives two primitives the same colour; an assignment "
            "must be one-to-one (injective)"
        )


def _phrase(words: list[str], assignment: Mapping[str, str], command: str) -> list[str]:
    """The colours of a phrase ``u``, ``u fep`` or ``u1 blicket u2``."""
    prims = [w for i, w in enumerate(words) if i != 1]
    if len(words) == 1 and words[0] in PRIMITIVES:
        return [assignment[words[0]]]
    if len(words) == 2 and words[1] == "fep" and words[0] in PRIMITIVES:
        return [assignment[words[0]]] * 3
    if len(words) == 3 and words[1] == "blicket" and all(w in PRIMITIVES for w in prims):
        first, second = assignment[words[0]], assignment[words[2]]
        return [first, second, first]
    shown = " ".join(words) if words else "(nothing)"
    raise ValueError(
        f"{shown!r} in {command!r} is not a phrase of the grammar: a phrase is 'u', 'u fep' or "
        f"'u1 blicket u2' with u one of {PRIMITIVES}; 'kiki' joins phrases"
    )


def interpret(command: str, assignment: Mapping[str, str]) -> str:
    """The meaning of ``command`` under ``assignment``: colours separated by spaces.

    >>> interpret("dax fep kiki lug blicket wif", PAPER_ASSIGNMENT)
    'BLUE GREEN BLUE RED RED RED'

    Raises:
        ValueError: if a word is not in the grammar, a phrase is malformed (``"fep dax"``,
            ``"dax kiki"``), or ``assignment`` is not a one-to-one map from every primitive
            to a colour.
    """
    _check_assignment(assignment)
    if not isinstance(command, str):
        raise TypeError(f"command must be a str, got {type(command).__name__}")
    words = command.split()
    unknown = [w for w in words if w not in PRIMITIVES + FUNCTION_WORDS]
    if unknown:
        raise ValueError(
            f"{unknown[0]!r} in {command!r} is not a word of the grammar "
            f"({PRIMITIVES + FUNCTION_WORDS})"
        )
    phrases, current = [], []
    for w in words:
        if w == "kiki":
            phrases.append(current)
            current = []
        else:
            current.append(w)
    phrases.append(current)
    out = [c for p in reversed(phrases) for c in _phrase(p, assignment, command)]
    return " ".join(out)


def all_assignments(
    excluded_pairs: Iterable[tuple[str, str]] = (), required_pairs: Iterable[tuple[str, str]] = ()
) -> list[dict[str, str]]:
    """Every one-to-one assignment of :data:`COLOURS` to :data:`PRIMITIVES` (8 * 7 * 6 * 5 =
    1,680), keeping those with none of ``excluded_pairs`` and, if ``required_pairs`` is given,
    at least one of them. Pairs are ``(primitive, colour)``."""
    excluded, required = set(excluded_pairs), set(required_pairs)
    out = []
    for colours in itertools.permutations(COLOURS, len(PRIMITIVES)):
        pairs = set(zip(PRIMITIVES, colours, strict=True))
        if pairs & excluded or (required and not pairs & required):
            continue
        out.append(dict(zip(PRIMITIVES, colours, strict=True)))
    return out


def random_command(rng: random.Random, primitives: Sequence[str], max_phrases: int = 2) -> str:
    """A composed command over ``primitives`` (never a primitive alone): one or more phrases
    joined by ``kiki``, each ``u``, ``u fep`` or ``u1 blicket u2``."""
    n = rng.randint(1, max_phrases)
    phrases = []
    for _ in range(n):
        kind = rng.choice(("u", "fep", "blicket") if n > 1 else ("fep", "blicket"))
        u = rng.choice(primitives)
        phrases.append(
            {"u": u, "fep": f"{u} fep", "blicket": f"{u} blicket {rng.choice(primitives)}"}[kind]
        )
    return " kiki ".join(phrases)


@dataclass(frozen=True)
class Episode:
    """One episode: an assignment, its study examples, a query and the query's meaning.

    Attributes:
        assignment: primitive -> colour, one-to-one.
        study: ``(command, meaning)`` pairs, in the order shown.
        query: a composed command that uses ``focus``.
        answer: ``interpret(query, assignment)``.
        focus: the primitive the study examples show only alone.
    """

    assignment: dict[str, str]
    study: tuple[tuple[str, str], ...]
    query: str
    answer: str
    focus: str

    @property
    def source(self) -> str:
        """What the model reads: ``"dax RED ; lug fep BLUE BLUE BLUE ; ... | query"`` (each study
        command followed by its meaning: the words and the colours never overlap)."""
        shown = f" {NEXT} ".join(f"{c} {m}" for c, m in self.study)
        return f"{shown} {ASK} {self.query}"

    @property
    def pair(self) -> tuple[str, str]:
        """``(source, answer)``, a training pair for :func:`companion.seq2seq.train_seq2seq`."""
        return self.source, self.answer


def make_episode(
    assignment: Mapping[str, str],
    rng: random.Random,
    focus: str | None = None,
    hidden: Sequence[str] = (),
    n_composed: int = 3,
    max_phrases: int = 2,
    shuffle: bool = True,
) -> Episode:
    """Draw one episode under ``assignment`` with ``rng``.

    Study examples: every primitive alone, and ``n_composed`` distinct composed commands over
    two primitives chosen from those that are neither ``focus`` nor ``hidden`` (the first three
    use fep, blicket and kiki, so each function word is shown); shuffled if ``shuffle``, else the
    primitives first, in the order of :data:`PRIMITIVES`. Query: a composed command (at most
    ``max_phrases`` phrases) that uses ``focus`` (random if None), never a ``hidden`` primitive,
    and is not a study command.

    Raises:
        ValueError: if ``focus`` or a ``hidden`` word is not a primitive, ``focus`` is hidden,
            fewer than two primitives are left for the composed study examples, or the
            assignment is invalid.
    """
    _check_assignment(assignment)
    hidden = tuple(hidden)
    for name, words in (("hidden", hidden), ("focus", () if focus is None else (focus,))):
        bad = [w for w in words if w not in PRIMITIVES]
        if bad:
            raise ValueError(f"{name} word {bad[0]!r} is not one of PRIMITIVES {PRIMITIVES}")
    if focus is None:
        focus = rng.choice([u for u in PRIMITIVES if u not in hidden])
    if focus in hidden:
        raise ValueError(f"focus={focus!r} is hidden={hidden}: the query must be able to use it")
    others = [u for u in PRIMITIVES if u != focus and u not in hidden]
    if len(others) < 2:
        raise ValueError(
            f"focus={focus!r} and hidden={hidden} leave {others}: the composed study examples "
            "need two primitives"
        )
    shown = rng.sample(others, 2)
    commands: list[str] = []
    kinds = ["fep", "blicket", "kiki"] + [None] * max(0, n_composed - 3)
    while len(commands) < n_composed:
        kind = kinds[len(commands)]
        u, v = rng.choice(shown), rng.choice(shown)
        c = {
            "fep": f"{u} fep",
            "blicket": f"{u} blicket {v}",
            "kiki": f"{u} kiki {v}",
            None: random_command(rng, shown, max_phrases),
        }[kind]
        if c not in commands:
            commands.append(c)
    study = [(u, assignment[u]) for u in PRIMITIVES]  # every primitive alone, then the composed
    study += [(c, interpret(c, assignment)) for c in commands]
    if shuffle:
        rng.shuffle(study)
    allowed = [u for u in PRIMITIVES if u not in hidden]
    while True:
        query = random_command(rng, allowed, max_phrases)
        if focus in query.split() and query not in commands:
            break
    return Episode(dict(assignment), tuple(study), query, interpret(query, assignment), focus)


def mlc_tokenizers() -> tuple[WordTokenizer, WordTokenizer]:
    """Word tokenizers with PAD, BOS, EOS: the source (primitives, function words, colours and
    ``; |``: 17 words) and the target (the 8 colours)."""
    src = WordTokenizer(
        (*PRIMITIVES, *FUNCTION_WORDS, *COLOURS, NEXT, ASK), SPECIALS, "the MLC source"
    )
    return src, WordTokenizer(COLOURS, SPECIALS, "the colours")


def focus_attention(
    cross: Tensor, episodes: Sequence[Episode], keep: Callable[[int], bool] | None = None
) -> Tensor:
    """The share of cross-attention on the focus colour's study example, at each output that
    writes the focus colour.

    ``cross`` is ``(batch, n_heads, tgt_len, src_len)``, the weights of one decoder layer under
    teacher forcing (row ``t`` produces target ``t``), for ``episodes`` encoded in order.
    The focus primitive's colour occurs exactly once in the source, in the study example
    ``"focus COLOUR"``; for each head, the result averages the weight on that token over
    every output position whose target is that colour (and episode ``i`` with ``keep(i)``).
    Returns ``(n_heads,)``.

    Raises:
        ValueError: if ``cross`` does not have one row of weights per episode.
    """
    if cross.ndim != 4 or cross.shape[0] != len(episodes):
        raise ValueError(
            f"cross must be (batch, n_heads, tgt_len, src_len) with batch = len(episodes) = "
            f"{len(episodes)}, got shape {tuple(cross.shape)}"
        )
    shares = []
    for i, ep in enumerate(episodes):
        if keep is not None and not keep(i):
            continue
        colour = ep.assignment[ep.focus]
        position = ep.source.split().index(colour)  # the one place the colour occurs
        for t, c in enumerate(ep.answer.split()):
            if c == colour:
                shares.append(cross[i, :, t, position])
    if not shares:
        raise ValueError("no output writes a focus colour: pass episodes (and keep) with some")
    return torch.stack(shares).mean(0)
