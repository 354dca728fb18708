"""Exercises of the chapter "Systematicity and SCAN" (notebooks/60_systematicity)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.data.scan import add_primitive_split, commands, interpret

CHAPTER = Chapter(60, "systematicity")  # notebooks/60_systematicity.ipynb

# The grammar of the interpret exercise: every rule but "after" (S and S, or S alone).
HAND_WORKED = [
    "walk",
    "turn left",
    "look right twice",
    "run opposite left",
    "turn opposite right thrice",
    "jump around left",
    "turn around right twice",
    "walk left and look",
    "jump around right thrice and turn opposite left twice",
]


def _subset() -> list[str]:
    """The commands of the exercise's grammar: every command without "after" (10,506)."""
    return [c for c in commands() if "after" not in c.split()]


def _sample(items: list, n: int, g: torch.Generator) -> list:
    """``n`` items drawn without replacement by ``g``, in their original order."""
    index = torch.randperm(len(items), generator=g)[:n].sort().values
    return [items[i] for i in index.tolist()]


@CHAPTER.exercise(
    "ex-systematicity-interpret",
    title="Write SCAN's meaning function",
    difficulty="medium",
    names=("my_interpret",),
    references=("companion.data.scan.interpret",),
)
def check_interpret(fn: Callable[[str], str], *, verbose: bool = True) -> Score:
    """ex-systematicity-interpret: ``interpret(command) -> actions`` for SCAN without "after": a
    command is ``S`` or ``S and S``; the actions are space-separated (``"I_TURN_LEFT I_JUMP"``)."""

    def case(commands_: list[str]):
        def run():
            for command in commands_:
                got = fn(command)
                if not isinstance(got, str):
                    return f"returned a {type(got).__name__} for {command!r}, not a str"
                if got != interpret(command):
                    return f"wrong actions for {command!r}: got {got!r}"
            return None

        return run

    cases: list[Case] = [(f"{c!r}", case([c])) for c in HAND_WORKED]
    cases.append(("200 random commands", case(_sample(_subset(), 200, case_generator(1)))))
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        cases.append(("300 hidden commands", case(_sample(_subset(), 300, g))))
    return run_cases("ex-systematicity-interpret", cases, verbose)


@CHAPTER.exercise(
    "ex-systematicity-add-primitive",
    title="Build the add-primitive split",
    difficulty="easy",
    names=("my_add_primitive_split",),
    references=("companion.data.scan.add_primitive_split",),
)
def check_add_primitive_split(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-systematicity-add-primitive: ``add_primitive_split(pairs, primitive) -> (train, test)``,
    lists of the ``(command, actions)`` pairs in their order: test holds every command that uses
    ``primitive`` (a word or a phrase such as ``"turn left"``) with other words, train the rest,
    ``primitive`` alone included."""
    pairs = [(c, interpret(c)) for c in commands()]

    def case(subset: list[tuple[str, str]], primitive: str):
        want_train, want_test = add_primitive_split(subset, primitive)

        def run():
            got = fn(list(subset), primitive)
            if not isinstance(got, tuple) or len(got) != 2:
                return f"returned {type(got).__name__}, not a (train, test) tuple"
            train, test = (list(part) for part in got)
            if (len(train), len(test)) != (len(want_train), len(want_test)):
                return (
                    f"sizes (train, test) = ({len(train):,}, {len(test):,}), not the expected ones"
                )
            if train != want_train or test != want_test:
                return "the right sizes, but different pairs (or another order) in train or test"
            return None

        return run

    specs = [
        ("all 20,910 commands, 'jump'", pairs, "jump"),
        ("all commands, the phrase 'turn left'", pairs, "turn left"),
        ("3,000 random commands, 'walk'", _sample(pairs, 3000, case_generator(2)), "walk"),
        ("'look' not in the pairs at all", [q for q in pairs if "look" not in q[0]][:500], "look"),
    ]
    if (g := hidden_generator()) is not None:
        primitive = ["run", "turn right", "look", "walk"][int(torch.randint(4, (1,), generator=g))]
        specs.append((f"hidden: 4,000 commands, {primitive!r}", _sample(pairs, 4000, g), primitive))
    cases: list[Case] = [(what, case(subset, primitive)) for what, subset, primitive in specs]
    return run_cases("ex-systematicity-add-primitive", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise(
    "ex-systematicity-by-hand", title="Meanings and counts by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-systematicity-predict",
    title="Predict, then measure: the turn-left split",
    difficulty="medium",
)
