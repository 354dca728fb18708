"""Exercises of the chapter "Learning to compose" (notebooks/62_learning_to_compose)."""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.mlc import PAPER_ASSIGNMENT, all_assignments, interpret, random_command

CHAPTER = Chapter(62, "learning_to_compose")  # notebooks/62_learning_to_compose.ipynb

OTHER = {"dax": "PINK", "wif": "RED", "lug": "BLACK", "zup": "GREEN"}
# One command per rule, under the paper's meanings and under another assignment.
HAND_WORKED = [
    ("wif", PAPER_ASSIGNMENT),
    ("lug fep", PAPER_ASSIGNMENT),
    ("dax blicket zup", PAPER_ASSIGNMENT),
    ("lug kiki wif", PAPER_ASSIGNMENT),
    ("dax fep kiki lug", PAPER_ASSIGNMENT),
    ("zup blicket wif kiki dax fep", OTHER),
    ("wif kiki lug blicket dax kiki zup fep", OTHER),
]


def _random_cases(g: torch.Generator, n: int) -> list[tuple[str, dict[str, str]]]:
    """``n`` random (command, assignment) pairs, up to three phrases, drawn by ``g``."""
    rng = random.Random(int(torch.randint(2**31 - 1, (1,), generator=g)))
    pool = all_assignments()
    return [(random_command(rng, list(a), 3), a) for a in (rng.choice(pool) for _ in range(n))]


@CHAPTER.exercise(
    "ex-learning-to-compose-interpret",
    title="Write the episode grammar's meaning function",
    difficulty="medium",
    names=("my_interpret",),
    references=("companion.mlc.interpret",),
)
def check_interpret_episode(fn: Callable[[str, dict], str], *, verbose: bool = True) -> Score:
    """ex-learning-to-compose-interpret: ``interpret(command, assignment) -> colours`` for the
    grammar of chapter 62: ``u`` (its colour under ``assignment``), ``u fep`` (u u u),
    ``u1 blicket u2`` (u1 u2 u1) and ``x1 kiki x2`` (x2 x1, joining whole phrases); the colours
    are one space-separated string (``"BLUE RED RED RED"``)."""

    def case(items: list[tuple[str, dict[str, str]]]):
        def run():
            for command, assignment in items:
                got = fn(command, dict(assignment))
                if not isinstance(got, str):
                    return f"returned a {type(got).__name__} for {command!r}, not a str"
                if got != interpret(command, assignment):
                    return (
                        f"wrong colours for {command!r} (under the case's assignment): got {got!r}"
                    )
            return None

        return run

    cases: list[Case] = [(f"{c!r}", case([(c, a)])) for c, a in HAND_WORKED]
    cases.append(
        ("200 random commands and assignments", case(_random_cases(case_generator(1), 200)))
    )
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        cases.append(("300 hidden commands", case(_random_cases(g, 300))))
    return run_cases("ex-learning-to-compose-interpret", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise(
    "ex-learning-to-compose-by-hand", title="An episode by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-learning-to-compose-predict",
    title="Predict, then measure: fewer training assignments",
    difficulty="medium",
)
