"""The checker of chapter 62 (companion.course.exercises.learning_to_compose): the notebook's
solution and a right answer written differently get full marks; plausible mistakes are rejected,
on the public cases and on the grader's hidden ones. The shared contract is tests/test_course.py."""

from __future__ import annotations

import pytest

from companion.course.core import hidden_cases
from companion.course.exercises.learning_to_compose import check_interpret_episode
from companion.mlc import PAPER_ASSIGNMENT


def my_interpret(command, assignment):
    """The notebook's solution: split on kiki, reverse, read each phrase."""
    out = []
    for phrase in reversed(command.split(" kiki ")):
        words = phrase.split()
        if len(words) == 1:
            out += [assignment[words[0]]]
        elif words[1] == "fep":
            out += [assignment[words[0]]] * 3
        else:  # u1 blicket u2
            out += [assignment[words[0]], assignment[words[2]], assignment[words[0]]]
    return " ".join(out)


def recursive_interpret(command, assignment):
    """Right, written another way: the paper's rewrite rules, applied recursively."""
    words = command.split()
    if "kiki" in words:  # x1 kiki x2 -> [x2] [x1], split at the first kiki
        i = words.index("kiki")
        first, rest = " ".join(words[:i]), " ".join(words[i + 1 :])
        return f"{recursive_interpret(rest, assignment)} {recursive_interpret(first, assignment)}"
    if words[-1] == "fep":
        return " ".join([recursive_interpret(words[0], assignment)] * 3)
    if len(words) == 3:
        u1, u2 = (recursive_interpret(w, assignment) for w in (words[0], words[2]))
        return f"{u1} {u2} {u1}"
    return assignment[words[0]]


def make_wrong(kiki_reverses=True, fep=3, blicket="aba", kiki_binds_last=True, fixed=False):
    def interpret(command, assignment):
        meaning = PAPER_ASSIGNMENT if fixed else assignment
        if not kiki_binds_last and command.split()[-1] == "fep":
            # fep read as applying to everything before it, kiki included
            inner = interpret(command.rsplit(" ", 1)[0], assignment)
            return " ".join([inner] * 3)
        phrases = command.split(" kiki ")
        out = []
        for phrase in reversed(phrases) if kiki_reverses else phrases:
            words = phrase.split()
            if len(words) == 1:
                out += [meaning[words[0]]]
            elif words[1] == "fep":
                out += [meaning[words[0]]] * fep
            else:
                a, b = meaning[words[0]], meaning[words[2]]
                out += {"aba": [a, b, a], "aab": [a, a, b], "bab": [b, a, b]}[blicket]
        return " ".join(out)

    return interpret


WRONG = {
    "kiki keeps the order": make_wrong(kiki_reverses=False),
    "fep repeats twice": make_wrong(fep=2),
    "blicket as u1 u1 u2": make_wrong(blicket="aab"),
    "blicket as u2 u1 u2": make_wrong(blicket="bab"),
    "fep binds looser than kiki": make_wrong(kiki_binds_last=False),
    "the paper's fixed colours, whatever the assignment": make_wrong(fixed=True),
}


@pytest.mark.parametrize("fn", [my_interpret, recursive_interpret, make_wrong()])
@pytest.mark.parametrize("seed", [None, 7])
def test_right_interprets_pass(fn, seed):
    with hidden_cases(seed):
        score = check_interpret_episode(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize("name", WRONG)
@pytest.mark.parametrize("seed", [None, 7])
def test_wrong_interprets_fail(name, seed):
    with hidden_cases(seed):
        score = check_interpret_episode(WRONG[name], verbose=False)
    assert score.passed < score.total, name


REFERENCES = {"ex-learning-to-compose-interpret": (my_interpret,)}
OTHER_RIGHT_ANSWERS = [("ex-learning-to-compose-interpret", (recursive_interpret,))]
